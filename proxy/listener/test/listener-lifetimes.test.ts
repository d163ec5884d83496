// Connection lifetimes the listener decides with real sockets: a config change
// that removes a filter chain closes that chain's open connections after the
// drain period (as Envoy drains removed chains) — a mesh switched from
// PERMISSIVE to STRICT must not keep serving a plaintext connection opened
// before — while a connection on a chain the new config keeps stays; and a
// client slow to send its first bytes is not closed at the detection timeout
// when no chain would take it as opaque TCP.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FilterChain, Listener } from '../../config/resources.js';
import { ClusterManager } from '../../upstream/cluster-manager.js';
import { TlsStore } from '../../tls/tls-store.js';
import { ListenerRuntime } from '../listener.js';
import { applyClusters, chainDeps, staticCluster } from './fixtures.js';

const clusters = new ClusterManager(new TlsStore());
const deps = chainDeps(clusters);

let upstream: net.Server;
let listener: ListenerRuntime | undefined;

const tcpChain = (name: string, port?: number): FilterChain => ({
  name,
  ...(port !== undefined ? { filterChainMatch: { destinationPort: port } } : {}),
  filter: { kind: 'tcp', statPrefix: name, cluster: 'echo', idleTimeout: 60_000 },
});
const listenerWith = (chains: FilterChain[]): Listener => ({
  name: 'inbound',
  address: { address: '127.0.0.1', port: 0 },
  trafficDirection: 'INBOUND',
  filterChains: chains,
  protocolDetectionTimeout: 100,
});

beforeAll(async () => {
  // A long-lived echo: every chunk comes back, the connection stays open.
  upstream = net.createServer((c) => c.on('data', (d) => c.write(d)).on('error', () => {}));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  applyClusters(clusters, [staticCluster('echo', (upstream.address() as net.AddressInfo).port)]);
});

afterAll(async () => {
  listener?.destroy();
  await listener?.stopAccepting();
  await clusters.close(false);
  await new Promise<void>((r) => upstream.close(() => r()));
});

/** A client connection through the listener that has round-tripped one message. */
async function openEchoed(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});
  socket.write('hello');
  const got = await new Promise<string>((r) => socket.once('data', (d) => r(d.toString())));
  expect(got).toBe('hello');
  return { socket, closed };
}

describe('filter chains removed by a config change', () => {
  it("close their open connections after the drain period; a kept chain's connection stays", async () => {
    // Two chains by destination port: the listener's own port is the connection's destination here.
    listener = new ListenerRuntime(listenerWith([tcpChain('plain')]), deps, 150);
    const port = await listener.listen();
    const doomed = await openEchoed(port);
    listener.update(listenerWith([tcpChain('kept', port)]), deps);
    const kept = await openEchoed(port);
    // The connection on the removed chain is closed once the drain period is over…
    await doomed.closed;
    expect(doomed.socket.destroyed).toBe(true);
    // …while the one on the chain the config keeps (same name) still echoes after another update.
    listener.update(listenerWith([tcpChain('kept', port)]), deps);
    await new Promise((r) => setTimeout(r, 300));
    kept.socket.write('still');
    expect(await new Promise<string>((r) => kept.socket.once('data', (d) => r(d.toString())))).toBe('still');
    kept.socket.destroy();
  }, 10_000);
});

describe('filter chains without names', () => {
  it('are told apart by their order across updates: each keeps its config, and their connections stay', async () => {
    // The catch-all chain goes to a cluster that does not exist: only the chain naming the port echoes.
    const unnamed = (port?: number): FilterChain => {
      const c = tcpChain('', port);
      return port === undefined ? { ...c, filter: { kind: 'tcp', statPrefix: 'none', cluster: 'missing', idleTimeout: 60_000 } } : c;
    };
    const l = new ListenerRuntime(listenerWith([unnamed()]), deps, 150);
    const port = await l.listen();
    // Two unnamed chains now: each keeps its own config (before, both took the last one's).
    l.update(listenerWith([unnamed(port), unnamed()]), deps);
    try {
      const c = await openEchoed(port);
      l.update(listenerWith([unnamed(port), unnamed()]), deps);
      await new Promise((r) => setTimeout(r, 300));
      c.socket.write('again');
      expect(await new Promise<string>((r) => c.socket.once('data', (d) => r(d.toString())))).toBe('again');
      c.socket.destroy();
    } finally {
      l.destroy();
      await l.stopAccepting();
    }
  }, 10_000);
});

describe('protocol detection on a listener without an opaque-TCP chain', () => {
  it('waits past the detection timeout for a client that speaks late, instead of closing it', async () => {
    // The only chain wants detected HTTP/1.1 (as an mTLS-only inbound wants TLS): a TCP verdict fits nothing.
    const httpOnly: FilterChain = { ...tcpChain('http-only'), filterChainMatch: { applicationProtocols: ['http/1.1'] } };
    const l = new ListenerRuntime({ ...listenerWith([httpOnly]), protocolDetectionTimeout: 20 }, deps);
    const port = await l.listen();
    try {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
      // Silent for many detection timeouts (a client whose event loop is busy), then speaks.
      await new Promise((r) => setTimeout(r, 300));
      expect(socket.destroyed).toBe(false);
      const head = 'GET / HTTP/1.1\r\nhost: x\r\n\r\n';
      socket.write(head);
      expect(await new Promise<string>((r) => socket.once('data', (d) => r(d.toString())))).toBe(head);
      socket.destroy();
    } finally {
      l.destroy();
      await l.stopAccepting();
    }
  }, 10_000);
});


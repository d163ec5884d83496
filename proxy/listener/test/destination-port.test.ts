// Filter-chain selection by destination_port, with real sockets: a listener
// on port 0 learns its port, then gets chains naming it (the connection's
// local port; on useOriginalDst listeners the original destination's, which
// the root-only netns test covers). Two TCP echo upstreams tell which chain won;
// the client speaks first, so its bytes go through detection and must survive
// until the TCP proxy has its upstream.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FilterChain, Listener } from '../../config/resources.js';
import { ClusterManager } from '../../upstream/cluster-manager.js';
import { TlsStore } from '../../tls/tls-store.js';
import { ListenerRuntime } from '../listener.js';
import { applyClusters, chainDeps, staticCluster } from './fixtures.js';

const upstreams: net.Server[] = [];
const clusters = new ClusterManager(new TlsStore());
const deps = chainDeps(clusters);
let listener: ListenerRuntime | undefined;

beforeAll(async () => {
  const ports: number[] = [];
  for (const name of ['app-a', 'app-b']) {
    const s = net.createServer((c) => c.once('data', (d) => c.end(`${name}:${d}`)));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    upstreams.push(s);
    ports.push((s.address() as net.AddressInfo).port);
  }
  applyClusters(clusters, [staticCluster('a', ports[0]!), staticCluster('b', ports[1]!)]);
});

afterAll(async () => {
  listener?.destroy();
  await listener?.stopAccepting();
  await clusters.close(false);
  for (const s of upstreams) await new Promise((r) => s.close(r));
});

const tcp = (name: string, cluster: string, destinationPort?: number): FilterChain => ({
  name,
  filterChainMatch: { transportProtocol: 'raw_buffer', ...(destinationPort !== undefined ? { destinationPort } : {}) },
  filter: { kind: 'tcp', statPrefix: name, cluster, idleTimeout: 60_000 },
});
const config = (chains: FilterChain[]): Listener => ({
  name: 'inbound',
  address: { address: '127.0.0.1', port: 0 },
  trafficDirection: 'INBOUND',
  filterChains: chains,
  protocolDetectionTimeout: 50,
});

function call(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('hi'));
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('close', () => resolve(out));
    c.on('error', reject);
  });
}

describe('filter chain match on destination_port (Envoy precedence)', () => {
  it('a chain naming the port wins over an earlier port-less one; other ports fall back to the port-less chains', async () => {
    listener = new ListenerRuntime(config([tcp('any', 'b')]), deps);
    const port = await listener.listen();
    expect(await call(port)).toBe('app-b:hi');
    listener.update(config([tcp('any', 'b'), tcp(`port-${port}`, 'a', port)]), deps);
    expect(await call(port)).toBe('app-a:hi');
    // A chain for another port is not a candidate: the port-less one takes the connection.
    listener.update(config([tcp('other-port', 'a', port === 65535 ? 65534 : port + 1), tcp('any', 'b')]), deps);
    expect(await call(port)).toBe('app-b:hi');
    // Only chains for other ports: nothing matches, and an INBOUND listener closes the connection.
    listener.update(config([tcp('other-port', 'a', port === 65535 ? 65534 : port + 1)]), deps);
    expect(await call(port)).toBe('');
  });
});

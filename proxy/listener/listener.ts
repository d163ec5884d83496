// A bound listener: accepts connections, detects the protocol from the first
// bytes within the listener's detection timeout, picks the first filter
// chain whose match fits, and hands the socket to that chain.

import net, { type Socket } from 'node:net';
import type { FilterChain, FilterChainMatch, Listener } from '../config/resources.js';
import { ChainRuntime, type ChainDeps } from './chain-runtime.js';
import { detect, TCP, type Detected } from './detect.js';
import { assertOriginalDstSupported, originalDstOf, recordOriginalDst } from './original-dst.js';
import { blackHole, PASSTHROUGH_CLUSTER, passThrough, type PassthroughDeps } from '../upstream/passthrough.js';
import { PrefixRanges } from './prefix-ranges.js';

/** Stands for the passthrough when asking the sidecar for chain dependencies (telemetry, direction). */
const PASSTHROUGH_CHAIN: FilterChain = { name: PASSTHROUGH_CLUSTER, filter: { kind: 'tcp', statPrefix: PASSTHROUGH_CLUSTER, cluster: PASSTHROUGH_CLUSTER, idleTimeout: 0 } };

const MAX_PEEK = 64 * 1024;

/** How long connections of a chain a config change removed may finish before they are closed (Istio's
 * terminationDrainDuration default; Envoy drains removed filter chains the same way). */
export const RETIRED_CHAIN_DRAIN_MS = 5_000;

/** Envoy's listener_filters_timeout default: the longest a connection may stay silent while its protocol is
 * detected, when no chain would take it as opaque TCP. */
export const DETECTION_HARD_TIMEOUT_MS = 15_000;

export class ListenerRuntime {
  private readonly server: net.Server;
  private chains: ChainRuntime[] = [];
  /** Open connections and the chain each was handed to (null while detecting, or passed through). */
  private readonly sockets = new Map<Socket, ChainRuntime | null>();
  /** Listener with one plain HTTP/1-only or TCP chain: no detection needed (saves a peek per connection). */
  private direct: ChainRuntime | undefined;
  private passthrough: PassthroughDeps | undefined;
  /** REGISTRY_ONLY on the listener's HTTP chains: connections no chain claims are closed, not passed through. */
  private registryOnly = false;
  /** Some chain (or the passthrough) takes a connection that sent nothing within the detection timeout. */
  private tcpVerdictTaken = true;
  /** The destination ports some chain matches on (undefined: none does). */
  private ports: ReadonlySet<number> | undefined;
  /** Per chain (same index), its compiled prefix_ranges; undefined when no chain has any. */
  private prefixes: (PrefixRanges | undefined)[] | undefined;

  constructor(
    public config: Listener,
    deps: (fc: FilterChain) => ChainDeps,
    private readonly retiredChainDrainMs = RETIRED_CHAIN_DRAIN_MS,
  ) {
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (s) => this.onConnection(s));
    this.server.on('error', () => {});
    this.update(config, deps);
  }

  listen(): Promise<number> {
    if (this.config.useOriginalDst) assertOriginalDstSupported();
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen({ host: this.config.address.address, port: this.config.address.port }, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo | null)?.port ?? 0;
  }

  /** Applies a new config for the same address; chains with the same name keep their servers. */
  update(config: Listener, deps: (fc: FilterChain) => ChainDeps): void {
    this.config = config;
    // Connections no chain claims are logged where the chains' own logs go (MeshConfig puts the same sinks
    // on every chain, as Istio does on its PassthroughCluster and BlackHoleCluster chains).
    const accessLogs = config.filterChains.find((fc) => fc.filter.accessLog !== undefined)?.filter.accessLog;
    this.passthrough = config.useOriginalDst && config.trafficDirection !== 'INBOUND' ? { ...deps(PASSTHROUGH_CHAIN), ...(accessLogs ? { accessLogs } : {}) } : undefined;
    this.registryOnly = config.filterChains.some((fc) => fc.filter.kind === 'http' && fc.filter.outboundTrafficPolicy === 'REGISTRY_ONLY');
    // A chain is the same chain by name; unnamed chains (allowed in a bootstrap) by their order among the unnamed.
    const named = new Map<string, ChainRuntime>();
    const unnamed: ChainRuntime[] = [];
    for (const c of this.chains) c.fc.name ? named.set(c.fc.name, c) : unnamed.push(c);
    let nextUnnamed = 0;
    const retired = new Set(this.chains);
    this.chains = config.filterChains.map((fc) => {
      const prev = fc.name ? named.get(fc.name) : unnamed[nextUnnamed++];
      if (prev && retired.has(prev) && prev.compatible(fc)) {
        retired.delete(prev);
        prev.update(fc, deps(fc));
        return prev;
      }
      return new ChainRuntime(fc, deps(fc));
    });
    if (retired.size) this.retire(retired);
    const ports = new Set<number>();
    for (const c of this.chains) if (c.fc.filterChainMatch?.destinationPort !== undefined) ports.add(c.fc.filterChainMatch.destinationPort);
    this.ports = ports.size ? ports : undefined;
    const prefixes = this.chains.map((c) => (c.fc.filterChainMatch?.prefixRanges?.length ? new PrefixRanges(c.fc.filterChainMatch.prefixRanges) : undefined));
    this.prefixes = prefixes.some((p) => p !== undefined) ? prefixes : undefined;
    this.tcpVerdictTaken = this.passthrough !== undefined || this.chains.some((c) => c.fc.filter.kind === 'tcp' && matches(c.fc, TCP));
    const only = this.chains.length === 1 ? this.chains[0]! : undefined;
    const f = only?.fc;
    this.direct =
      f && !f.filterChainMatch && !f.transportSocket && (f.filter.kind === 'tcp' || f.filter.codecType === 'HTTP1') ? only : undefined;
  }

  refreshTls(): void {
    for (const c of this.chains) c.refreshTls();
  }

  /**
   * Connections on chains the new config no longer has (PERMISSIVE's plaintext chain once the mesh is
   * STRICT) must not live on: HTTP winds down at once (idle keep-alives closed, GOAWAY), and whatever is
   * still open after the drain period is closed.
   */
  private retire(chains: ReadonlySet<ChainRuntime>): void {
    for (const c of chains) c.drain();
    setTimeout(() => {
      for (const [s, c] of this.sockets) if (c && chains.has(c)) s.destroy();
      for (const c of chains) c.destroy();
    }, this.retiredChainDrainMs).unref();
  }

  private onConnection(socket: Socket): void {
    this.sockets.set(socket, null);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (this.config.useOriginalDst) recordOriginalDst(socket);
    if (this.direct) {
      const d = this.direct.fc.filter.kind === 'tcp' ? TCP : { ...TCP, applicationProtocols: ['http/1.1'], http: 'h1' as const };
      this.sockets.set(socket, this.direct);
      return this.direct.accept(socket, d);
    }
    let buf: Buffer | undefined;
    let settled = false;
    const decide = (d: Detected) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (buf) socket.unshift(buf);
      const chain = this.select(d, socket);
      if (!chain) {
        // useOriginalDst: outbound traffic no chain claims goes where the app was connecting (PassthroughCluster),
        // or nowhere under REGISTRY_ONLY (BlackHoleCluster); inbound stays closed, so a STRICT mTLS inbound
        // never passes plaintext through to the app.
        const dst = this.passthrough ? originalDstOf(socket) : undefined;
        if (this.passthrough && this.registryOnly) return blackHole(socket, dst, this.passthrough);
        return dst ? passThrough(socket, dst, this.passthrough) : void socket.destroy();
      }
      this.sockets.set(socket, chain);
      chain.accept(socket, d);
    };
    const onData = (chunk: Buffer) => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const d = detect(buf);
      if (d) decide(d);
      else if (buf.length >= MAX_PEEK) decide(TCP);
    };
    // The client closed before we could tell what it speaks: classify what arrived, or drop it.
    const onEnd = () => {
      if (buf) decide(detect(buf) ?? TCP);
      else {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
      }
    };
    // Server-speaks-first protocols send nothing: after the timeout the connection is opaque TCP.
    // The verdict waits one setImmediate: timers run before the poll phase, so after a busy stretch of
    // the event loop the timer would otherwise fire before the client's already-arrived bytes are read
    // (under load every mTLS connection was misread as TCP and closed).
    // When no chain takes opaque TCP (an mTLS-only inbound), the verdict could only close the connection:
    // wait for the first bytes instead, up to Envoy's listener filter timeout. A client whose event loop is
    // busy (a burst of handshakes on a shared core) may send its ClientHello after 100 ms; closing it then
    // failed requests as upstream connect failures.
    const timer = this.tcpVerdictTaken
      ? setTimeout(() => setImmediate(() => decide(TCP)), this.config.protocolDetectionTimeout)
      : setTimeout(() => {
          settled = true;
          socket.destroy();
        }, DETECTION_HARD_TIMEOUT_MS);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.resume();
  }

  /**
   * Envoy's order: destination_port first — when some chain names the connection's port (the original
   * destination's on a useOriginalDst listener), only those chains are candidates, else only chains
   * without a port — then prefix_ranges: among those, the chains whose range holds the destination IP
   * most specifically, else the chains without ranges — then the remaining criteria, first match wins.
   */
  private select(d: Detected, socket: Socket): ChainRuntime | undefined {
    let port = -1;
    const ports = this.ports;
    if (ports !== undefined) {
      port = originalDstOf(socket)?.port ?? socket.localPort ?? -1;
      if (!ports.has(port)) port = -1;
    }
    const chains = this.chains;
    const prefixes = this.prefixes;
    let best = -1;
    if (prefixes !== undefined) {
      const ip = originalDstOf(socket)?.address ?? socket.localAddress ?? '';
      const lens = chains.map((c, i) => (samePort(c, port) && prefixes[i] ? prefixes[i].longestMatch(ip) : -1));
      best = Math.max(-1, ...lens);
      for (let i = 0; i < chains.length; i++) {
        const c = chains[i]!;
        if (samePort(c, port) && (best < 0 ? prefixes[i] === undefined : lens[i] === best) && matches(c.fc, d)) return c;
      }
      return undefined;
    }
    for (const c of chains) if (samePort(c, port) && matches(c.fc, d)) return c;
    return undefined;
  }

  /** Stop accepting; open connections stay (net.Server.close's callback would wait for them). */
  stopAccepting(): Promise<void> {
    if (this.server.listening) this.server.close();
    return Promise.resolve();
  }

  /** Ask open connections to wind down (idle keep-alives closed, GOAWAY on HTTP/2). */
  drain(): void {
    for (const c of this.chains) c.drain();
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  destroy(): void {
    for (const c of this.chains) c.destroy();
    for (const s of this.sockets.keys()) s.destroy();
  }
}

function samePort(c: ChainRuntime, port: number): boolean {
  const p = c.fc.filterChainMatch?.destinationPort;
  return (p === undefined ? -1 : p) === port;
}

function matches(fc: FilterChain, d: Detected): boolean {
  const m: FilterChainMatch | undefined = fc.filterChainMatch;
  // A TLS chain only takes TLS connections, a plaintext chain only plaintext ones.
  if (!!fc.transportSocket !== (d.transportProtocol === 'tls') && m?.transportProtocol === undefined) return false;
  if (!m) return true;
  if (m.transportProtocol !== undefined && m.transportProtocol !== d.transportProtocol) return false;
  if (m.applicationProtocols?.length && !m.applicationProtocols.some((p) => d.applicationProtocols.includes(p))) return false;
  if (m.serverNames?.length) {
    const sni = d.serverName;
    if (!sni) return false;
    if (!m.serverNames.some((n) => n === sni || (n.startsWith('*.') && sni.endsWith(n.slice(1))))) return false;
  }
  return true;
}

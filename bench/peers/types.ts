// What a benchmarked configuration is: something the harness can start on
// loopback, send HTTP to, measure the CPU and memory of, and stop.
import type { Tools } from './install.js';

export interface CertPaths {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** cert + key in one PEM, as HAProxy wants them. */
  serverPem: string;
  clientCert: string;
  clientKey: string;
  clientPem: string;
  serverName: string;
  serverSpiffeId: string;
  clientSpiffeId: string;
}

export interface BenchEnv {
  repoRoot: string;
  /** Temp dir for generated configs and logs. */
  dir: string;
  tools: Tools;
  /** The core proxies are pinned to; the load generator and upstream use clientCore. */
  proxyCore: number;
  clientCore: number;
  upstreamPort: number;
  /** Processes of the upstream (direct's CPU figure is the upstream's own). */
  upstreamPids: number[];
  /** The upstream's h2c port, when it has one (direct HTTP/2 baseline). */
  upstreamH2Port?: number;
  /** The gRPC upstream (grpc-upstream-server.ts, h2c) of the gRPC paths, when started. */
  grpcUpstreamPort?: number;
  grpcUpstreamPids?: number[];
  certs?: CertPaths;
  /** Extra node flags for tsmesh sidecars (profiling: --cpu-prof). */
  proxyNodeArgs?: string[];
}

export interface RunningTarget {
  /** HTTP/1.1 entry port. */
  port: number;
  /** HTTP/2 cleartext (prior knowledge) entry port when the path supports it. */
  h2Port?: number;
  /** Root pids of the proxy processes on the path (empty for direct). */
  proxyPids: number[];
  stop(): Promise<void>;
}

export interface ConfigDef {
  id: string;
  label: string;
  proxy: 'none' | 'tsmesh' | 'nginx' | 'haproxy' | 'node';
  hops: 0 | 1 | 2;
  mtls: boolean;
  policies: boolean;
  /** 'grpc': a unary gRPC path whose entry port speaks h2c (measured only with protocol grpc); default HTTP. */
  protocol?: 'http' | 'grpc';
  /** Why this configuration cannot run here, or null when it can. */
  unavailable(env: BenchEnv): string | null;
  start(env: BenchEnv): Promise<RunningTarget>;
}

/** The Host (HTTP/2 :authority) every load generator sends: the mesh path routes by it (service `upstream`, namespace `bench`); static paths match any host. */
export const BENCH_HOST = 'upstream.bench';

export const BODY_BYTES = 1024;
export const RESPONSE_BODY = 'x'.repeat(BODY_BYTES);

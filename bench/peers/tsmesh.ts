// tsmesh's sidecar (dist/proxy/main.js, `mesh-proxy --config <bootstrap>`) on
// the measured paths. Each sidecar gets a generated bootstrap file (the format
// of proxy/config/bootstrap.ts): a listener with an inline route to one STATIC
// cluster. Two hops: the client sidecar's OUTBOUND listener → the server
// sidecar's INBOUND listener → upstream; with mTLS the hop between them uses
// SPIFFE certificates both ways. "policies" adds what a production mesh turns
// on: retries, outlier detection, tracing (100 % sampled, OTLP export to a
// local sink); request metrics are always on.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess, type Started } from '../lib/processes.js';
import type { BenchEnv, CertPaths, RunningTarget } from './types.js';
import { SIDECAR_NODE_FLAGS } from '../../proxy/node-flags.js';

export interface TsmeshShape {
  hops: 1 | 2;
  mtls: boolean;
  policies: boolean;
  /** With policies: tracing too (100 % sampled, OTLP export). Without it, only the resilience layers (issue #4's ratio). */
  tracing?: boolean;
  /** gRPC path: h2c in (protocol detection), HTTP/2 to the next hop (ALPN h2 over mTLS) and to the gRPC upstream. */
  grpc?: boolean;
}

export function proxyEntry(env: BenchEnv): string {
  return path.join(env.repoRoot, 'dist', 'proxy', 'main.js');
}

export function tsmeshUnavailable(env: BenchEnv, shape: TsmeshShape): string | null {
  if (!fs.existsSync(proxyEntry(env))) return 'the proxy is not built yet (dist/proxy/main.js missing)';
  if (shape.mtls && !env.certs) return 'no openssl to make mTLS certificates';
  if (shape.grpc && env.grpcUpstreamPort === undefined) return 'no gRPC upstream (not started: --protocols without grpc)';
  return null;
}

interface SidecarSpec {
  name: string;
  service: string;
  serviceAccount: string;
  direction: 'INBOUND' | 'OUTBOUND';
  listenPort: number;
  adminPort: number;
  nextPort: number;
  /** Terminate mTLS on the listener (server sidecar). */
  listenTls: boolean;
  /** Originate mTLS to the next hop (client sidecar). */
  nextTls: boolean;
  policies: boolean;
  /** Set: tracing on, exporting here. */
  otlpEndpoint?: string;
  grpc?: boolean;
}

function secrets(c: CertPaths, self: 'server' | 'client'): object[] {
  return [
    {
      name: 'default',
      tlsCertificate: {
        certificateChain: { filename: self === 'server' ? c.serverCert : c.clientCert },
        privateKey: { filename: self === 'server' ? c.serverKey : c.clientKey },
      },
    },
    { name: 'ROOTCA', validationContext: { trustedCa: { filename: c.ca } } },
  ];
}

export function bootstrapFor(s: SidecarSpec, certs?: CertPaths): object {
  const route: Record<string, unknown> = { cluster: 'next', timeout: '15s' };
  if (s.policies) route.retryPolicy = { retryOn: ['5xx', 'connect-failure', 'reset'], numRetries: 2, perTryTimeout: '5s', retryBackOff: { baseInterval: '25ms' } };
  // Every resilience layer configured but not triggering: a header-gated fault, a bucket too big to empty.
  const routeEntry: Record<string, unknown> = { name: 'all', match: { prefix: '/' }, route };
  if (s.policies) {
    routeEntry.fault = { abort: { httpStatus: 503, percent: 100 }, headers: [{ name: 'x-bench-fault', presentMatch: true }] };
    routeEntry.rateLimit = { statPrefix: 'bench', tokenBucket: { maxTokens: 1_000_000_000, tokensPerFill: 1_000_000_000, fillInterval: '1s' } };
  }
  const hcm: Record<string, unknown> = {
    kind: 'http',
    statPrefix: s.direction === 'INBOUND' ? 'inbound' : 'outbound',
    routeConfig: {
      name: 'bench',
      virtualHosts: [{ name: 'all', domains: ['*'], routes: [routeEntry] }],
    },
  };
  if (s.policies && s.otlpEndpoint) hcm.tracing = { randomSamplingPercent: 100 };
  const chain: Record<string, unknown> = { name: s.listenTls ? 'mtls' : 'plaintext', filter: hcm };
  if (s.listenTls && certs) {
    chain.filterChainMatch = { transportProtocol: 'tls' };
    chain.transportSocket = {
      certificateSecret: 'default',
      validationSecret: 'ROOTCA',
      requireClientCertificate: true,
      matchSubjectAltNames: [{ exact: certs.clientSpiffeId }],
      alpnProtocols: s.grpc ? ['h2'] : ['http/1.1'],
    };
  }
  const cluster: Record<string, unknown> = {
    name: 'next',
    type: 'STATIC',
    connectTimeout: '5s',
    upstreamProtocol: s.grpc ? 'http2' : 'http1',
    loadAssignment: { clusterName: 'next', endpoints: [{ address: { address: '127.0.0.1', port: s.nextPort } }] },
  };
  if (s.policies) {
    cluster.outlierDetection = { consecutive5xx: 5, consecutiveGatewayFailure: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 10 };
    cluster.circuitBreakers = { maxRequests: 100_000, maxPendingRequests: 100_000, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } };
  }
  if (s.nextTls && certs)
    cluster.transportSocket = {
      certificateSecret: 'default',
      validationSecret: 'ROOTCA',
      matchSubjectAltNames: [{ exact: certs.serverSpiffeId }],
      sni: certs.serverName,
      alpnProtocols: s.grpc ? ['h2'] : ['http/1.1'],
    };
  const doc: Record<string, unknown> = {
    node: { id: `bench~${s.name}`, cluster: s.service, namespace: 'default', serviceAccount: s.serviceAccount, trustDomain: 'bench.tsmesh.local' },
    admin: { address: { address: '127.0.0.1', port: s.adminPort } },
    staticResources: {
      listeners: [{ name: s.direction === 'INBOUND' ? 'inbound' : 'outbound', address: { address: '127.0.0.1', port: s.listenPort }, trafficDirection: s.direction, filterChains: [chain] }],
      clusters: [cluster],
      ...((s.listenTls || s.nextTls) && certs ? { secrets: secrets(certs, s.listenTls ? 'server' : 'client') } : {}),
    },
  };
  if (s.policies && s.otlpEndpoint) doc.tracing = { exporter: 'otlp', endpoint: s.otlpEndpoint, samplingPercent: 100, exportDelayMs: 1000 };
  return doc;
}

async function startSidecar(env: BenchEnv, s: SidecarSpec): Promise<Started> {
  // JSON, which the sidecar reads without loading the YAML parser (~1.5 MB of RSS for the process's life), as an
  // injected sidecar reads its bootstrap from the environment (proxy/config/bootstrap-json.ts).
  const file = path.join(env.dir, `${s.name}.json`);
  fs.writeFileSync(file, JSON.stringify(bootstrapFor(s, env.certs), null, 2));
  const p = startProcess([process.execPath, ...SIDECAR_NODE_FLAGS, ...(env.proxyNodeArgs ?? []), proxyEntry(env), '--config', file], env.proxyCore, { ...process.env, NODE_ENV: 'production' });
  try {
    await Promise.race([
      waitForPort(s.listenPort, 15_000),
      new Promise((_, reject) => p.child.once('exit', (code) => reject(new Error(`exited with ${code}`)))),
    ]);
  } catch (e) {
    await stopProcess(p.child);
    throw new Error(`tsmesh ${s.name} did not start (${(e as Error).message}): ${p.stderr().slice(0, 1500)}`, { cause: e });
  }
  return p;
}

/** Accepts OTLP/HTTP exports and throws them away, so tracing's export cost is real but nothing piles up. */
async function startOtlpSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      // An empty ExportTraceServiceResponse in the request's encoding (tsmesh sends protobuf by default).
      if (req.headers['content-type']?.startsWith('application/json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export async function startTsmesh(env: BenchEnv, shape: TsmeshShape, id: string): Promise<RunningTarget> {
  const sink = shape.policies && shape.tracing !== false ? await startOtlpSink() : null;
  const base = { policies: shape.policies, grpc: shape.grpc === true, ...(sink ? { otlpEndpoint: sink.url } : {}) };
  const upstreamPort = shape.grpc ? env.grpcUpstreamPort! : env.upstreamPort;
  const started: Started[] = [];
  const entry = await freePort();
  try {
    if (shape.hops === 1) {
      started.push(await startSidecar(env, { ...base, name: id, service: 'client', serviceAccount: 'client', direction: 'OUTBOUND', listenPort: entry, adminPort: await freePort(), nextPort: upstreamPort, listenTls: false, nextTls: false }));
    } else {
      const inner = await freePort();
      started.push(await startSidecar(env, { ...base, name: `${id}-server`, service: 'server', serviceAccount: 'server', direction: 'INBOUND', listenPort: inner, adminPort: await freePort(), nextPort: upstreamPort, listenTls: shape.mtls, nextTls: false }));
      started.push(await startSidecar(env, { ...base, name: `${id}-client`, service: 'client', serviceAccount: 'client', direction: 'OUTBOUND', listenPort: entry, adminPort: await freePort(), nextPort: inner, listenTls: false, nextTls: shape.mtls }));
    }
  } catch (e) {
    await Promise.all(started.map((s) => stopProcess(s.child)));
    await sink?.close();
    throw e;
  }
  return {
    port: entry,
    ...(shape.grpc ? {} : { h2Port: entry }), // the listener detects HTTP/2 prior knowledge on the same port (gRPC paths: the entry itself)
    proxyPids: started.map((s) => s.pid),
    stop: async () => {
      await Promise.all(started.map((s) => stopProcess(s.child)));
      await sink?.close();
    },
  };
}

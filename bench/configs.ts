// Every configuration the bench can measure, in the order they are
// interleaved. Peers are skipped with a recorded reason when their binary is
// missing; tsmesh paths are skipped with a reason when the proxy cannot run
// them yet (never a made-up number). The gRPC paths (`*-grpc`) end at their
// own upstream and are measured only with the gRPC unary load.
import { startHaproxy } from './peers/haproxy.js';
import { startNginx } from './peers/nginx.js';
import { startNodeFloor } from './peers/node-floor.js';
import { startTsmesh, tsmeshUnavailable } from './peers/tsmesh.js';
import { meshUnavailable, startTsmeshMesh } from './peers/tsmesh-mesh.js';
import type { BenchEnv, ConfigDef, RunningTarget } from './peers/types.js';

function direct(): ConfigDef {
  return {
    id: 'direct',
    label: 'direct (client → upstream)',
    proxy: 'none',
    hops: 0,
    mtls: false,
    policies: false,
    unavailable: () => null,
    start: async (env: BenchEnv): Promise<RunningTarget> => ({
      port: env.upstreamPort,
      ...(env.upstreamH2Port ? { h2Port: env.upstreamH2Port } : {}),
      proxyPids: env.upstreamPids,
      stop: async () => {},
    }),
  };
}

function peer(proxy: 'nginx' | 'haproxy', hops: 1 | 2, mtls: boolean): ConfigDef {
  const id = `${proxy}-${hops}hop${mtls ? '-mtls' : ''}`;
  return {
    id,
    label: `${proxy} ${hops === 1 ? 'one hop' : `two hops${mtls ? ' + mTLS' : ' plaintext'}`}`,
    proxy,
    hops,
    mtls,
    policies: false,
    unavailable: (env) =>
      !env.tools[proxy] ? `${proxy} is not installed` : mtls && !env.certs ? 'no openssl to make mTLS certificates' : null,
    start: (env) => (proxy === 'nginx' ? startNginx(env, hops, mtls, id) : startHaproxy(env, hops, mtls, id)),
  };
}

/** `policies`: 'all' = retries, outlier detection, breakers, gated fault, rate limit, metrics and 100 % tracing; 'resilience' = the same without tracing. */
function tsmesh(hops: 1 | 2, mtls: boolean, policies: false | 'all' | 'resilience' = false): ConfigDef {
  const id = `tsmesh-${hops}hop${mtls ? '-mtls' : ''}${policies === 'all' ? '-policies' : policies === 'resilience' ? '-resilience' : ''}`;
  const what = hops === 1 ? 'one hop' : `two hops${mtls ? ' + mTLS' : ' plaintext'}`;
  const shape = { hops, mtls, policies: policies !== false, tracing: policies === 'all' };
  return {
    id,
    label: `tsmesh ${what}${policies === 'all' ? ' + policies' : policies === 'resilience' ? ' + resilience (no tracing)' : ''}`,
    proxy: 'tsmesh',
    hops,
    mtls,
    policies: policies !== false,
    unavailable: (env) => tsmeshUnavailable(env, shape),
    start: (env) => startTsmesh(env, shape, id),
  };
}

/** The mesh path as deployed: control plane (xDS + CA) and two ADS-configured sidecars, mTLS with CA-issued certificates. */
function tsmeshMesh(grpc = false): ConfigDef {
  const id = `tsmesh-2hop-mtls-mesh${grpc ? '-grpc' : ''}`;
  return {
    id,
    label: `tsmesh two hops + mTLS, mesh (xDS + CA)${grpc ? ' gRPC' : ''}`,
    proxy: 'tsmesh',
    hops: 2,
    mtls: true,
    policies: false,
    ...(grpc ? { protocol: 'grpc' as const } : {}),
    unavailable: (env) => (grpc && env.grpcUpstreamPort === undefined ? 'no gRPC upstream' : meshUnavailable(env)),
    start: (env) => startTsmeshMesh(env, id, grpc),
  };
}

/** Node's floors: a node:http proxy with nothing else (http), and a byte relay with no HTTP at all (tcp). */
function nodeFloor(mode: 'http' | 'tcp'): ConfigDef {
  return {
    id: mode === 'http' ? 'node-floor-1hop' : 'node-tcp-floor-1hop',
    label: mode === 'http' ? 'Node http floor one hop (minimal proxy)' : 'Node TCP relay floor one hop (no HTTP)',
    proxy: 'node',
    hops: 1,
    mtls: false,
    policies: false,
    unavailable: () => null,
    start: (env) => startNodeFloor(env, mode),
  };
}

/** direct for gRPC: the client's h2c sessions straight to the gRPC upstream (the gRPC paths' baseline). */
function directGrpc(): ConfigDef {
  return {
    id: 'direct-grpc',
    label: 'direct gRPC (client → gRPC upstream)',
    proxy: 'none',
    hops: 0,
    mtls: false,
    policies: false,
    protocol: 'grpc',
    unavailable: (env) => (env.grpcUpstreamPort === undefined ? 'no gRPC upstream' : null),
    start: async (env: BenchEnv): Promise<RunningTarget> => ({ port: env.grpcUpstreamPort!, proxyPids: env.grpcUpstreamPids ?? [], stop: async () => {} }),
  };
}

/** Node's HTTP/2 floor for the gRPC paths: node:http2 in and out, streams forwarded with nothing else. */
function nodeFloorGrpc(): ConfigDef {
  return {
    id: 'node-h2-floor-1hop-grpc',
    label: 'Node http2 floor one hop gRPC (minimal proxy)',
    proxy: 'node',
    hops: 1,
    mtls: false,
    policies: false,
    protocol: 'grpc',
    unavailable: (env) => (env.grpcUpstreamPort === undefined ? 'no gRPC upstream' : null),
    start: (env) => startNodeFloor(env, 'h2'),
  };
}

/** A unary gRPC path (h2c in, HTTP/2 on every hop, h2 over the mTLS hop) through tsmesh, nginx (`grpc_pass`) or HAProxy (`proto h2`). */
function grpcPath(proxy: 'tsmesh' | 'nginx' | 'haproxy', hops: 1 | 2, mtls: boolean): ConfigDef {
  const id = `${proxy}-${hops}hop${mtls ? '-mtls' : ''}-grpc`;
  return {
    id,
    label: `${proxy} ${hops === 1 ? 'one hop' : `two hops${mtls ? ' + mTLS' : ' plaintext'}`} gRPC`,
    proxy,
    hops,
    mtls,
    policies: false,
    protocol: 'grpc',
    unavailable: (env) => {
      if (env.grpcUpstreamPort === undefined) return 'no gRPC upstream';
      if (proxy === 'tsmesh') return tsmeshUnavailable(env, { hops, mtls, policies: false, grpc: true });
      return !env.tools[proxy] ? `${proxy} is not installed` : mtls && !env.certs ? 'no openssl to make mTLS certificates' : null;
    },
    start: (env) =>
      proxy === 'tsmesh'
        ? startTsmesh(env, { hops, mtls, policies: false, grpc: true }, id)
        : proxy === 'nginx'
          ? startNginx(env, hops, mtls, id, true)
          : startHaproxy(env, hops, mtls, id, true),
  };
}

/** The gRPC paths (started only when `--protocols` includes grpc). */
export function grpcConfigs(): ConfigDef[] {
  return [
    directGrpc(),
    grpcPath('tsmesh', 1, false),
    grpcPath('nginx', 1, false),
    grpcPath('haproxy', 1, false),
    nodeFloorGrpc(),
    grpcPath('tsmesh', 2, true),
    tsmeshMesh(true),
    grpcPath('nginx', 2, true),
    grpcPath('haproxy', 2, true),
  ];
}

export function allConfigs(): ConfigDef[] {
  return [
    direct(),
    tsmesh(1, false),
    peer('nginx', 1, false),
    peer('haproxy', 1, false),
    nodeFloor('http'),
    nodeFloor('tcp'),
    tsmesh(1, false, 'all'),
    tsmesh(1, false, 'resilience'),
    tsmesh(2, false),
    peer('nginx', 2, false),
    peer('haproxy', 2, false),
    tsmesh(2, true),
    tsmeshMesh(),
    peer('nginx', 2, true),
    peer('haproxy', 2, true),
    ...grpcConfigs(),
  ];
}

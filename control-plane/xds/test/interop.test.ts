// Interop: @grpc/grpc-js-xds — an xDS client not written here — bootstraps
// against our ADS server, resolves xds:///greeter through our Listener
// (api_listener + HCM + RDS + router) → RouteConfiguration → Cluster (EDS) →
// ClusterLoadAssignment, and makes a real unary call to a real gRPC server.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cluster, ClusterLoadAssignment, Listener, ResourceMaps, RouteConfiguration } from '../../../proxy/config/resources.js';
import { DEFAULT_HTTP_LIMITS } from '../../../proxy/xds/codec/listener.js';
import { startServer } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const closers: (() => void)[] = [];
afterAll(() => closers.forEach((c) => c()));

const noMut = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

function meshFor(backendPort: number): ResourceMaps {
  const listener: Listener = {
    name: 'greeter',
    address: { address: '0.0.0.0', port: 0 },
    trafficDirection: 'OUTBOUND',
    filterChains: [],
    protocolDetectionTimeout: 0,
    apiListener: {
      kind: 'http',
      statPrefix: 'greeter',
      rdsRouteConfigName: 'greeter-routes',
      codecType: 'AUTO',
      httpFilters: [{ name: 'envoy.filters.http.router', kind: 'router' }],
      limits: DEFAULT_HTTP_LIMITS,
      useRemoteAddress: false,
      xffNumTrustedHops: 0,
      generateRequestId: true,
    },
  };
  const routes: RouteConfiguration = {
    name: 'greeter-routes',
    ...noMut,
    virtualHosts: [
      {
        name: 'greeter',
        domains: ['greeter'],
        ...noMut,
        routes: [{ name: 'all', match: { prefix: '', caseSensitive: true, headers: [], queryParameters: [] }, ...noMut, route: { cluster: 'greeter-v1', timeout: 10_000, requestMirrorPolicies: [], hashPolicy: [] } }],
      },
    ],
  };
  const cluster: Cluster = {
    name: 'greeter-v1',
    type: 'EDS',
    connectTimeout: 1000,
    lbPolicy: 'ROUND_ROBIN',
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    healthyPanicThreshold: 50,
    upstreamProtocol: 'http2',
    idleTimeout: 3_600_000,
    metadata: { service: 'greeter' },
  };
  const cla: ClusterLoadAssignment = {
    clusterName: 'greeter-v1',
    endpoints: [{ address: { address: '127.0.0.1', port: backendPort }, weight: 1, healthStatus: 'HEALTHY', priority: 0, locality: { region: 'local', zone: 'a' }, metadata: {} }],
  };
  return {
    listener: new Map([[listener.name, listener]]),
    routeConfiguration: new Map([[routes.name, routes]]),
    cluster: new Map([[cluster.name, cluster]]),
    clusterLoadAssignment: new Map([[cla.clusterName, cla]]),
    secret: new Map(),
  };
}

async function startBackend(): Promise<number> {
  const server = new Server();
  const raw = (b: Buffer) => b;
  server.addService(
    { Say: { path: '/tsmesh.test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Say: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('hello '), call.request])) },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  closers.push(() => server.forceShutdown());
  return port;
}

function runClient(xdsPort: number, target: string): Promise<{ code: number | null; out: string }> {
  const bootstrap = {
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-client-1', cluster: 'interop', locality: {}, metadata: { NAMESPACE: 'default' } },
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, 'interop-client.mjs'), target], {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_XDS_BOOTSTRAP: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const kill = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, out });
    });
  });
}

describe('interop with @grpc/grpc-js-xds', () => {
  it('resolves xds:///greeter through our LDS → RDS → CDS → EDS and calls the backend', async () => {
    const backend = await startBackend();
    const s = await startServer();
    closers.push(s.close);
    s.cache.setSnapshot('grpc-client-1', 'v1', meshFor(backend));
    const { code, out } = await runClient(s.port, 'greeter');
    expect(out).toContain('OK hello interop');
    expect(code).toBe(0);
    // The third-party client ACKed every type it subscribed to.
    const types = s.xds.proxies().find((p) => p.nodeId === 'grpc-client-1')?.types ?? {};
    for (const k of ['listener', 'routeConfiguration', 'cluster', 'clusterLoadAssignment'] as const) expect(types[k]?.nack).toBeUndefined();
  }, 30_000);
});

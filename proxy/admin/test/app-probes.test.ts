// The app's rewritten kubelet probes, answered by the sidecar's health port
// against real app sockets: the status kubelet would see for each case.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoDir } from '../../xds/proto-root.js';
import { ValidationError } from '../../../common/errors.js';
import { parseAppProbers } from '../app-probes.js';
import { startHealthServer, type HealthServer } from '../health-server.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

describe('app probes on the health port', () => {
  let app: http.Server;
  let appPort: number;
  let closedPort: number;
  let health: HealthServer;
  let grpcServer: grpc.Server;
  let grpcPort: number;
  // The app's own health service: the server as a whole serves, `payments` does not.
  const serving: Record<string, string> = { '': 'SERVING', payments: 'NOT_SERVING' };
  const seen: { path?: string; probeHeader?: string; ua?: string }[] = [];
  let healthy = true;

  beforeAll(async () => {
    app = http.createServer((req, res) => {
      seen.push({ path: req.url, probeHeader: req.headers['x-probe'] as string | undefined, ua: req.headers['user-agent'] });
      if (req.url === '/hang') return; // never answers
      res.writeHead(req.url === '/healthz' && !healthy ? 500 : req.url === '/moved' ? 302 : 200, { location: '/elsewhere' });
      res.end();
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appPort = (app.address() as AddressInfo).port;
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    closedPort = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const def = loader.loadSync(join(protoDir(), 'grpc/health/v1/health.proto'), { enums: String });
    const Health = (grpc.loadPackageDefinition(def) as any).grpc.health.v1.Health;
    grpcServer = new grpc.Server();
    grpcServer.addService(Health.service, {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const status = serving[call.request.service];
        if (status) cb(null, { status });
        else cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      },
    });
    grpcPort = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    const probers = parseAppProbers(JSON.stringify({
      '/app-health/grpc/livez': { grpc: { port: grpcPort } },
      '/app-health/grpc/readyz': { grpc: { port: grpcPort, service: 'payments' } },
      '/app-health/grpc/startupz': { grpc: { port: grpcPort, service: 'nope' } },
      '/app-health/grpcdown/livez': { grpc: { port: closedPort } },
      '/app-health/web/livez': { httpGet: { path: '/healthz', port: appPort, scheme: 'HTTP', httpHeaders: [{ name: 'x-probe', value: 'liveness' }] }, timeoutSeconds: 3 },
      '/app-health/web/readyz': { tcpSocket: { port: appPort }, timeoutSeconds: 1 },
      '/app-health/web/startupz': { httpGet: { path: '/moved', port: appPort } },
      '/app-health/down/livez': { httpGet: { path: '/healthz', port: closedPort } },
      '/app-health/down/readyz': { tcpSocket: { port: closedPort } },
      '/app-health/slow/livez': { httpGet: { path: '/hang', port: appPort }, timeoutSeconds: 1 },
    }));
    health = await startHealthServer('127.0.0.1', 0, { ready: () => true }, { probers, defaultHost: '127.0.0.1' });
  });
  afterAll(async () => {
    grpcServer?.forceShutdown();
    await health.close();
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
  });

  it('passes an httpGet probe through to the app, with its headers, and reports the app status', async () => {
    expect((await get(health.port, '/app-health/web/livez')).status).toBe(200);
    expect(seen.at(-1)).toEqual({ path: '/healthz', probeHeader: 'liveness', ua: 'kube-probe/tsmesh' });
    healthy = false;
    const r = await get(health.port, '/app-health/web/livez');
    healthy = true;
    expect(r).toEqual({ status: 500, body: 'app answered 500\n' });
    // 3xx counts as healthy for kubelet: the status is passed on, not followed.
    expect((await get(health.port, '/app-health/web/startupz')).status).toBe(302);
  });

  it('a tcpSocket probe is 200 when the app accepts and 503 when it refuses', async () => {
    expect((await get(health.port, '/app-health/web/readyz')).status).toBe(200);
    const r = await get(health.port, '/app-health/down/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toContain('ECONNREFUSED');
  });

  it('an app that is down or does not answer within timeoutSeconds fails the probe (503)', async () => {
    expect((await get(health.port, '/app-health/down/livez')).status).toBe(503);
    const slow = await get(health.port, '/app-health/slow/livez');
    expect(slow).toEqual({ status: 503, body: 'app probe failed: no answer within 1s\n' });
  });

  it('a grpc probe calls grpc.health.v1.Health/Check: 200 only for SERVING', async () => {
    expect(await get(health.port, '/app-health/grpc/livez')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(health.port, '/app-health/grpc/readyz')).toEqual({ status: 503, body: 'app is NOT_SERVING\n' });
    const unknown = await get(health.port, '/app-health/grpc/startupz');
    expect(unknown.status).toBe(503);
    expect(unknown.body).toContain('unknown service');
    expect((await get(health.port, '/app-health/grpcdown/livez')).status).toBe(503);
  });

  it('unknown probe paths are 404, and the proxy readiness path still answers', async () => {
    expect((await get(health.port, '/app-health/other/livez')).status).toBe(404);
    expect((await get(health.port, '/ready')).status).toBe(200);
  });
});

describe('TSMESH_KUBE_APP_PROBERS parsing', () => {
  it('rejects bad input whole, naming every bad field', () => {
    const bad = JSON.stringify({
      '/app-health/web/livez': { httpGet: { path: '/h', port: 70000 } },
      '/app-health/web/readyz': { httpGet: { port: 80 }, tcpSocket: { port: 80 } },
      '/elsewhere': { tcpSocket: { port: 80 } },
    });
    let err: unknown;
    try {
      parseAppProbers(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const msg = (err as Error).message;
    expect(msg).toContain('TSMESH_KUBE_APP_PROBERS');
    expect(msg).toContain('httpGet.port');
    expect(msg).toContain('must be ≤ 65535, got 70000');
    expect(msg).toContain('needs exactly one of httpGet, tcpSocket, grpc');
    expect(msg).toContain('key must be /app-health/<container>/livez|readyz|startupz');
    expect(() => parseAppProbers('{not json')).toThrow(/TSMESH_KUBE_APP_PROBERS.*is not JSON/s);
  });
});

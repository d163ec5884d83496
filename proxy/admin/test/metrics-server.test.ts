import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../metrics-server.js';

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('metrics listener (Istio :15090)', () => {
  it('serves only GET /stats/prometheus from the shared registry', async () => {
    const registry = new Registry();
    new Counter({ name: 'istio_requests_total', help: 'r', registers: [registry] }).inc(3);
    server = await startMetricsServer('127.0.0.1', 0, registry);
    const base = `http://127.0.0.1:${server.port}`;
    const res = await fetch(`${base}/stats/prometheus`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('istio_requests_total 3');
    // Nothing of the admin API is reachable here.
    for (const [method, path] of [['GET', '/config_dump'], ['POST', '/quitquitquit'], ['GET', '/tap'], ['POST', '/stats/prometheus']]) {
      const r = await fetch(`${base}${path}`, { method });
      expect(r.status).toBe(404);
      await r.text();
    }
  });

  it('refuses a port in use with MESH_ADMIN_BIND', async () => {
    server = await startMetricsServer('127.0.0.1', 0, new Registry());
    await expect(startMetricsServer('127.0.0.1', server.port, new Registry())).rejects.toMatchObject({ code: 'MESH_ADMIN_BIND' });
  });
});

// The whole mesh path with real processes: app A → sidecar A (outbound,
// Host: b) → mTLS with CA-issued SPIFFE certificates → sidecar B (inbound)
// → app B, all config pushed by mesh-control-plane over TLS xDS.
// Needs the build: `npx tsc -p .` first.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, get, type App, type SidecarProc } from './mesh-harness.js';

describe('mesh path: control plane + two sidecars', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;
  let appB: App;

  beforeAll(async () => {
    await mesh.startControlPlane();
    const appA = await mesh.app('a');
    appB = await mesh.app('b');
    [a, b] = await Promise.all([mesh.sidecar('a', 'v1', appA), mesh.sidecar('b', 'v1', appB)]);
  }, 20_000);
  afterAll(() => mesh.close());

  it('A reaches B through both sidecars over mTLS; B sees A\'s SPIFFE ID in x-forwarded-client-cert', async () => {
    const r = await eventually('a → b through the mesh', async () => {
      const r = await get(a.outbound, 'b:8080', '/hello');
      if (r.status !== 200) throw new Error(`${r.status} ${String(r.headers['x-tsmesh-error'] ?? '')} ${r.body}`);
      return r;
    });
    const seen = JSON.parse(r.body) as { app: string; headers: Record<string, string> };
    expect(seen.app).toBe('b');
    expect(seen.headers['x-forwarded-client-cert']).toContain('URI=spiffe://cluster.local/ns/default/sa/a');
    expect(seen.headers['x-forwarded-client-cert']).toContain('By=spiffe://cluster.local/ns/default/sa/b');
  }, 20_000);

  // HTTP/2 in, HTTP/2 over the mTLS hop (the mesh's clusters follow the downstream protocol), each
  // session keeping ten streams in flight. The client's codec rejects a response whose body is shorter
  // than its content-length (PROTOCOL_ERROR), so a body lost anywhere on the path fails here.
  it('carries concurrent HTTP/2 streams over the mesh, every response whole and its own', async () => {
    const sessions = Array.from({ length: 8 }, () => http2.connect(`http://127.0.0.1:${a.outbound}`));
    const failures: string[] = [];
    let next = 0;
    const TOTAL = 3000;
    const one = (s: http2.ClientHttp2Session): Promise<void> =>
      new Promise<void>((resolve) => {
        const id = String(next++);
        const req = s.request({ ':path': '/h2', ':authority': 'b:8080', 'x-id': id });
        let status = 0;
        let body = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('error', () => {});
        req.on('close', () => {
          let seen: string | undefined;
          try {
            seen = (JSON.parse(body) as { headers: Record<string, string> }).headers['x-id'];
          } catch {}
          if (req.rstCode || status !== 200 || seen !== id) failures.push(`${id}: status ${status}, reset ${req.rstCode}, ${body.length} bytes, answer for ${seen}`);
          resolve();
        });
      }).then(() => (next < TOTAL ? one(s) : undefined));
    try {
      await Promise.all(sessions.flatMap((s) => Array.from({ length: 10 }, () => one(s))));
    } finally {
      for (const s of sessions) s.close();
    }
    expect(failures.slice(0, 5)).toEqual([]);
  }, 30_000);

  it('learned b on demand (A\'s first request), and a host nobody serves is 404 NR after a bounded wait', async () => {
    const deps = await mesh.admin.dependencies('sidecar~127.0.0.1~a-v1.default~default.svc.cluster.local');
    expect(deps.dependencies.join(',')).toMatch(/\bb\b|default\/b/);
    const r = await get(a.outbound, 'nosuch:8080');
    expect(r.status).toBe(404);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_NO_ROUTE');
  }, 10_000);

  it('refuses a plaintext client at B\'s inbound when the mesh is STRICT', async () => {
    await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { mtls: { mode: STRICT } }
`);
    await eventually('plaintext refused at B inbound', async () => {
      const r = await get(b.inbound, 'b:8080').catch((err: Error) => ({ status: 0, body: err.message }));
      if (r.status !== 0) throw new Error(`plaintext got ${r.status}`);
    });
    // mTLS traffic still flows.
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
  }, 20_000);
});

// The whole mesh path with real processes: app A → sidecar A (outbound,
// Host: b) → mTLS with CA-issued SPIFFE certificates → sidecar B (inbound)
// → app B, all config pushed by mesh-control-plane over TLS xDS.
// Needs the build: `npx tsc -p .` first.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, doNotUpgrade, eventually, get, h2Call, type App, type SidecarProc } from './mesh-harness.js';
import { parseExposition } from '../telemetry/test/records.js';

describe('mesh path: control plane + two sidecars', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;
  let appB: App;

  beforeAll(async () => {
    await mesh.startControlPlane();
    const appA = await mesh.app('a');
    appB = await mesh.app('b');
    [a, b] = await Promise.all([mesh.sidecar('a', 'v1', appA), mesh.sidecar('b', 'v1', appB, { accessLog: true })]);
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
    // Both reporters name both identities, as Istio's do: A's from B's certificate, B's from A's.
    // (The answered requests' series: while the config converged, `eventually` may have seen 503s that
    // never reached B.)
    const requests = async (port: number) =>
      parseExposition(await (await fetch(`http://127.0.0.1:${port}/stats/prometheus`)).text()).filter(
        (x) => x.name === 'istio_requests_total' && x.labels.response_code === '200',
      );
    expect((await requests(a.admin)).find((x) => x.labels.reporter === 'source')?.labels).toMatchObject({
      source_principal: 'spiffe://cluster.local/ns/default/sa/a',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/b',
      destination_service_name: 'b',
    });
    expect((await requests(b.admin)).find((x) => x.labels.reporter === 'destination')?.labels).toMatchObject({
      source_principal: 'spiffe://cluster.local/ns/default/sa/a',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/b',
    });
  }, 20_000);

  // HTTP/2 in, each session keeping ten streams in flight. The client's codec rejects a response whose
  // body is shorter than its content-length (PROTOCOL_ERROR), so a body lost anywhere on the path fails.
  async function h2Storm(path: string, total: number): Promise<string[]> {
    const sessions = Array.from({ length: 8 }, () => http2.connect(`http://127.0.0.1:${a.outbound}`));
    const failures: string[] = [];
    let next = 0;
    const one = async (s: http2.ClientHttp2Session): Promise<void> => {
      const id = String(next++);
      const { status, body, rstCode } = await h2Call(s, { ':path': path, ':authority': 'b:8080', 'x-id': id });
      let seen: string | undefined;
      try {
        seen = (JSON.parse(body) as { headers: Record<string, string> }).headers['x-id'];
      } catch {}
      if (rstCode || status !== 200 || seen !== id) failures.push(`${id}: status ${status}, reset ${rstCode}, ${body.length} bytes, answer for ${seen}`);
      if (next < total) await one(s);
    };
    try {
      await Promise.all(sessions.flatMap((s) => Array.from({ length: 10 }, () => one(s))));
    } finally {
      for (const s of sessions) s.close();
    }
    return failures;
  }

  /** The protocols B's inbound saw for requests to `path`, from its access log: what the hop spoke. */
  function hopProtocols(path: string): Map<string, number> {
    const seen = new Map<string, number>();
    const lines = b.proc.out.split('\n');
    lines.pop(); // a line still being written
    for (const line of lines) {
      if (!line.startsWith('{"start_time"')) continue;
      const r = JSON.parse(line) as { path: string; protocol: string };
      if (r.path === path) seen.set(r.protocol, (seen.get(r.protocol) ?? 0) + 1);
    }
    return seen;
  }

  /** Once B has logged `total` requests to `path` (its access log is written asynchronously). */
  function hopProtocolsOf(path: string, total: number): Promise<Record<string, number>> {
    return eventually(`B's access log has ${total} lines for ${path}`, async () => {
      const seen = hopProtocols(path);
      if ([...seen.values()].reduce((x, y) => x + y, 0) < total) throw new Error(JSON.stringify([...seen]));
      return Object.fromEntries(seen);
    });
  }

  // The default for an HTTP/1.1 service keeps the client's protocol on the hop (hopProtocol says why):
  // the client's 80 concurrent streams cross as streams of one HTTP/2 session.
  it('carries concurrent HTTP/2 streams over the mesh, every response whole and its own (HTTP/2 between the sidecars)', async () => {
    expect((await h2Storm('/h2', 3000)).slice(0, 5)).toEqual([]);
    expect(await hopProtocolsOf('/h2', 3000)).toEqual({ 'HTTP/2': 3000 });
  }, 30_000);

  // DestinationPolicy h2UpgradePolicy: DO_NOT_UPGRADE (Istio's default): HTTP/1.1 on the mTLS hop, so
  // the streams become a pool of mTLS connections.
  it('with h2UpgradePolicy: DO_NOT_UPGRADE, carries them over HTTP/1.1 between the sidecars, just as whole', async () => {
    await mesh.admin.apply(doNotUpgrade('b'));
    await eventually('HTTP/1.1 on the hop', async () => {
      expect(await h2Storm('/h2-probe', 1)).toEqual([]);
      if (!hopProtocols('/h2-probe').has('HTTP/1.1')) throw new Error(`B saw ${JSON.stringify([...hopProtocols('/h2-probe')])}`);
    });
    try {
      expect((await h2Storm('/h2-hop', 3000)).slice(0, 5)).toEqual([]);
      expect(await hopProtocolsOf('/h2-hop', 3000)).toEqual({ 'HTTP/1.1': 3000 });
    } finally {
      await mesh.admin.delete({ kind: 'DestinationPolicy', namespace: 'default', name: 'b' });
    }
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

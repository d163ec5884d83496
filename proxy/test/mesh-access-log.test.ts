// MeshConfig.accessLogFile with real processes: the sidecars start without an
// access log; once the MeshConfig names /dev/stdout, both sides of a → b write
// one JSON line per request to their stdout (Envoy's field names), and after
// it is removed they stop. Needs the build: `npx tsc -p .` first.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, get, type SidecarProc } from './mesh-harness.js';

const meshConfig = (accessLog: boolean) => `apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:${accessLog ? ' { accessLogFile: /dev/stdout }' : ' {}'}
`;

/** The access log lines (JSON objects with a response_code) a sidecar wrote for `path`. */
function accessLines(s: SidecarProc, path: string): Record<string, unknown>[] {
  return s.proc.out
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"response_code"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o) => o.path === path);
}

describe('MeshConfig accessLogFile over the mesh', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair());
  }, 20_000);
  afterAll(() => mesh.close());

  it('turns every sidecar\'s access log on and off, live', async () => {
    expect((await get(a.outbound, 'b:8080', '/before')).status).toBe(200);
    await mesh.admin.apply(meshConfig(true));
    await eventually('a logs', async () => {
      expect((await get(a.outbound, 'b:8080', '/during')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300)); // the log's batch interval (250 ms)
      expect(accessLines(a, '/during').length).toBeGreaterThan(0);
      expect(accessLines(b, '/during').length).toBeGreaterThan(0);
    });
    const out = accessLines(a, '/during').at(-1)!;
    expect(out).toMatchObject({ method: 'GET', response_code: 200, direction: 'outbound', response_flags: '-', authority: 'b:8080' });
    expect(accessLines(b, '/during').at(-1)).toMatchObject({ direction: 'inbound', downstream_peer_principal: 'spiffe://cluster.local/ns/default/sa/a' });
    expect(accessLines(a, '/before')).toEqual([]);
    await mesh.admin.apply(meshConfig(false));
    await eventually('logging off', async () => {
      const path = `/after-${Date.now()}`;
      expect((await get(a.outbound, 'b:8080', path)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(accessLines(a, path)).toEqual([]);
    });
  }, 20_000);
});

// PeerAuthentication with real processes: under a STRICT mesh a plaintext
// client cannot reach b's sidecar; a PeerAuthentication making b PERMISSIVE
// (pushed over xDS) lets it in while a → b stays on mTLS; deleting it shuts
// plaintext out again. Needs the build: `npx tsc -p .` first.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, get, type SidecarProc } from './mesh-harness.js';

/** A plaintext request straight to a sidecar's inbound port: the status, or 'refused' when the connection is dropped. */
async function plaintext(port: number): Promise<number | 'refused'> {
  try {
    return (await get(port, 'b:8080', '/direct')).status;
  } catch {
    return 'refused';
  }
}

describe('PeerAuthentication over the mesh', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair());
    await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { mtls: { mode: STRICT } }
`);
    await eventually('STRICT on b', async () => expect(await plaintext(b.inbound)).toBe('refused'));
  }, 20_000);
  afterAll(() => mesh.close());

  it('a PERMISSIVE policy for b lets plaintext in, a → b stays mTLS, and deleting it restores STRICT', async () => {
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
    await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: PeerAuthentication
metadata: { name: b-legacy-clients }
spec:
  selector: { matchLabels: { app: b } }
  mtls: { mode: PERMISSIVE }
`);
    await eventually('plaintext accepted by b', async () => expect(await plaintext(b.inbound)).toBe(200));
    // The mesh caller still arrives with its verified identity.
    const viaMesh = JSON.parse((await get(a.outbound, 'b:8080')).body) as { headers: Record<string, string> };
    expect(viaMesh.headers['x-forwarded-client-cert']).toContain('URI=spiffe://cluster.local/ns/default/sa/a');
    // a's own sidecar is not selected: still STRICT.
    expect(await plaintext(a.inbound)).toBe('refused');
    await mesh.admin.delete({ kind: 'PeerAuthentication', namespace: 'default', name: 'b-legacy-clients' });
    await eventually('STRICT again', async () => expect(await plaintext(b.inbound)).toBe('refused'));
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
  }, 20_000);
});

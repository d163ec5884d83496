// Certificate rotation through the real CA with real processes: workload
// certificates with a 5 s lifetime renew every ~2.5 s on both sidecars while
// requests flow A → B over mTLS, and not one request fails.
// Needs the build: `npx tsc -p .` first.

import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Load, Mesh, eventually, get, type SidecarProc } from './mesh-harness.js';

/** The serial of the certificate a sidecar's inbound listener presents (the handshake is then refused: no client cert). */
function presentedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('certificate rotation under load', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair({ a: { certTtl: '5s' }, b: { certTtl: '5s' } }));
    await eventually('a → b', async () => expect((await get(a.outbound, 'b:8080')).status).toBe(200));
  }, 20_000);
  afterAll(() => mesh.close());

  it('renews both workload certificates repeatedly with zero failed requests', async () => {
    const serials = new Set<string>([await presentedSerial(b.inbound)]);
    const load = new Load(a.outbound, 'b:8080');
    load.start();
    try {
      await eventually('B presented three different certificates', async () => {
        serials.add(await presentedSerial(b.inbound));
        if (serials.size < 3) throw new Error(`${serials.size} certificates so far`);
      }, 12_000);
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    expect(load.byApp.get('b') ?? 0).toBeGreaterThan(100);
    // Still A's identity after A's own renewals.
    const r = await get(a.outbound, 'b:8080');
    expect((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toContain('URI=spiffe://cluster.local/ns/default/sa/a');
  }, 20_000);
});

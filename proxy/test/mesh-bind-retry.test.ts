// A sidecar whose inbound port is held by another socket when its config
// arrives (a closing socket, or an outgoing connection the kernel gave that
// port): it ACKs the config, cannot bind, and binds on its own once the port
// is free — no new push. Real control plane and sidecar processes.
// Needs the build: `npx tsc -p .` first.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, freePort, get, type SidecarProc } from './mesh-harness.js';

describe('a sidecar whose inbound port is taken when its config arrives', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;
  let holder: net.Server;

  beforeAll(async () => {
    await mesh.startControlPlane();
    const port = await freePort();
    holder = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
    ({ a, b } = await mesh.pair({ b: { inbound: port } }));
  }, 30_000);
  afterAll(async () => {
    holder.close();
    await mesh.close();
  });

  it('keeps retrying the bind and serves once the port is free, without a new push', async () => {
    await eventually('b reports the bind failure', async () => {
      expect(b.proc.out + b.proc.err).toContain('a listener of the accepted config cannot bind; retrying');
    }, 15_000);
    expect(b.proc.out + b.proc.err).toContain('EADDRINUSE');
    const pushesBefore = (await mesh.admin.proxies()).items.find((p) => p.service === 'b')!.types.listener!.ackedVersion;
    expect((await get(a.outbound, 'b:8080')).status).not.toBe(200);

    await new Promise<void>((r) => holder.close(() => r()));
    await eventually('a → b once b bound its inbound port', async () => {
      const r = await get(a.outbound, 'b:8080');
      expect(r.status, `${r.status} ${String(r.headers['x-tsmesh-error'] ?? '')}`).toBe(200);
      expect((JSON.parse(r.body) as { app: string }).app).toBe('b');
    }, 15_000);
    // The same config version: b bound it by retrying, not because something was pushed.
    expect((await mesh.admin.proxies()).items.find((p) => p.service === 'b')!.types.listener!.ackedVersion).toBe(pushesBefore);
  }, 40_000);
});

// The injected-pod path end to end: mesh-proxy started with only the
// environment k8s/inject/sidecar.ts sets (no --config) joins a real
// mesh-control-plane and answers /ready on its health port.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, freePort, get, type App } from './mesh-harness.js';

const PROXY = join(dirname(fileURLToPath(import.meta.url)), '../../dist/proxy/main.js');

describe('mesh-proxy from the injected environment', () => {
  const mesh = new Mesh();
  let app: App;
  beforeAll(async () => {
    await mesh.startControlPlane();
    app = await mesh.app('reviews');
  });
  afterAll(() => mesh.close());

  it('connects to the control plane and serves /ready on TSMESH_HEALTH_PORT', async () => {
    const tokenFile = join(mesh.dir, 'reviews.token');
    writeFileSync(tokenFile, (await mesh.token('reviews')) + '\n', { mode: 0o600 });
    const env = {
      PATH: process.env.PATH,
      TSMESH_CONTROL_PLANE_ADDRESS: `127.0.0.1:${mesh.xdsPort}`,
      TSMESH_TRUST_DOMAIN: 'cluster.local',
      TSMESH_LOG_LEVEL: 'warn',
      TSMESH_TOKEN_PATH: tokenFile,
      TSMESH_TRUST_BUNDLE_PATH: join(mesh.stateDir, 'root-cert.pem'),
      TSMESH_OUTBOUND_PORT: String(await freePort()),
      TSMESH_INBOUND_PORT: String(await freePort()),
      TSMESH_ADMIN_PORT: '0',
      TSMESH_HEALTH_PORT: '0',
      TSMESH_APP_PORT: String(app.port),
      POD_NAME: 'reviews-v1-5d8f7c9b6-abcde',
      POD_NAMESPACE: 'default',
      INSTANCE_IP: '127.0.0.1',
      SERVICE_ACCOUNT: 'reviews',
      POD_LABELS: 'app=reviews,version=v1',
    };
    // `sidecar` is the argument the injector passes.
    const child = spawn(process.execPath, [PROXY, 'sidecar'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    mesh.procs.add(child);
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /\{"event":"ready".*\}/.exec(out);
        if (m) resolve(m[0]);
      });
      child.once('exit', (code) => reject(new Error(`mesh-proxy exited ${code}: ${out}${err}`)));
    });
    const health = (JSON.parse(line) as { health?: number }).health;
    expect(health).toBeGreaterThan(0);

    await mesh.waitConnected(1);
    const { items } = await mesh.admin.proxies();
    expect(JSON.stringify(items[0])).toContain('reviews-v1-5d8f7c9b6-abcde');
    await eventually('/ready 200 on the health port', async () => {
      const r = await get(health!, '127.0.0.1', '/ready');
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    });
    expect((await get(health!, '127.0.0.1', '/config_dump')).status).toBe(404);
  }, 30_000);
});

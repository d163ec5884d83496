// The injected-pod path end to end: mesh-proxy started with only the
// environment k8s/inject/sidecar.ts sets (no --config) joins a real
// mesh-control-plane, answers /ready on its health port, and exports the
// spans of the requests it carries when the injector set a tracing endpoint.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, freePort, get, type App } from './mesh-harness.js';
import { spanAttr, startOtlpCollector } from '../telemetry/test/otlp-decode.js';

const PROXY = join(dirname(fileURLToPath(import.meta.url)), '../../dist/proxy/main.js');

describe('mesh-proxy from the injected environment', () => {
  const mesh = new Mesh();
  let app: App;
  beforeAll(async () => {
    await mesh.startControlPlane();
    app = await mesh.app('reviews');
  });
  afterAll(() => mesh.close());

  /** The variables the injector sets for a pod of `reviews`, with the downward API resolved. */
  async function injectedEnv(pod: string, extra: Record<string, string> = {}): Promise<Record<string, string | undefined>> {
    const tokenFile = join(mesh.dir, `${pod}.token`);
    writeFileSync(tokenFile, (await mesh.token('reviews')) + '\n', { mode: 0o600 });
    return {
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
      POD_NAME: pod,
      POD_NAMESPACE: 'default',
      INSTANCE_IP: '127.0.0.1',
      SERVICE_ACCOUNT: 'reviews',
      POD_LABELS: 'app=reviews,version=v1',
      ...extra,
    };
  }

  /** Starts mesh-proxy as the injected container does (`sidecar` is the argument it passes); resolves with its health port. */
  async function startInjected(env: Record<string, string | undefined>): Promise<number> {
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
    return health!;
  }

  it('connects to the control plane and serves /ready on TSMESH_HEALTH_PORT', async () => {
    const health = await startInjected(await injectedEnv('reviews-v1-5d8f7c9b6-abcde'));
    await mesh.waitConnected(1);
    const { items } = await mesh.admin.proxies();
    expect(JSON.stringify(items[0])).toContain('reviews-v1-5d8f7c9b6-abcde');
    await eventually('/ready 200 on the health port', async () => {
      const r = await get(health, '127.0.0.1', '/ready');
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    });
    expect((await get(health, '127.0.0.1', '/config_dump')).status).toBe(404);
  }, 30_000);

  it('exports the spans of the requests it carries to TSMESH_TRACING_ENDPOINT, as OTLP protobuf', async () => {
    const collector = await startOtlpCollector();
    try {
      const b = await mesh.sidecar('b', 'v1', await mesh.app('b'));
      const env = await injectedEnv('reviews-v1-5d8f7c9b6-fghij', { TSMESH_TRACING_ENDPOINT: collector.url, TSMESH_TRACING_SAMPLING: '100' });
      await startInjected(env);
      const outbound = Number(env.TSMESH_OUTBOUND_PORT);
      await eventually('reviews → b through the injected sidecar', async () => {
        const r = await get(outbound, 'b:8080', '/traced');
        if (r.status !== 200) throw new Error(`status ${r.status}`);
      });
      // Exported by the batch processor's timer (5 s by default), on the injected sidecar's own.
      const span = await eventually('the outbound span at the collector', async () => {
        const s = collector.spans.find((x) => spanAttr(x, 'url.path') === '/traced');
        if (!s) throw new Error(`${collector.spans.length} spans so far`);
        return s;
      }, 15_000);
      expect(collector.encodings).toContain('protobuf');
      expect(collector.encodings).not.toContain('json');
      expect(span.kind).toBe(3); // CLIENT: the caller's side of the call
      expect(span.service).toBe('reviews');
      expect(spanAttr(span, 'http.response.status_code')).toBe('200');
      expect(spanAttr(span, 'tsmesh.direction')).toBe('outbound');
      expect(spanAttr(span, 'peer.principal')).toBe('spiffe://cluster.local/ns/default/sa/b'); // from b's certificate
      expect(b.proc.child.exitCode).toBeNull();
    } finally {
      await collector.close();
    }
  }, 40_000);
});

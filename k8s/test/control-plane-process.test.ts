// mesh-control-plane (dist/) started the way the installed Deployment starts it
// (TSMESH_REGISTRY=kubernetes, POD_NAMESPACE, TSMESH_WEBHOOK_*), against the
// fake API server: it runs Kubernetes mode (CA Secret, webhook caBundle) and serves xDS.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installObjects } from '../install/render.js';
import { FakeApiServer } from './fake-apiserver.js';

const here = dirname(fileURLToPath(import.meta.url));
const CP = join(here, '../../dist/control-plane/main.js');
const fx = (n: string) => JSON.parse(readFileSync(join(here, 'fixtures', `${n}.json`), 'utf8'));
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tsmesh-sidecar-injector';
const SECRET = '/api/v1/namespaces/tsmesh-system/secrets/tsmesh-ca';

let api: FakeApiServer;
let child: ChildProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-k8s-cp-'));

beforeAll(async () => {
  api = new FakeApiServer();
  await api.start();
  api.setList('/api/v1/services', 'ServiceList', '1200', fx('services').items);
  api.setList('/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSliceList', '1200', fx('endpointslices').items);
  api.setList('/api/v1/pods', 'PodList', '1200', fx('pods').items);
  api.setList('/api/v1/namespaces', 'NamespaceList', '1200', ['default', 'tsmesh-system'].map((name, i) => ({ metadata: { name, resourceVersion: String(i + 1) } })));
  for (const p of ['destinationpolicies', 'authorizationpolicies', 'meshconfigs', 'canaries']) api.setList(`/apis/tsmesh.io/v1alpha1/${p}`, 'List', '1200', []);
  for (const p of ['httproutes', 'grpcroutes']) api.setList(`/apis/gateway.networking.k8s.io/v1/${p}`, 'List', '1200', []);
  api.objects.set(MWC, structuredClone(installObjects().find((o) => o.kind === 'MutatingWebhookConfiguration')));
  writeFileSync(join(dir, 'kubeconfig'), api.kubeConfig().exportConfig());
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    const c = child;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
  }
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('mesh-control-plane with TSMESH_REGISTRY=kubernetes', () => {
  it('starts Kubernetes mode from its environment and serves', async () => {
    child = spawn(process.execPath, [CP, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: join(dir, 'kubeconfig'),
        TSMESH_REGISTRY: 'kubernetes',
        TSMESH_POLICY_STORE: 'kubernetes',
        TSMESH_TRUST_DOMAIN: 'cluster.local',
        TSMESH_WEBHOOK_LISTEN: '127.0.0.1:0',
        TSMESH_WEBHOOK_CONFIG: 'tsmesh-sidecar-injector',
        POD_NAMESPACE: 'tsmesh-system',
      },
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d) => {
        out += d;
        if (/admin \d+/.test(out)) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`mesh-control-plane exited ${code}: ${out}${err}`)));
    });
    expect(out).toMatch(/listening \d+/);
    const root = Buffer.from(api.objects.get(SECRET).data['root-cert.pem'], 'base64').toString();
    expect(root).toContain('BEGIN CERTIFICATE');
    expect(Buffer.from(api.objects.get(MWC).webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(root);
    // The registry and the policy store it serves from are the API server's (watched), not the embedded ones.
    const watched = api.watches.map((w) => w.path);
    expect(watched).toEqual(expect.arrayContaining(['/apis/discovery.k8s.io/v1/endpointslices', '/apis/tsmesh.io/v1alpha1/destinationpolicies']));
  }, 30_000);

  it('refuses an unknown TSMESH_REGISTRY, naming the variable', async () => {
    const c = spawn(process.execPath, [CP, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', join(dir, 'state2')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, TSMESH_REGISTRY: 'consul' },
    });
    let err = '';
    c.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => c.once('exit', r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/TSMESH_REGISTRY.*consul/);
  }, 30_000);
});

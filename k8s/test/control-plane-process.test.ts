// mesh-control-plane (dist/) started the way the installed Deployment starts it
// (TSMESH_REGISTRY=kubernetes, POD_NAMESPACE, TSMESH_WEBHOOK_*), against the
// fake API server: it runs Kubernetes mode (CA Secret, webhook caBundle),
// issues workload certificates to projected service-account tokens the
// API server's TokenReview accepts, and serves xDS to an injected sidecar
// that authenticates with the same token. Two replicas share one CA root.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../control-plane/admin/client.js';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import type { NodeInfo } from '../../proxy/config/resources.js';
import { XdsClient } from '../../proxy/xds/client.js';
import { createWorkloadCsr } from '../../certs/csr.js';
import { CaClient } from '../../proxy/identity/ca-client.js';
import { eventually, freePort, get } from '../../proxy/test/mesh-harness.js';
import { installObjects } from '../install/render.js';
import { FakeApiServer } from './fake-apiserver.js';
import { TSMESH_PLURALS } from '../store/kinds.js';

const here = dirname(fileURLToPath(import.meta.url));
const CP = join(here, '../../dist/control-plane/main.js');
const PROXY = join(here, '../../dist/proxy/main.js');
const fx = (n: string) => JSON.parse(readFileSync(join(here, 'fixtures', `${n}.json`), 'utf8'));
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tsmesh-sidecar-injector';
const SECRETS = '/api/v1/namespaces/tsmesh-system/secrets';
const SECRET = `${SECRETS}/tsmesh-ca`;
/** The name sidecars reach the control plane by (the injector's TSMESH_CONTROL_PLANE_ADDRESS host). */
const CP_DNS = 'tsmesh-control-plane.tsmesh-system.svc';
const REVIEWS_ID = 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews';

interface Replica {
  child: ChildProcess;
  xds: number;
  admin: number;
}

let api: FakeApiServer;
const procs = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-k8s-cp-'));

beforeAll(async () => {
  api = new FakeApiServer();
  await api.start();
  api.setList('/api/v1/services', 'ServiceList', '1200', fx('services').items);
  api.setList('/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSliceList', '1200', fx('endpointslices').items);
  api.setList('/api/v1/pods', 'PodList', '1200', fx('pods').items);
  api.setList('/api/v1/namespaces', 'NamespaceList', '1200', ['default', 'bookinfo', 'tsmesh-system'].map((name, i) => ({ metadata: { name, resourceVersion: String(i + 1) } })));
  for (const p of TSMESH_PLURALS) api.setList(`/apis/tsmesh.io/v1alpha1/${p}`, 'List', '1200', []);
  for (const p of ['httproutes', 'grpcroutes']) api.setList(`/apis/gateway.networking.k8s.io/v1/${p}`, 'List', '1200', []);
  api.objects.set(MWC, structuredClone(installObjects().find((o) => o.kind === 'MutatingWebhookConfiguration')));
  // Projected tokens as the kubelet mints them: the reviews pod's (audience tsmesh-ca), and one for another audience.
  api.tokens.set('reviews-projected-token', { username: 'system:serviceaccount:bookinfo:bookinfo-reviews', audiences: ['tsmesh-ca'] });
  api.tokens.set('reviews-api-token', { username: 'system:serviceaccount:bookinfo:bookinfo-reviews', audiences: ['https://kubernetes.default.svc'] });
  writeFileSync(join(dir, 'kubeconfig'), api.kubeConfig().exportConfig());
});
afterAll(async () => {
  await Promise.all([...procs].map(stop));
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

function stop(c: ChildProcess): Promise<void> {
  procs.delete(c);
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise<void>((r) => {
    c.once('exit', () => r());
    c.kill('SIGKILL');
  });
}

async function startReplica(name: string): Promise<Replica> {
  const child = spawn(process.execPath, [CP, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', join(dir, name), '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: join(dir, 'kubeconfig'),
      // as k8s/install/render.ts's Deployment sets them
      TSMESH_REGISTRY: 'kubernetes',
      TSMESH_POLICY_STORE: 'kubernetes',
      TSMESH_TRUST_DOMAIN: 'cluster.local',
      TSMESH_CA_SECRET: 'tsmesh-ca',
      TSMESH_TOKEN_AUDIENCE: 'tsmesh-ca',
      TSMESH_WEBHOOK_LISTEN: '127.0.0.1:0',
      TSMESH_WEBHOOK_CONFIG: 'tsmesh-sidecar-injector',
      TSMESH_WEBHOOK_SERVICE: `${CP_DNS}`,
      POD_NAMESPACE: 'tsmesh-system',
    },
  });
  procs.add(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (/admin \d+/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`mesh-control-plane exited ${code}: ${out}${err}`)));
  });
  return { child, xds: Number(/listening (\d+)/.exec(out)![1]), admin: Number(/admin (\d+)/.exec(out)![1]) };
}

const secretRoot = () => Buffer.from(api.objects.get(SECRET).data['root-cert.pem'], 'base64').toString();
const secretCreates = () => api.requests.filter((r) => r.startsWith(`POST ${SECRETS}`)).length;

/** A CSR for `id` sent the way the sidecar's identity manager sends it, verifying the CA by its Service name. */
async function requestSvid(r: Replica, token: string, id = REVIEWS_ID) {
  const client = new CaClient({ address: `127.0.0.1:${r.xds}`, caRootPem: secretRoot(), token: () => token, serverName: CP_DNS });
  try {
    const { csrPem } = await createWorkloadCsr(id);
    return await client.requestCertificate(csrPem, 3600_000);
  } finally {
    client.close();
  }
}

describe('mesh-control-plane with TSMESH_REGISTRY=kubernetes', () => {
  let a: Replica;
  let b: Replica;

  it('two replicas starting together create the CA Secret once and share its root', async () => {
    [a, b] = await Promise.all([startReplica('a'), startReplica('b')]);
    expect(secretCreates()).toBeGreaterThanOrEqual(1);
    const root = secretRoot();
    expect(root).toContain('BEGIN CERTIFICATE');
    expect(Buffer.from(api.objects.get(MWC).webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(root);
    // Both sign with the Secret's CA: each one's trust bundle is the Secret's root.
    const [fromA, fromB] = await Promise.all([requestSvid(a, 'reviews-projected-token'), requestSvid(b, 'reviews-projected-token')]);
    expect(fromA.trustBundlePem.trim()).toBe(root.trim());
    expect(fromB.trustBundlePem.trim()).toBe(root.trim());
    // The registry and the policy store it serves from are the API server's (watched), not the embedded ones.
    const watched = api.watches.map((w) => w.path);
    expect(watched).toEqual(expect.arrayContaining(['/apis/discovery.k8s.io/v1/endpointslices', '/apis/tsmesh.io/v1alpha1/destinationpolicies']));
  }, 60_000);

  it('issues an SVID for the service account TokenReview names, asking for the tsmesh-ca audience', async () => {
    const before = api.tokenReviews.length;
    const svid = await requestSvid(a, 'reviews-projected-token');
    const leaf = new X509Certificate(svid.certChainPem);
    expect(leaf.subjectAltName).toBe(`URI:${REVIEWS_ID}`);
    expect(leaf.verify(new X509Certificate(secretRoot()).publicKey)).toBe(true);
    expect(api.tokenReviews.slice(before)).toEqual([{ token: 'reviews-projected-token', audiences: ['tsmesh-ca'] }]);
  }, 30_000);

  it('refuses a token TokenReview rejects, one for another audience, and a CSR for another service account', async () => {
    await expect(requestSvid(a, 'forged-token')).rejects.toThrow(
      'certificate request failed (UNAUTHENTICATED): service account token rejected by TokenReview: [invalid bearer token, service account token has been invalidated]',
    );
    await expect(requestSvid(a, 'reviews-api-token')).rejects.toThrow(
      'certificate request failed (UNAUTHENTICATED): service account token rejected by TokenReview: [invalid bearer token, token audiences ["https://kubernetes.default.svc"] is invalid for the target audiences ["tsmesh-ca"]]',
    );
    await expect(requestSvid(a, 'reviews-projected-token', 'spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings')).rejects.toThrow(/PERMISSION_DENIED/);
  }, 30_000);

  it('an injected sidecar gets its certificate and its config with its projected token', async () => {
    const tokenFile = join(dir, 'token');
    const rootFile = join(dir, 'root-cert.pem');
    writeFileSync(tokenFile, 'reviews-projected-token\n', { mode: 0o600 });
    writeFileSync(rootFile, secretRoot());
    const reviewsBefore = api.tokenReviews.length;
    const metricsPort = await freePort();
    const child = spawn(process.execPath, [PROXY, 'sidecar'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // What k8s/inject/sidecar.ts sets, with the downward API resolved for the reviews-v1 pod.
      env: {
        PATH: process.env.PATH,
        TSMESH_CONTROL_PLANE_ADDRESS: `127.0.0.1:${b.xds}`,
        TSMESH_TRUST_DOMAIN: 'cluster.local',
        TSMESH_LOG_LEVEL: 'warn',
        TSMESH_TOKEN_PATH: tokenFile,
        TSMESH_TRUST_BUNDLE_PATH: rootFile,
        TSMESH_OUTBOUND_PORT: String(await freePort()),
        TSMESH_INBOUND_PORT: String(await freePort()),
        TSMESH_ADMIN_PORT: '0',
        TSMESH_HEALTH_PORT: '0',
        TSMESH_METRICS_PORT: String(metricsPort),
        TSMESH_APP_PORT: '9080',
        POD_NAME: 'reviews-v1-6c8f9d7b5-abcde',
        POD_NAMESPACE: 'bookinfo',
        POD_LABELS: 'app=reviews,version=v1',
        INSTANCE_IP: '127.0.0.1',
        SERVICE_ACCOUNT: 'bookinfo-reviews',
      },
    });
    procs.add(child);
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
    const { health, metrics } = JSON.parse(line) as { health: number; metrics: number };
    // The pod-facing Prometheus port (15090 when injected) serves the metrics, and only them.
    expect(metrics).toBe(metricsPort);
    const scraped = await get(metrics, '127.0.0.1', '/stats/prometheus');
    expect(scraped.status).toBe(200);
    expect((await get(metrics, '127.0.0.1', '/config_dump')).status).toBe(404);
    await eventually('/ready 200 on the health port', async () => {
      const r = await get(health, '127.0.0.1', '/ready');
      if (r.status !== 200) throw new Error(`status ${r.status}: ${err}`);
    }, 40_000); // ~2 s on a quiet machine; generous for a loaded shared CI box
    // The control plane authorized the xDS stream by the same TokenReview: the proxy is connected as reviews.
    const { items } = await (await AdminClient.discover(join(dir, 'b'))).proxies();
    expect(JSON.stringify(items)).toContain('reviews-v1-6c8f9d7b5-abcde');
    const reviewed = api.tokenReviews.slice(reviewsBefore).map((r) => r.token);
    expect(reviewed.filter((t) => t === 'reviews-projected-token').length).toBeGreaterThanOrEqual(2); // CSR + xDS
    await stop(child);
  }, 60_000);

  it('refuses an xDS stream whose node claims another service account than its token, or whose token TokenReview rejects', async () => {
    const creds = (token: string): ChannelCredentials =>
      credentials.combineChannelCredentials(
        credentials.createSsl(Buffer.from(secretRoot())),
        credentials.createFromMetadataGenerator((_p, cb) => {
          const md = new Metadata();
          md.set('authorization', `Bearer ${token}`);
          cb(null, md);
        }),
      );
    const node = (sa: string): NodeInfo => ({
      id: `sidecar~10.244.9.9~${sa}-v1-6c8f9d7b5-zzzzz.bookinfo~bookinfo.svc.cluster.local`,
      cluster: sa, namespace: 'bookinfo', serviceAccount: sa, workload: `${sa}-v1`, labels: { app: sa }, trustDomain: 'cluster.local',
    });
    const refusal = async (n: NodeInfo, token: string) => {
      const applied: string[] = [];
      const c = new XdsClient({
        server: `127.0.0.1:${b.xds}`,
        credentials: creds(token),
        node: n,
        nodeExtras: { inboundAddresses: ['10.244.9.9:15006'], metadata: { APP_PORT: '9080' } },
        apply: (snap) => void applied.push(snap.versions.listener),
        backoff: { initialMs: 100, maxMs: 500, jitter: 0 },
      });
      c.start();
      try {
        await eventually('stream refused', async () => expect(c.lastStreamError?.code).toBe(7 /* PERMISSION_DENIED */));
        expect(applied).toEqual([]);
        return c.lastStreamError!.message;
      } finally {
        c.stop();
      }
    };
    expect(await refusal(node('bookinfo-ratings'), 'reviews-projected-token')).toContain(`token is for ${REVIEWS_ID}, node claims spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings`);
    expect(await refusal(node('bookinfo-reviews'), 'forged-token')).toContain('service account token rejected by TokenReview');
  }, 30_000);

  it('a restarted replica reuses the Secret instead of creating a CA', async () => {
    const root = secretRoot();
    const creates = secretCreates();
    await stop(a.child);
    a = await startReplica('a-restarted');
    expect(secretCreates()).toBe(creates);
    expect(secretRoot()).toBe(root);
    expect((await requestSvid(a, 'reviews-projected-token')).trustBundlePem.trim()).toBe(root.trim());
  }, 30_000);

  it('refuses an unknown TSMESH_REGISTRY, naming the variable', async () => {
    const c = spawn(process.execPath, [CP, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', join(dir, 'state2')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, TSMESH_REGISTRY: 'consul' },
    });
    procs.add(c);
    let err = '';
    c.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => c.once('exit', r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/TSMESH_REGISTRY.*consul/);
  }, 30_000);
});

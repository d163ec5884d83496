// Kubernetes mode end to end, for real where this machine allows it (root;
// skipped with the reason otherwise): two network namespaces stand in for two
// pods, a mesh-control-plane with TSMESH_REGISTRY=kubernetes reads a fake API
// server (a Service with a ClusterIP, its EndpointSlice, the pods, a STRICT
// MeshConfig; TokenReview for the pods' projected tokens). Each "pod" gets
// exactly what the injector writes: the tsmesh-init container's command
// installs the iptables rules, and `mesh-proxy sidecar` runs as UID 1337 with
// the injected environment (downward API resolved). An unmodified curl in one
// pod calls the other's ClusterIP: the call is intercepted, routed on demand
// by the ClusterIP, carried over mTLS with certificates the CA issued against
// TokenReview, delivered to the app through the peer's inbound listener.
// Fixed ports (15001, 15006, 15012, 15021) are the injected ones; they live in
// the test's own namespaces.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectObject } from '../inject/inject.js';
import { installObjects } from '../install/render.js';
import { PROXY_MAIN, addonOrReason, asProxy, inNs, killAll, netnsUnavailable, root, sh, startInNs, type NsProcess } from '../iptables/test/netns.js';
import { FakeApiServer } from './fake-apiserver.js';
import { selfSigned } from '../../proxy/test/certs.js';
import { TSMESH_PLURALS } from '../store/kinds.js';

const here = dirname(fileURLToPath(import.meta.url));
const CP_MAIN = join(root, 'dist', 'control-plane', 'main.js');
const tag = `${process.pid % 100000}`;
const POD_NS = `tsk-pod-${tag}`;
const PEER_NS = `tsk-peer-${tag}`;
const POD_IP = '10.232.0.1';
const PEER_IP = '10.232.0.2';
const CLUSTER_IP = '10.96.0.50';
const CP_ADDRESS = '127.0.0.1:15012';
const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/productpage';

const skipReason = netnsUnavailable(tag);

/** The status code curl gets from the app's pod ('000' when the connection fails). */
const httpStatus = (url: string) => inNs(POD_NS, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', url], 10_000).then((x) => x.stdout, () => '000');

/** The mesh's MeshConfig object as the fake API server sends it (a later resourceVersion for each change). */
const meshConfig = (spec: Record<string, unknown>, rv: string) => ({
  apiVersion: 'tsmesh.io/v1alpha1', kind: 'MeshConfig',
  metadata: { name: 'mesh', namespace: 'tsmesh-system', uid: 'mc1', resourceVersion: rv, generation: Number(rv) },
  spec,
});
const procs: ChildProcess[] = [];
/** Each pod's sidecar process: its stdout's JSON lines (access logs) are read through `next`. */
const sidecars = new Map<string, NsProcess>();

interface PodFacts {
  ns: string;
  name: string;
  uid: string;
  ip: string;
  sa: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  containerPort?: number;
}

function podManifest(p: PodFacts): any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: 'default', uid: p.uid, resourceVersion: '20', labels: p.labels, ...(p.annotations ? { annotations: p.annotations } : {}) },
    spec: {
      serviceAccountName: p.sa,
      nodeName: 'kind-worker',
      containers: [{
        name: p.labels.app,
        image: 'example/app:1',
        ...(p.containerPort ? { ports: [{ containerPort: p.containerPort }] } : {}),
        // kubelet probes of the app: under STRICT they only work rewritten to the sidecar (k8s/inject/probes.ts).
        // The liveness probe's port has nothing listening: a failing probe must fail through the sidecar too.
        ...(p.containerPort ? { readinessProbe: { httpGet: { path: '/healthz', port: p.containerPort } }, livenessProbe: { tcpSocket: { port: 1 } } } : {}),
      }],
    },
  };
}

/** The injected pod as the kubelet would run it: the init container's command and the proxy's resolved environment. */
function injected(p: PodFacts, files: { token: string; bundle: string }) {
  const pod = injectObject(podManifest(p), { controlPlaneAddress: CP_ADDRESS, image: 'tsmesh:test' }) as any;
  const init = pod.spec.initContainers.find((c: any) => c.name === 'tsmesh-init');
  const proxy = pod.spec.initContainers.find((c: any) => c.name === 'tsmesh-proxy');
  const fields: Record<string, string> = {
    'metadata.name': p.name, 'metadata.namespace': 'default', 'metadata.uid': p.uid,
    'status.podIP': p.ip, 'spec.serviceAccountName': p.sa, 'spec.nodeName': 'kind-worker',
  };
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const e of proxy.env) env[e.name] = e.value ?? fields[e.valueFrom.fieldRef.fieldPath];
  // The projected token and the trust-bundle ConfigMap are mounted at image paths; here they are files of the test.
  env.TSMESH_TOKEN_PATH = files.token;
  env.TSMESH_TRUST_BUNDLE_PATH = files.bundle;
  // The image keeps the build in /app; here it is this checkout.
  const local = (argv: string[]) => argv.map((a) => a.replace(/^\/app\//, `${root}/`)).map((a) => (a === 'node' ? process.execPath : a));
  return { pod: { ...pod, status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] } }, initArgv: local([...init.command, ...init.args]), proxyArgv: local([...proxy.command, ...proxy.args]), env };
}

describe.skipIf(skipReason !== undefined)('Kubernetes mode end to end: injected pods in network namespaces', () => {
  let addonProblem: string | undefined;
  let dir: string | undefined;
  let api: FakeApiServer | undefined;
  let relay: net.Server | undefined;
  let appPort = 0;
  let dbPort = 0;
  let adminPort = 0;
  let podOnlyPort = 0;
  let extPort = 0;
  let meshedDbPort = 0;
  let httpsPort = 0;
  let tlsDir: string | undefined;

  beforeAll(async () => {
    addonProblem = await addonOrReason();
    if (addonProblem) return;
    for (const ns of [POD_NS, PEER_NS]) {
      const r = sh(['ip', 'netns', 'add', ns]);
      if (r.status !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr}`);
    }
    const steps = [
      ['ip', 'link', 'add', `vk-p${tag}`, 'netns', POD_NS, 'type', 'veth', 'peer', 'name', `vk-q${tag}`, 'netns', PEER_NS],
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'addr', 'add', `${POD_IP}/24`, 'dev', `vk-p${tag}`],
      ['ip', 'netns', 'exec', PEER_NS, 'ip', 'addr', 'add', `${PEER_IP}/24`, 'dev', `vk-q${tag}`],
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'link', 'set', `vk-p${tag}`, 'up'],
      ['ip', 'netns', 'exec', PEER_NS, 'ip', 'link', 'set', `vk-q${tag}`, 'up'],
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'link', 'set', 'lo', 'up'],
      ['ip', 'netns', 'exec', PEER_NS, 'ip', 'link', 'set', 'lo', 'up'],
      // The service CIDR is routable (as kube-proxy's rules make it); the sidecar's redirect catches it first.
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'route', 'add', '10.96.0.0/16', 'dev', `vk-p${tag}`],
    ];
    for (const s of steps) {
      const r = sh(s);
      if (r.status !== 0) throw new Error(`${s.join(' ')}: ${r.stderr}`);
    }
    const app = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'http', 'reviews', '0.0.0.0']);
    appPort = (await app.next((m) => m.event === 'listening')).port;
    // An un-meshed TCP service in the peer pod (a database its manifest excludes from interception).
    const db = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'tcp', 'ratings-db', '0.0.0.0']);
    dbPort = (await db.next((m) => m.event === 'listening')).port;
    // The reviews pod's second app port (a second port of its Service), and a plain HTTP server outside the
    // mesh (its port excluded from interception: nothing in the registry points at it).
    const admin = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'http', 'reviews-admin', '0.0.0.0']);
    adminPort = (await admin.next((m) => m.event === 'listening')).port;
    const ext = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'http', 'outside', '0.0.0.0']);
    extPort = (await ext.next((m) => m.event === 'listening')).port;
    // An HTTPS server outside the mesh (a ServiceEntry names it), its port excluded from interception too.
    tlsDir = mkdtempSync(join(tmpdir(), 'tsmesh-k8s-tls-'));
    chmodSync(tlsDir, 0o755);
    const tls = await selfSigned();
    writeFileSync(join(tlsDir, 'cert.pem'), tls.cert);
    writeFileSync(join(tlsDir, 'key.pem'), tls.key);
    const secure = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'https', 'outside-tls', '0.0.0.0'], { ...process.env, TLS_CERT: join(tlsDir, 'cert.pem'), TLS_KEY: join(tlsDir, 'key.pem') });
    httpsPort = (await secure.next((m) => m.event === 'listening')).port;
    // A meshed TCP service (a database behind the reviews pod's sidecar): the Service's `tcp-db` port.
    // A port of the reviews pod that no Service names (a metrics endpoint scraped by pod IP).
    const podOnly = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'http', 'reviews-metrics', '0.0.0.0']);
    podOnlyPort = (await podOnly.next((m) => m.event === 'listening')).port;
    const meshedDb = startInNs(procs, PEER_NS, [process.execPath, join(root, 'k8s', 'iptables', 'test', 'app-echo.mjs'), 'tcp', 'reviews-db', '0.0.0.0']);
    meshedDbPort = (await meshedDb.next((m) => m.event === 'listening')).port;

    const reviews: PodFacts = { ns: PEER_NS, name: 'reviews-v1-6c8f9d7b5-abcde', uid: 'p-reviews', ip: PEER_IP, sa: 'reviews', labels: { app: 'reviews', version: 'v1' }, annotations: { 'sidecar.tsmesh.io/excludeInboundPorts': `${dbPort},${extPort},${httpsPort}` }, containerPort: appPort };
    const productpage: PodFacts = { ns: POD_NS, name: 'productpage-v1-5f7d8c9b4-fghij', uid: 'p-productpage', ip: POD_IP, sa: 'productpage', labels: { app: 'productpage', version: 'v1' } };

    dir = mkdtempSync(join(tmpdir(), 'tsmesh-k8s-netns-'));
    chmodSync(dir, 0o755); // the sidecars run as UID 1337
    const pods = [reviews, productpage].map((p) => ({ facts: p, ...injected(p, { token: join(dir!, `${p.sa}.token`), bundle: join(dir!, 'root-cert.pem') }) }));

    // The API server's view: the reviews Service (ClusterIP), its EndpointSlice, the injected pods, STRICT mTLS.
    api = new FakeApiServer();
    await api.start();
    api.setList('/api/v1/services', 'ServiceList', '100', [{
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'reviews', namespace: 'default', uid: 'svc-reviews', resourceVersion: '10', labels: { app: 'reviews' } },
      spec: { type: 'ClusterIP', clusterIP: CLUSTER_IP, clusterIPs: [CLUSTER_IP], selector: { app: 'reviews' }, ports: [{ name: 'http', protocol: 'TCP', port: 9080, targetPort: appPort }, { name: 'http-admin', protocol: 'TCP', port: 9081, targetPort: adminPort }, { name: 'tcp-db', protocol: 'TCP', port: 5432, targetPort: meshedDbPort }] },
    }]);
    api.setList('/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSliceList', '100', [{
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'reviews-x7k2p', namespace: 'default', uid: 'slice-reviews', resourceVersion: '11', labels: { 'kubernetes.io/service-name': 'reviews', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [PEER_IP], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'default', name: reviews.name, uid: reviews.uid } }],
      ports: [{ name: 'http', protocol: 'TCP', port: appPort }, { name: 'http-admin', protocol: 'TCP', port: adminPort }, { name: 'tcp-db', protocol: 'TCP', port: meshedDbPort }],
    }]);
    api.setList('/api/v1/pods', 'PodList', '100', pods.map((p) => p.pod));
    api.setList('/api/v1/namespaces', 'NamespaceList', '100', ['default', 'tsmesh-system'].map((name, i) => ({ metadata: { name, resourceVersion: String(i + 1) } })));
    api.setList('/apis/tsmesh.io/v1alpha1/meshconfigs', 'List', '100', [{
      apiVersion: 'tsmesh.io/v1alpha1', kind: 'MeshConfig',
      metadata: { name: 'mesh', namespace: 'tsmesh-system', uid: 'mc1', resourceVersion: '12', generation: 1 },
      spec: { mtls: { mode: 'STRICT' } },
    }]);
    for (const p of TSMESH_PLURALS.filter((x) => x !== 'meshconfigs')) api.setList(`/apis/tsmesh.io/v1alpha1/${p}`, 'List', '100', []);
    for (const p of ['httproutes', 'grpcroutes']) api.setList(`/apis/gateway.networking.k8s.io/v1/${p}`, 'List', '100', []);
    api.setList('/apis/networking.istio.io/v1/serviceentries', 'List', '100', []);
    api.objects.set('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tsmesh-sidecar-injector', structuredClone(installObjects().find((o) => o.kind === 'MutatingWebhookConfiguration')));
    for (const p of [reviews, productpage]) api.tokens.set(`${p.sa}-projected-token`, { username: `system:serviceaccount:default:${p.sa}`, audiences: ['tsmesh-ca'] });
    writeFileSync(join(dir, 'kubeconfig'), api.kubeConfig().exportConfig());

    // The control plane (outside the namespaces), as the installed Deployment runs it.
    const cp = spawn(process.execPath, [CP_MAIN, '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', join(dir, 'cp'), '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH, KUBECONFIG: join(dir, 'kubeconfig'),
        TSMESH_REGISTRY: 'kubernetes', TSMESH_POLICY_STORE: 'kubernetes', TSMESH_TRUST_DOMAIN: 'cluster.local', TSMESH_CA_SECRET: 'tsmesh-ca',
        TSMESH_TOKEN_AUDIENCE: 'tsmesh-ca', TSMESH_WEBHOOK_LISTEN: '127.0.0.1:0', TSMESH_WEBHOOK_CONFIG: 'tsmesh-sidecar-injector', POD_NAMESPACE: 'tsmesh-system',
      },
    });
    procs.push(cp);
    let out = '';
    let err = '';
    cp.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      cp.stdout!.on('data', (d) => ((out += d), /admin \d+/.test(out) && resolve()));
      cp.once('exit', (code) => reject(new Error(`mesh-control-plane exited ${code}: ${out}${err}`)));
    });
    const xdsPort = Number(/listening (\d+)/.exec(out)![1]);
    // The pods reach it at 127.0.0.1:15012 in their namespace, through a Unix socket.
    const sock = join(dir, 'cp.sock');
    relay = net.createServer((down) => {
      const up = net.connect(xdsPort, '127.0.0.1');
      down.pipe(up).pipe(down);
      const close = () => (down.destroy(), up.destroy());
      down.on('error', close).on('close', close);
      up.on('error', close).on('close', close);
    });
    await new Promise<void>((r) => relay!.listen(sock, r));
    await Promise.all([POD_NS, PEER_NS].map((ns) => startInNs(procs, ns, [process.execPath, join(here, '..', 'iptables', 'test', 'unix-relay.mjs'), '127.0.0.1', '15012', sock]).next((m) => m.event === 'listening')));

    // The mounted files: the trust bundle (the CA Secret's root) and each pod's projected token.
    copyFileSync(join(dir, 'cp', 'root-cert.pem'), join(dir, 'root-cert.pem'));
    chmodSync(join(dir, 'root-cert.pem'), 0o644);
    for (const p of [reviews, productpage]) writeFileSync(join(dir, `${p.sa}.token`), `${p.sa}-projected-token\n`, { mode: 0o644 });

    for (const p of pods) {
      // tsmesh-init, then tsmesh-proxy (native sidecar) as the kubelet starts them.
      const r = sh(['ip', 'netns', 'exec', p.facts.ns, ...p.initArgv]);
      if (r.status !== 0) throw new Error(`tsmesh-init in ${p.facts.ns}: ${r.stderr}`);
      sidecars.set(p.facts.ns, startInNs(procs, p.facts.ns, [...asProxy, ...p.proxyArgv], p.env));
    }
    // The startup probe: /ready on the health port, once the proxy has its certificate and config.
    for (const ns of [POD_NS, PEER_NS]) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const code = await inNs(ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', 'http://127.0.0.1:15021/ready']).then((x) => x.stdout, () => '000');
        if (code === '200') break;
        if (Date.now() > deadline) throw new Error(`sidecar in ${ns} not ready (last ${code}); control plane: ${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }, 60_000);

  afterAll(async () => {
    await killAll(procs);
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    for (const ns of [POD_NS, PEER_NS]) sh(['ip', 'netns', 'del', ns]);
    await new Promise<void>((r) => (relay ? relay.close(() => r()) : r()));
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("an unmodified app's call to a ClusterIP crosses the mesh over mTLS with CA-issued identities", async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const res = await inNs(POD_NS, ['curl', '-s', '--max-time', '10', `http://${CLUSTER_IP}:9080/reviews/1`], 15_000);
    const seen = JSON.parse(res.stdout);
    expect(seen).toMatchObject({ app: 'reviews', method: 'GET', url: '/reviews/1' });
    expect(seen.from).toBe('127.0.0.1'); // delivered by the peer's sidecar
    expect(seen.headers['x-forwarded-client-cert']).toContain(`URI=${PRODUCTPAGE}`);
    // Both sidecars proved who they are with their projected tokens (CSR and xDS).
    const reviewed = new Set(api!.tokenReviews.filter((r) => r.audiences.includes('tsmesh-ca')).map((r) => r.token));
    expect(reviewed).toEqual(new Set(['reviews-projected-token', 'productpage-projected-token']));
  }, 20_000);

  it('the same by service name (Host: reviews:9080)', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const res = await inNs(POD_NS, ['curl', '-s', '--max-time', '10', '-H', 'host: reviews:9080', `http://${CLUSTER_IP}:9080/by-name`], 15_000);
    expect(JSON.parse(res.stdout)).toMatchObject({ app: 'reviews', url: '/by-name', from: '127.0.0.1' });
  }, 20_000);

  it("a second port of the pod's Service reaches the second app: the inbound chain is picked by the original destination's port", async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const res = await inNs(POD_NS, ['curl', '-s', '--max-time', '10', `http://${CLUSTER_IP}:9081/admin`], 15_000);
    const seen = JSON.parse(res.stdout);
    expect(seen).toMatchObject({ app: 'reviews-admin', url: '/admin', from: '127.0.0.1' });
    expect(seen.headers['x-forwarded-client-cert']).toContain(`URI=${PRODUCTPAGE}`);
    // The first port still reaches the first app.
    const first = JSON.parse((await inNs(POD_NS, ['curl', '-s', '--max-time', '10', `http://${CLUSTER_IP}:9080/again`], 15_000)).stdout);
    expect(first).toMatchObject({ app: 'reviews', url: '/again' });
  }, 30_000);

  it('plain HTTP to a host outside the mesh is forwarded to the original destination (ALLOW_ANY, PassthroughCluster)', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    for (const path of ['/outside/1', '/outside/2']) {
      const res = await inNs(POD_NS, ['curl', '-s', '--max-time', '10', '-H', 'host: api.example.com', `http://${PEER_IP}:${extPort}${path}`], 15_000);
      const seen = JSON.parse(res.stdout);
      // Sent by sidecar A itself (UID 1337, not redirected) in plaintext to where the app was connecting, Host kept.
      expect(seen).toMatchObject({ app: 'outside', url: path, from: POD_IP });
      expect(seen.headers.host).toBe('api.example.com');
    }
    // HTTP/2 with prior knowledge: the h2c server reads through the replay wrapper, which carries the original destination.
    const h2 = await inNs(POD_NS, ['curl', '-s', '--max-time', '10', '--http2-prior-knowledge', '-H', 'host: api.example.com', `http://${PEER_IP}:${extPort}/outside/h2c`], 15_000);
    expect(JSON.parse(h2.stdout)).toMatchObject({ app: 'outside', url: '/outside/h2c', from: POD_IP });
    const metrics = await inNs(POD_NS, ['curl', '-s', '--max-time', '5', 'http://127.0.0.1:15000/stats/prometheus']);
    const line = metrics.stdout.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('destination_service="PassthroughCluster"') && l.includes('response_code="200"'));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ').pop())).toBe(3);
  }, 40_000);

  it("the sidecar's Prometheus port (15090) answers on the pod IP for scrapers elsewhere; the admin API stays pod-local", async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    // From the other pod, not redirected (as a scraper outside the mesh): the reviews sidecar's inbound metrics.
    const res = await inNs(POD_NS, [...asProxy, 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:15090/stats/prometheus`]);
    expect(res.stdout.split('\n').some((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes('destination_app="reviews"'))).toBe(true);
    await expect(inNs(POD_NS, [...asProxy, 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:15000/config_dump`])).rejects.toMatchObject({ stdout: '' });
  }, 20_000);

  it('opaque TCP to a destination outside the mesh passes through the sidecar to where the app was connecting', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const client = `const s = require('net').connect(${dbPort}, '${PEER_IP}', () => s.write('ping\\n')); s.pipe(process.stdout);`;
    const res = await inNs(POD_NS, [process.execPath, '-e', client]);
    expect(res.stdout).toBe(`ratings-db echoed ping from ${POD_IP}\n`);
    // It went through sidecar A's outbound listener (no chain claims TCP) as Istio's PassthroughCluster.
    const metrics = await inNs(POD_NS, ['curl', '-s', '--max-time', '5', 'http://127.0.0.1:15000/stats/prometheus']);
    expect(metrics.stdout.split('\n').some((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('destination_service="PassthroughCluster"'))).toBe(true);
  }, 20_000);

  it("opaque TCP to a mesh service's ClusterIP crosses the mesh over mTLS to the app behind the peer's sidecar", async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const client = `const s = require('net').connect(5432, '${CLUSTER_IP}', () => s.write('select 1\\n')); s.pipe(process.stdout);`;
    const res = await inNs(POD_NS, [process.execPath, '-e', client], 15_000);
    // Delivered by the peer's sidecar (inbound TCP chain, on its own pod), not by the caller's.
    expect(res.stdout).toMatch(/^reviews-db echoed select 1 from (127\.0\.0\.1|10\.232\.0\.2)\n$/);
    // The reviews sidecar took it on its STRICT inbound: an mTLS TCP connection from productpage's identity.
    const metrics = await inNs(POD_NS, [...asProxy, 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:15090/stats/prometheus`]);
    const opened = metrics.stdout.split('\n').filter((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('reporter="destination"'));
    expect(opened.some((l) => l.includes('connection_security_policy="mutual_tls"') && l.includes(`source_principal="${PRODUCTPAGE}"`))).toBe(true);
  }, 20_000);

  it('with outboundTrafficPolicy REGISTRY_ONLY in the MeshConfig, plain HTTP to a host outside the mesh gets 502 and opaque TCP is closed', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    // With Istio's JSON access log on: the blocked calls are logged as BlackHoleCluster, with the address the app dialled.
    const mesh = (mode: string, rv: string) => meshConfig({ mtls: { mode: 'STRICT' }, outboundTrafficPolicy: { mode }, accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON' }, rv);
    const status = () => httpStatus(`http://${PEER_IP}:${extPort}/blocked`);
    const until = async (want: string) => {
      const deadline = Date.now() + 15_000;
      let last = '';
      while ((last = await status()) !== want) {
        if (Date.now() > deadline) throw new Error(`expected ${want}, still ${last}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    api!.send('/apis/tsmesh.io/v1alpha1/meshconfigs', 'MODIFIED', mesh('REGISTRY_ONLY', '13'));
    await until('502');
    // Opaque TCP to outside the mesh is closed too (Istio's BlackHoleCluster), not passed through.
    const tcpOut = `const s = require('net').connect(${dbPort}, '${PEER_IP}', () => s.write('ping\\n')); s.on('error', () => {}); s.pipe(process.stdout);`;
    expect((await inNs(POD_NS, [process.execPath, '-e', tcpOut])).stdout).toBe('');
    const logs = sidecars.get(POD_NS)!;
    expect(await logs.next((l) => l.path === '/blocked' && l.response_code === 502)).toMatchObject({
      response_code_details: 'direct_response',
      upstream_cluster: 'BlackHoleCluster',
      downstream_local_address: `${PEER_IP}:${extPort}`,
    });
    expect(await logs.next((l) => l.upstream_cluster === 'BlackHoleCluster' && l.protocol === null)).toMatchObject({
      response_code: 0,
      upstream_host: `${PEER_IP}:${dbPort}`,
      downstream_local_address: `${PEER_IP}:${dbPort}`,
    });
    const blocked = await inNs(POD_NS, ['curl', '-s', '--max-time', '5', 'http://127.0.0.1:15000/stats/prometheus']);
    expect(blocked.stdout.split('\n').some((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('destination_service="BlackHoleCluster"'))).toBe(true);
    // Mesh services are still reached.
    expect(JSON.parse((await inNs(POD_NS, ['curl', '-s', '--max-time', '10', `http://${CLUSTER_IP}:9080/still`], 15_000)).stdout)).toMatchObject({ app: 'reviews' });
    api!.send('/apis/tsmesh.io/v1alpha1/meshconfigs', 'MODIFIED', mesh('ALLOW_ANY', '14'));
    await until('200');
  }, 45_000);

  it('a redirected port no Service names is passed through by the inbound sidecar to that port (InboundPassthroughCluster), not to the app port', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const mesh = (mode: string, rv: string) => meshConfig({ mtls: { mode } }, rv);
    // The caller's sidecar passes PEER_IP:<pod-only port> through in plaintext (no Service there), so the
    // peer must be PERMISSIVE to take it, as a Prometheus outside the mesh scraping by pod IP would need.
    api!.send('/apis/tsmesh.io/v1alpha1/meshconfigs', 'MODIFIED', mesh('PERMISSIVE', '15'));
    const call = () => inNs(POD_NS, ['curl', '-s', '--max-time', '5', `http://${PEER_IP}:${podOnlyPort}/metrics`], 10_000).then((x) => x.stdout, () => '');
    const deadline = Date.now() + 15_000;
    let body = '';
    while (!(body = await call()).includes('"app"')) {
      if (Date.now() > deadline) throw new Error(`no answer from the pod-only port (last: ${body || 'nothing'})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // Delivered to the port the caller dialled, from the passthrough's bind address (127.0.0.6), by the
    // peer's sidecar: not to the pod's first app port.
    expect(JSON.parse(body)).toMatchObject({ app: 'reviews-metrics', url: '/metrics', from: '127.0.0.6' });
    const metrics = await inNs(POD_NS, [...asProxy, 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:15090/stats/prometheus`]);
    expect(metrics.stdout.split('\n').some((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('reporter="destination"') && l.includes('destination_service="InboundPassthroughClusterIpv4"'))).toBe(true);
    api!.send('/apis/tsmesh.io/v1alpha1/meshconfigs', 'MODIFIED', mesh('STRICT', '16'));
    // Back under STRICT the plaintext passthrough chain is gone: a new plaintext connection to that port
    // (UID 1337: not redirected, straight to the peer) is refused. (The caller's sidecar may still hold a
    // pooled connection opened under PERMISSIVE.)
    const direct = () => inNs(POD_NS, [...asProxy, 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:${podOnlyPort}/direct`], 10_000).then((x) => x.stdout, () => '');
    const strictBy = Date.now() + 15_000;
    while ((body = await direct()) !== '') {
      if (Date.now() > strictBy) throw new Error(`still answered under STRICT: ${body}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 45_000);

  it("kubelet's probes of a STRICT pod's app, rewritten to the sidecar's health port, report the app's health", async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    // The kubelet is outside the pod: UID 1337 in the other namespace is not redirected, so curl goes straight to the pod IP.
    const probe = (path: string) => inNs(POD_NS, [...asProxy, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${PEER_IP}:15021${path}`]).then((x) => x.stdout, (x) => x.stdout);
    expect(await probe('/app-health/reviews/readyz')).toBe('200');
    expect(await probe('/app-health/reviews/livez')).toBe('503');
  }, 20_000);

  it('under REGISTRY_ONLY, ServiceEntry hosts are still reached: HTTP by Host, the app\'s own TLS by SNI (passed through untouched); other hosts stay blocked', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const mesh = (mode: string, rv: string) => meshConfig({ mtls: { mode: 'STRICT' }, outboundTrafficPolicy: { mode } }, rv);
    const entry = (name: string, host: string, port: number, protocol: string, rv: string) => ({
      apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry',
      metadata: { name, namespace: 'default', uid: `se-${name}`, resourceVersion: rv, generation: 1 },
      spec: { hosts: [host], location: 'MESH_EXTERNAL', resolution: 'STATIC', ports: [{ number: port, name: protocol.toLowerCase(), protocol }], endpoints: [{ address: PEER_IP }] },
    });
    const SE = '/apis/networking.istio.io/v1/serviceentries';
    api!.send('/apis/tsmesh.io/v1alpha1/meshconfigs', 'MODIFIED', mesh('REGISTRY_ONLY', '17'));
    api!.send(SE, 'ADDED', entry('plain', 'plain.outside.test', extPort, 'HTTP', '30'));
    api!.send(SE, 'ADDED', entry('secure', 'secure.outside.test', httpsPort, 'HTTPS', '31'));
    const plain = () => inNs(POD_NS, ['curl', '-s', '--max-time', '5', '-H', 'host: plain.outside.test', `http://${PEER_IP}:${extPort}/entry`], 10_000).then((x) => x.stdout, () => '');
    const tls = (host: string) =>
      inNs(POD_NS, ['curl', '-sk', '--max-time', '5', '--resolve', `${host}:${httpsPort}:${PEER_IP}`, `https://${host}:${httpsPort}/tls`], 10_000).then((x) => x.stdout, () => '');
    const blockedStatus = () => httpStatus(`http://${PEER_IP}:${extPort}/blocked`);
    const deadline = Date.now() + 15_000;
    let body = '';
    // REGISTRY_ONLY in force first (under ALLOW_ANY every one of these would pass through anyway).
    while ((await blockedStatus()) !== '502' || !(body = await plain()).includes('"app"') || !(await tls('secure.outside.test')).includes('"app"')) {
      if (Date.now() > deadline) throw new Error(`ServiceEntry hosts not reached under REGISTRY_ONLY (last: ${body || 'nothing'})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // HTTP: routed by Host to the entry's endpoint by the caller's sidecar.
    expect(JSON.parse(body)).toMatchObject({ app: 'outside', url: '/entry', from: POD_IP, headers: { host: 'plain.outside.test' } });
    // TLS: the app's own handshake reached the server (its SNI intact); the sidecar only matched the SNI.
    expect(JSON.parse(await tls('secure.outside.test'))).toMatchObject({ app: 'outside-tls', url: '/tls', sni: 'secure.outside.test' });
    // Another name on the same port, and HTTP to a host no entry names: still blocked.
    expect(await tls('elsewhere.outside.test')).toBe('');
    const metrics = await inNs(POD_NS, ['curl', '-s', '--max-time', '5', 'http://127.0.0.1:15000/stats/prometheus']);
    const lines = metrics.stdout.split('\n');
    expect(lines.some((l) => l.startsWith('istio_tcp_connections_opened_total{') && l.includes('destination_service="secure.outside.test"'))).toBe(true);
    expect(lines.some((l) => l.startsWith('istio_requests_total{') && l.includes('destination_service="plain.outside.test"') && l.includes('response_code="200"'))).toBe(true);
    api!.send(SE, 'DELETED', entry('plain', 'plain.outside.test', extPort, 'HTTP', '32'));
    api!.send(SE, 'DELETED', entry('secure', 'secure.outside.test', httpsPort, 'HTTPS', '33'));
    api!.send('/apis/tsmesh.io/v1alpha1/meshconfigs', 'MODIFIED', mesh('ALLOW_ANY', '18'));
  }, 45_000);

  it("the peer's STRICT inbound refuses a plaintext caller that bypasses the sidecar", async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    // UID 1337 is not redirected: curl reaches the peer pod directly in plaintext and is closed by its inbound.
    const plain = inNs(POD_NS, [...asProxy, 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:${appPort}/direct`]);
    await expect(plain).rejects.toMatchObject({ stdout: '' });
  }, 20_000);
});

if (skipReason !== undefined) {
  describe('Kubernetes mode end to end in network namespaces', () => {
    it.skip(`skipped: ${skipReason}`, () => {});
  });
}

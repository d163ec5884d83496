// Kubernetes mode end to end against the fake API server: the CA lands in its
// Secret, the trust bundle in every namespace, the webhook configuration's
// caBundle is the mesh root, and the API server's view of the webhook (TLS to
// <service>.<namespace>.svc verified with that caBundle) injects pods.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fjp from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubernetesMode, type KubernetesMode } from '../control-plane.js';
import { installObjects } from '../install/render.js';
import { FakeApiServer } from './fake-apiserver.js';
import { TSMESH_PLURALS } from '../store/kinds.js';

const here = dirname(fileURLToPath(import.meta.url));
const fx = (n: string) => JSON.parse(readFileSync(join(here, 'fixtures', `${n}.json`), 'utf8'));
const review = JSON.parse(readFileSync(join(here, '..', 'webhook', 'fixtures', 'admission-review-pod.json'), 'utf8'));
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tsmesh-sidecar-injector';

let api: FakeApiServer;
let mode: KubernetesMode;

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
  mode = await startKubernetesMode({ kubeConfig: api.kubeConfig(), namespace: 'tsmesh-system', trustDomain: 'example.org', webhook: { host: '127.0.0.1', port: 0 } });
});
afterAll(async () => {
  await mode?.close();
  await api?.close();
});

describe('startKubernetesMode', () => {
  it('stores the CA in its Secret, publishes the trust bundle, and points the webhook at the mesh root', async () => {
    const root = mode.ca.rootsPem.join('');
    expect(Buffer.from(api.objects.get('/api/v1/namespaces/tsmesh-system/secrets/tsmesh-ca').data['root-cert.pem'], 'base64').toString()).toBe(root);
    expect(Buffer.from(api.objects.get(MWC).webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(root);
    await api.until(() => ['default', 'bookinfo', 'tsmesh-system'].every((n) => api.objects.has(`/api/v1/namespaces/${n}/configmaps/tsmesh-ca-root`)));
    expect(api.objects.get('/api/v1/namespaces/bookinfo/configmaps/tsmesh-ca-root').data['root-cert.pem']).toBe(root);
    expect(mode.registry.endpoints('bookinfo', 'reviews')[0]!.identity).toBe('spiffe://example.org/ns/bookinfo/sa/bookinfo-reviews');
  });

  it('the webhook is reachable the way the API server calls it (TLS verified by the caBundle) and injects', async () => {
    const caBundle = Buffer.from(api.objects.get(MWC).webhooks[0].clientConfig.caBundle, 'base64').toString();
    const res = await new Promise<any>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: mode.webhook.port, path: '/inject', method: 'POST', ca: caBundle, servername: 'tsmesh-control-plane.tsmesh-system.svc', headers: { 'content-type': 'application/json' } },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c) => chunks.push(c));
          r.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(review));
    });
    const pod = fjp.applyPatch(structuredClone(review.request.object), JSON.parse(Buffer.from(res.response.patch, 'base64').toString())).newDocument as any;
    const proxy = pod.spec.initContainers.find((c: any) => c.name === 'tsmesh-proxy');
    expect(proxy.env.find((e: any) => e.name === 'TSMESH_TRUST_DOMAIN').value).toBe('example.org');
  });
});

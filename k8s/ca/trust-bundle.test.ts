import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeApiServer } from '../test/fake-apiserver.js';
import { setWebhookCaBundle } from '../webhook/ca-bundle.js';
import { installObjects } from '../install/render.js';
import { TrustBundlePublisher } from './trust-bundle.js';

const ns = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: `ns-${name}`, resourceVersion: rv, labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
const cm = (n: string) => `/api/v1/namespaces/${n}/configmaps/tsmesh-ca-root`;
const ROOT1 = '-----BEGIN CERTIFICATE-----\nMIIBroot1\n-----END CERTIFICATE-----\n';
const ROOT2 = '-----BEGIN CERTIFICATE-----\nMIIBroot2\n-----END CERTIFICATE-----\n';

let api: FakeApiServer;
beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
});
afterEach(() => api.close());

describe('TrustBundlePublisher', () => {
  it('publishes tsmesh-ca-root into every namespace, new ones too, and re-publishes a rotated bundle', async () => {
    api.setList('/api/v1/namespaces', 'NamespaceList', '100', [ns('default', '1'), ns('demo', '2')]);
    const pub = new TrustBundlePublisher(api.kubeConfig(), ROOT1);
    try {
      await pub.start();
      await api.until(() => api.objects.has(cm('default')) && api.objects.has(cm('demo')) && api.openWatch('/api/v1/namespaces') !== undefined);
      expect(api.objects.get(cm('demo')).data).toEqual({ 'root-cert.pem': ROOT1 });
      expect(api.patches.every((p) => p.contentType.startsWith('application/apply-patch+yaml'))).toBe(true);

      api.send('/api/v1/namespaces', 'ADDED', ns('payments', '101'));
      await vi.waitFor(() => expect(pub.publishedNamespaces()).toEqual(['default', 'demo', 'payments']));
      expect(api.objects.get(cm('payments')).data).toEqual({ 'root-cert.pem': ROOT1 });

      await pub.setBundle(ROOT1 + ROOT2);
      for (const n of ['default', 'demo', 'payments']) expect(api.objects.get(cm(n)).data['root-cert.pem']).toBe(ROOT1 + ROOT2);
      const count = api.patches.length;
      await pub.setBundle(ROOT1 + ROOT2); // unchanged: no writes
      expect(api.patches.length).toBe(count);
    } finally {
      pub.stop();
    }
  });
});

describe('setWebhookCaBundle', () => {
  it('fills the caBundle of the installed webhook configuration, once', async () => {
    const mwc = installObjects().find((o) => o.kind === 'MutatingWebhookConfiguration')!;
    const path = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/tsmesh-sidecar-injector';
    api.objects.set(path, structuredClone(mwc));
    await setWebhookCaBundle(api.kubeConfig(), ROOT1);
    const got = api.objects.get(path);
    expect(Buffer.from(got.webhooks[0].clientConfig.caBundle, 'base64').toString()).toBe(ROOT1);
    expect(got.webhooks[0].clientConfig.service.name).toBe('tsmesh-control-plane');
    expect(api.patches.map((p) => p.contentType)).toEqual(['application/json-patch+json']);
    await setWebhookCaBundle(api.kubeConfig(), ROOT1);
    expect(api.patches).toHaveLength(1);
  });
});

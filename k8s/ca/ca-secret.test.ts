import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../certs/ca.js';
import { generateCa } from '../../certs/ca-store.js';
import { FakeApiServer } from '../test/fake-apiserver.js';
import { loadOrCreateCaSecret } from './ca-secret.js';

const SECRET = '/api/v1/namespaces/tsmesh-system/secrets/tsmesh-ca';
let api: FakeApiServer;
beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
});
afterEach(() => api.close());

describe('CA in a Kubernetes Secret', () => {
  it('replicas starting together end up with one CA (the loser of the create race loads the winner)', async () => {
    const [a, b] = await Promise.all([
      loadOrCreateCaSecret(api.kubeConfig(), { namespace: 'tsmesh-system', trustDomain: 'cluster.local' }),
      loadOrCreateCaSecret(api.kubeConfig(), { namespace: 'tsmesh-system', trustDomain: 'cluster.local' }),
    ]);
    expect(new CertificateAuthority(a).trustBundlePem).toBe(new CertificateAuthority(b).trustBundlePem);
    const secret = api.objects.get(SECRET);
    expect(Object.keys(secret.data).sort()).toEqual(['root-cert.pem', 'root-key.pem']);
    expect(Buffer.from(secret.data['root-cert.pem'], 'base64').toString()).toBe(a.rootsPem[0]);
    // a restart loads it again
    const c = await loadOrCreateCaSecret(api.kubeConfig(), { namespace: 'tsmesh-system', trustDomain: 'cluster.local' });
    expect(c.rootsPem).toEqual(a.rootsPem);
  });

  it('loads an Istio-style cacerts Secret with an intermediate; refuses an incomplete one', async () => {
    const ca = await generateCa({ trustDomain: 'cluster.local', intermediate: true });
    const data = Object.fromEntries(Object.entries({ 'root-cert.pem': ca.files.rootCert, 'ca-cert.pem': ca.files.caCert, 'ca-key.pem': ca.files.caKey }).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]));
    api.objects.set('/api/v1/namespaces/mesh/secrets/cacerts', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cacerts', namespace: 'mesh' }, data });
    const m = await loadOrCreateCaSecret(api.kubeConfig(), { namespace: 'mesh', name: 'cacerts', trustDomain: 'cluster.local' });
    expect(m.rootsPem[0]).toBe(ca.files.rootCert);
    expect(m.signingCert.subject).not.toBe(m.signingCert.issuer);

    api.objects.set('/api/v1/namespaces/mesh/secrets/half', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'half', namespace: 'mesh' }, data: { 'root-cert.pem': data['root-cert.pem'] } });
    await expect(loadOrCreateCaSecret(api.kubeConfig(), { namespace: 'mesh', name: 'half', trustDomain: 'cluster.local' })).rejects.toMatchObject({ code: 'MESH_CA_SECRET' });
  });
});

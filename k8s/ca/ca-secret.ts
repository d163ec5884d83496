// The CA's key material in a Kubernetes Secret (default tsmesh-system/tsmesh-ca),
// so every control-plane replica signs with the same CA and a restarted pod
// keeps it. The keys are Istio's plugged-in CA names (root-cert.pem,
// root-key.pem, ca-cert.pem, ca-key.pem), so a Secret made for Istio's
// `cacerts` works as is. The first replica to start creates it; others that
// race lose with 409 Conflict and load the winner's.

import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.js';
import { MeshError } from '../../common/errors.js';
import type { CaMaterial } from '../../certs/ca.js';
import { CA_FILES, generateCa, loadCaFromPem } from '../../certs/ca-store.js';

export const CA_SECRET_NAME = 'tsmesh-ca';

type Data = Partial<Record<string, string>>;

const statusOf = (err: unknown): number | undefined => (err as { code?: number }).code;

function fromData(data: Data, where: string): Promise<CaMaterial> {
  const pem = (k: keyof typeof CA_FILES) => {
    const b64 = data[CA_FILES[k]];
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
  };
  const rootPem = pem('rootCert');
  const signer = pem('caCert') !== undefined ? { certPem: pem('caCert'), keyPem: pem('caKey') } : { certPem: rootPem, keyPem: pem('rootKey') };
  if (!rootPem || !signer.certPem || !signer.keyPem) {
    throw new MeshError('MESH_CA_SECRET', `${where} must hold ${CA_FILES.rootCert} and either ${CA_FILES.caCert}+${CA_FILES.caKey} or ${CA_FILES.rootKey}`);
  }
  return loadCaFromPem({ certPem: signer.certPem, keyPem: signer.keyPem, rootPem }, where);
}

export async function loadOrCreateCaSecret(
  kc: KubeConfig,
  opts: { namespace: string; name?: string; trustDomain: string; intermediate?: boolean; clock?: Clock },
): Promise<CaMaterial> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = opts.name ?? CA_SECRET_NAME;
  const where = `Secret ${opts.namespace}/${name}`;
  const read = async () => {
    try {
      return (await core.readNamespacedSecret({ name, namespace: opts.namespace })).data ?? {};
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new MeshError('MESH_CA_SECRET', `cannot read ${where}: ${(err as Error).message}`, { cause: err });
    }
  };
  const existing = await read();
  if (existing) return fromData(existing, where);

  const ca = await generateCa({ trustDomain: opts.trustDomain, intermediate: opts.intermediate, clock: opts.clock });
  const data: Record<string, string> = {};
  for (const [k, pem] of Object.entries(ca.files) as [keyof typeof CA_FILES, string][]) data[CA_FILES[k]] = Buffer.from(pem).toString('base64');
  try {
    await core.createNamespacedSecret({
      namespace: opts.namespace,
      body: { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name, namespace: opts.namespace, labels: { 'app.kubernetes.io/part-of': 'tsmesh' } }, data },
    });
    return ca.material;
  } catch (err) {
    if (statusOf(err) !== 409) throw new MeshError('MESH_CA_SECRET', `cannot create ${where}: ${(err as Error).message}`, { cause: err });
    const winner = await read(); // another replica created it first: use theirs
    if (!winner) throw new MeshError('MESH_CA_SECRET', `${where} conflicted on create but cannot be read`);
    return fromData(winner, where);
  }
}

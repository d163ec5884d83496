// The workload certificate as the proxy's SDS-style Secrets: `default` (own
// certificate and key) and `ROOTCA` (trust bundle), Istio's names. Feed them
// to Sidecar.updateSecret().
import type { Secret } from '../config/resources.js';
import type { WorkloadCertificate } from './workload-identity.js';

export const WORKLOAD_SECRET = 'default';
export const ROOTCA_SECRET = 'ROOTCA';

export function workloadSecrets(c: WorkloadCertificate): [Secret, Secret] {
  return [
    { name: WORKLOAD_SECRET, tlsCertificate: { certificateChain: c.certChainPem, privateKey: c.privateKeyPem } },
    { name: ROOTCA_SECRET, validationContext: { trustedCa: c.trustBundlePem } },
  ];
}

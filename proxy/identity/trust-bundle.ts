// Trust bundles and root rotation. Rotation runs in phases so no workload
// ever holds a certificate its peers do not trust:
//   steady      trust old,      sign with old
//   overlap     trust old+new,  sign with old   (bundles propagate)
//   switch      trust old+new,  sign with new   (workloads re-issue)
//   complete    trust new,      sign with new   (old root removed)
import { createHash } from 'node:crypto';
import { splitPemCerts } from '../../certs/pem.js';

export type RootRotationPhase = 'steady' | 'overlap' | 'switch' | 'complete';
export const ROTATION_PHASES: readonly RootRotationPhase[] = ['steady', 'overlap', 'switch', 'complete'];

export interface RotationState {
  /** Trust bundle (PEM) workloads should hold in this phase. */
  trustBundlePem: string;
  /** Which root issues workload certificates in this phase. */
  signWith: 'old' | 'new';
}

/** Pure: the bundle and signer for `phase` of a rotation from `oldRootPem` to `newRootPem`. */
export function rotationState(oldRootPem: string, newRootPem: string, phase: RootRotationPhase): RotationState {
  switch (phase) {
    case 'steady':
      return { trustBundlePem: mergeBundles(oldRootPem), signWith: 'old' };
    case 'overlap':
      return { trustBundlePem: mergeBundles(oldRootPem, newRootPem), signWith: 'old' };
    case 'switch':
      return { trustBundlePem: mergeBundles(newRootPem, oldRootPem), signWith: 'new' };
    case 'complete':
      return { trustBundlePem: mergeBundles(newRootPem), signWith: 'new' };
  }
}

function fingerprint(pem: string): string {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');
}

/** Concatenates PEM bundles, dropping duplicate certificates (by DER hash), order kept. */
export function mergeBundles(...bundles: string[]): string {
  const seen = new Set<string>();
  let out = '';
  for (const b of bundles) {
    for (const c of splitPemCerts(b, 64)) {
      const fp = fingerprint(c);
      if (seen.has(fp)) continue;
      seen.add(fp);
      out += c;
    }
  }
  return out;
}

/** SHA-256 fingerprints of the certificates in a bundle (for comparing and logging). */
export function bundleFingerprints(bundle: string): string[] {
  return splitPemCerts(bundle, 64).map(fingerprint);
}

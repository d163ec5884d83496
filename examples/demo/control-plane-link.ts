// How the demo's sidecars reach the control plane: read from the
// control plane's state dir (`control-plane.json`, written at start). When the
// control plane runs its CA, xDS is TLS verified with `root-cert.pem` and each
// sidecar authenticates with a bootstrap token for its service account.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateTokenKey, mintBootstrapToken } from '../../control-plane/ca/bootstrap-token.js';
import type { ControlPlaneLink } from './bootstrap.js';

export async function controlPlaneLink(stateDir: string, xdsPort: number): Promise<ControlPlaneLink> {
  const infoFile = join(stateDir, 'control-plane.json');
  const info = existsSync(infoFile) ? (JSON.parse(readFileSync(infoFile, 'utf8')) as { tls?: boolean; rootCertFile?: string }) : {};
  return { xds: { host: '127.0.0.1', port: xdsPort }, ...(info.tls && info.rootCertFile ? { caRootFile: info.rootCertFile } : {}) };
}

/** A bootstrap token for `default/<serviceAccount>` (what `meshctl token create` prints). */
export async function mintToken(stateDir: string, serviceAccount: string): Promise<string> {
  const key = await loadOrCreateTokenKey(join(stateDir, 'ca'));
  return mintBootstrapToken({ key, trustDomain: 'cluster.local', namespace: 'default', serviceAccount, ttlMs: 3_600_000 });
}

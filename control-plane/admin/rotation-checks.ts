// What a root rotation waits on, each read from the mesh as it runs: that
// every connected proxy ACKed the trust bundle it was sent (a propagation
// receipt for the bundle), and that every workload presents a certificate
// signed by the new CA (read from its inbound listener's TLS handshake).

import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { CA_FILES, type GeneratedCa } from '../../certs/ca-store.js';
import type { ProxyStatus } from './types.js';

/** What one proxy was last published: its secret type version and the bundle in it. */
export type PublishedBundle = (nodeId: string) => { secretVersion: string; bundle: string | undefined } | undefined;

export interface BundleReceipt {
  total: number;
  reached: number;
  pending: string[];
  nacked: string[];
  /** Connected but given no config by this control plane (e.g. refused node metadata): nothing to wait for. */
  skipped: string[];
}

/** Who of the connected proxies runs `bundle` (ACKed the secret version carrying it), who refused it, who not yet. */
export function bundleReceipt(bundle: string, proxies: ProxyStatus[], published: PublishedBundle): BundleReceipt {
  const r: BundleReceipt = { total: 0, reached: 0, pending: [], nacked: [], skipped: [] };
  for (const p of proxies) {
    const want = published(p.nodeId);
    const t = p.types.secret;
    if (!want) {
      r.skipped.push(p.nodeId);
      continue;
    }
    r.total++;
    if (want.bundle !== bundle) r.pending.push(p.nodeId);
    else if (t?.nack && t.nack.version === want.secretVersion) r.nacked.push(`${p.nodeId}: ${t.nack.error}`);
    else if (t?.ackedVersion === want.secretVersion) r.reached++;
    else r.pending.push(p.nodeId);
  }
  return r;
}

/** The leaf certificate a sidecar's inbound listener presents (the handshake is then dropped). */
export function presentedCertificate(host: string, port: number, timeoutMs = 3000): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], timeout: timeoutMs });
    const done = (err?: Error, cert?: X509Certificate) => {
      s.destroy();
      if (err) reject(err);
      else resolve(cert!);
    };
    s.once('secureConnect', () => {
      const c = s.getPeerX509Certificate();
      done(c ? undefined : new Error('no certificate presented'), c);
    });
    s.once('timeout', () => done(new Error(`no TLS answer within ${timeoutMs} ms`)));
    s.once('error', (e) => done(e));
  });
}

/** Signed by `signer` (the new CA's signing certificate, which chains to the new root). */
export function issuedBy(leaf: X509Certificate, signer: X509Certificate): boolean {
  return leaf.checkIssued(signer) && leaf.verify(signer.publicKey);
}

/**
 * Makes the new CA the one the next start loads: the old CA files move to
 * `<caDir>/retired-<time>/` (0700), the new ones take their names (keys 0600).
 * The bootstrap-token key in the same directory is left alone.
 */
export async function persistNewCa(caDir: string, next: GeneratedCa, now: number): Promise<string> {
  const retired = join(caDir, `retired-${new Date(now).toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(retired, { recursive: true, mode: 0o700 });
  await chmod(retired, 0o700);
  for (const name of Object.values(CA_FILES)) {
    const from = join(caDir, name);
    if (await stat(from).then(() => true, () => false)) await rename(from, join(retired, name));
  }
  for (const [k, pem] of Object.entries(next.files) as [keyof typeof CA_FILES, string][]) {
    const isKey = k === 'rootKey' || k === 'caKey';
    await writeFile(join(caDir, CA_FILES[k]), pem, { mode: isKey ? 0o600 : 0o644, flag: 'wx' });
  }
  return retired;
}

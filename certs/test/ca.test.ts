import { mkdtemp, readFile, rm, stat, chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { CertificateAuthority, CLOCK_SKEW_BACKDATE_MS } from '../ca.js';
import { CA_FILES, generateCa, loadCaFromFiles, loadOrCreateCa } from '../ca-store.js';
import { createWorkloadCsr } from '../csr.js';
import { x509 } from '../crypto.js';
import { CsrRejectedError } from '../errors.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tsmesh-ca-'));
  dirs.push(d);
  return d;
}

const ID = 'spiffe://cluster.local/ns/default/sa/web';

describe('workload certificate issuance', () => {
  it('issues an X.509-SVID with exactly the SPIFFE profile', async () => {
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const gen = await generateCa({ trustDomain: 'cluster.local', intermediate: true });
    const ca = new CertificateAuthority(gen.material, { clock });
    const { csrPem } = await createWorkloadCsr(ID);
    const a = await ca.issueWorkloadCertificate(csrPem, ID);
    const b = await ca.issueWorkloadCertificate(csrPem, ID);
    const leaf = new X509Certificate(a.certChainPem);
    expect(leaf.subjectAltName).toBe(`URI:${ID}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // Node reports the EKU here
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(Date.parse(leaf.validFrom)).toBe(clock.now() - CLOCK_SKEW_BACKDATE_MS);
    expect(Date.parse(leaf.validTo)).toBe(clock.now() + 24 * 3600_000);
    expect(leaf.serialNumber).not.toBe(new X509Certificate(b.certChainPem).serialNumber);
    // Chain: leaf + intermediate; the bundle holds the root only.
    const inter = new X509Certificate(gen.files.caCert!);
    expect(a.certChainPem).toContain(gen.files.caCert!.trim());
    expect(leaf.verify(inter.publicKey)).toBe(true);
    expect(a.trustBundlePem).toBe(gen.files.rootCert);
    const parsed = new x509.X509Certificate(a.certChainPem.split('\n-----BEGIN')[0]!);
    expect(parsed.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: false, critical: true });
    expect(parsed.getExtension(x509.SubjectAlternativeNameExtension)!.critical).toBe(true);
    expect(parsed.subject).toBe('');
  });

  it('refuses a TTL above the maximum and a CSR for another identity', async () => {
    const gen = await generateCa({ trustDomain: 'cluster.local' });
    const ca = new CertificateAuthority(gen.material, { maxTtlMs: 3600_000, defaultTtlMs: 1800_000 });
    const { csrPem } = await createWorkloadCsr(ID);
    await expect(ca.issueWorkloadCertificate(csrPem, ID, 3600_001)).rejects.toMatchObject({ code: 'MESH_CSR_TTL_TOO_LONG' });
    await expect(ca.issueWorkloadCertificate(csrPem, 'spiffe://cluster.local/ns/default/sa/db')).rejects.toMatchObject({
      code: 'MESH_CSR_IDENTITY_MISMATCH',
    });
    await expect(ca.issueWorkloadCertificate('garbage', ID)).rejects.toBeInstanceOf(CsrRejectedError);
    expect(() => new CertificateAuthority(gen.material, { maxTtlMs: 1000, defaultTtlMs: 2000 })).toThrow(/default TTL/);
  });
});

describe('CA persistence', () => {
  it('creates the CA on first start with 0700/0600 permissions and loads the same CA next time', async () => {
    const dir = join(await tmp(), 'state', 'ca');
    const first = await loadOrCreateCa({ stateDir: dir, trustDomain: 'cluster.local', intermediate: true });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, CA_FILES.rootKey))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, CA_FILES.caKey))).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateCa({ stateDir: dir, trustDomain: 'cluster.local', intermediate: true });
    expect(again.signingCert.serialNumber).toBe(first.signingCert.serialNumber);
    expect(again.rootsPem).toEqual(first.rootsPem);
    // The reloaded CA signs certificates that chain to the persisted root.
    const { csrPem } = await createWorkloadCsr(ID);
    const out = await new CertificateAuthority(again).issueWorkloadCertificate(csrPem, ID);
    const inter = new X509Certificate(await readFile(join(dir, CA_FILES.caCert), 'utf8'));
    expect(new X509Certificate(out.certChainPem).verify(inter.publicKey)).toBe(true);
  });

  it('brings your own CA from PEM files, refusing unsafe permissions and mismatched keys', async () => {
    const dir = await tmp();
    const gen = await generateCa({ trustDomain: 'example.org' });
    const other = await generateCa({ trustDomain: 'example.org' });
    const f = (n: string) => join(dir, n);
    await writeFile(f('ca.pem'), gen.files.rootCert!);
    await writeFile(f('ca-key.pem'), gen.files.rootKey!, { mode: 0o600 });
    await writeFile(f('other-key.pem'), other.files.rootKey!, { mode: 0o600 });
    const m = await loadCaFromFiles({ certFile: f('ca.pem'), keyFile: f('ca-key.pem'), rootFile: f('ca.pem') });
    expect(m.signingCert.subject).toContain('tsmesh root CA example.org');
    await expect(loadCaFromFiles({ certFile: f('ca.pem'), keyFile: f('other-key.pem'), rootFile: f('ca.pem') })).rejects.toThrow(
      /private key does not match/,
    );
    await chmod(f('ca-key.pem'), 0o644);
    await expect(loadCaFromFiles({ certFile: f('ca.pem'), keyFile: f('ca-key.pem'), rootFile: f('ca.pem') })).rejects.toThrow(/chmod 600/);
  });
});

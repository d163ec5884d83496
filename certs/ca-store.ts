// The CA's own key material: created on first start and persisted in a state
// directory (0700, keys 0600), or loaded from user-supplied PEM files.
import { mkdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import type { CaMaterial } from './ca.js';
import { EC_SIGN_ALG, type KeyPair, generateKeyPair, importSigningKeyPem, privateKeyToPem, randomSerialHex, splitPemCerts, x509 } from './crypto.js';
import { CaMaterialError } from './errors.js';
import { trustDomainProblem } from './spiffe.js';

export const ROOT_TTL_MS = 10 * 365 * 24 * 3600_000;
export const INTERMEDIATE_TTL_MS = 5 * 365 * 24 * 3600_000;

/** File names inside the state directory (Istio's names for a plugged-in CA). */
export const CA_FILES = {
  rootCert: 'root-cert.pem',
  rootKey: 'root-key.pem',
  caCert: 'ca-cert.pem', // the intermediate, when one is used
  caKey: 'ca-key.pem',
} as const;

async function caCert(opts: {
  subject: string;
  issuer?: { cert: x509.X509Certificate; keys: KeyPair };
  keys: KeyPair;
  pathLength: number;
  now: number;
  ttlMs: number;
}): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, opts.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(opts.keys.publicKey as never, false),
  ];
  if (opts.issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(opts.issuer.cert as never, false));
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: opts.subject,
    issuer: opts.issuer ? opts.issuer.cert.subject : opts.subject,
    notBefore: new Date(opts.now - 60_000),
    notAfter: new Date(opts.now + opts.ttlMs),
    publicKey: opts.keys.publicKey as never,
    signingKey: (opts.issuer ?? opts).keys.privateKey as never,
    signingAlgorithm: EC_SIGN_ALG,
    extensions,
  });
}

export interface GeneratedCa {
  material: CaMaterial;
  /** PEM files as they are persisted. */
  files: Partial<Record<keyof typeof CA_FILES, string>>;
}

/** Makes a new root (and an intermediate that signs workloads, when asked). */
export async function generateCa(opts: { trustDomain: string; intermediate?: boolean; clock?: Clock; rootTtlMs?: number }): Promise<GeneratedCa> {
  const tdProblem = trustDomainProblem(opts.trustDomain);
  if (tdProblem) throw new CaMaterialError(`cannot create a CA: ${tdProblem}`);
  const now = (opts.clock ?? systemClock).now();
  const rootKeys = await generateKeyPair();
  const root = await caCert({
    subject: `O=tsmesh, CN=tsmesh root CA ${opts.trustDomain}`,
    keys: rootKeys,
    pathLength: opts.intermediate ? 1 : 0,
    now,
    ttlMs: opts.rootTtlMs ?? ROOT_TTL_MS,
  });
  const rootPem = root.toString('pem') + '\n';
  const files: GeneratedCa['files'] = { rootCert: rootPem, rootKey: privateKeyToPem(rootKeys.privateKey) };
  if (!opts.intermediate) {
    return { material: { signingCert: root, signingKeys: rootKeys, intermediatesPem: [], rootsPem: [rootPem] }, files };
  }
  const caKeys = await generateKeyPair();
  const inter = await caCert({
    subject: `O=tsmesh, CN=tsmesh intermediate CA ${opts.trustDomain}`,
    issuer: { cert: root, keys: rootKeys },
    keys: caKeys,
    pathLength: 0,
    now,
    ttlMs: Math.min(INTERMEDIATE_TTL_MS, opts.rootTtlMs ?? ROOT_TTL_MS),
  });
  const interPem = inter.toString('pem') + '\n';
  files.caCert = interPem;
  files.caKey = privateKeyToPem(caKeys.privateKey);
  return { material: { signingCert: inter, signingKeys: caKeys, intermediatesPem: [interPem], rootsPem: [rootPem] }, files };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Refuses a key file others can read, as ssh does. */
async function assertPrivate(path: string): Promise<void> {
  const st = await stat(path);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new CaMaterialError(`${path} is readable by group/others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`);
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CaMaterialError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Loads the CA from `stateDir`, creating it on first start. `stateDir` must be
 * outside the repository's tracked files; it is created 0700, keys 0600.
 */
export async function loadOrCreateCa(opts: { stateDir: string; trustDomain: string; intermediate?: boolean; clock?: Clock }): Promise<CaMaterial> {
  const p = (f: keyof typeof CA_FILES) => join(opts.stateDir, CA_FILES[f]);
  if (await exists(p('rootCert'))) {
    const signer = (await exists(p('caCert'))) ? { cert: p('caCert'), key: p('caKey') } : { cert: p('rootCert'), key: p('rootKey') };
    return loadCaFromFiles({ certFile: signer.cert, keyFile: signer.key, rootFile: p('rootCert') });
  }
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  await chmod(opts.stateDir, 0o700);
  const ca = await generateCa(opts);
  for (const [name, pem] of Object.entries(ca.files) as [keyof typeof CA_FILES, string][]) {
    const isKey = name === 'rootKey' || name === 'caKey';
    await writeFile(p(name), pem, { mode: isKey ? 0o600 : 0o644, flag: 'wx' });
  }
  return ca.material;
}

/**
 * Bring your own CA: `certFile` holds the signing certificate (optionally
 * followed by its intermediates), `keyFile` its ECDSA P-256 key (0600),
 * `rootFile` the root(s) workloads trust.
 */
export async function loadCaFromFiles(opts: { certFile: string; keyFile: string; rootFile: string }): Promise<CaMaterial> {
  await assertPrivate(opts.keyFile);
  return loadCaFromPem({ certPem: await readText(opts.certFile), keyPem: await readText(opts.keyFile), rootPem: await readText(opts.rootFile) }, opts.certFile);
}

export async function loadCaFromPem(pems: { certPem: string; keyPem: string; rootPem: string }, where = 'CA certificate'): Promise<CaMaterial> {
  const chain = splitPemCerts(pems.certPem);
  const roots = splitPemCerts(pems.rootPem);
  if (chain.length === 0) throw new CaMaterialError(`${where}: no CERTIFICATE block`);
  if (roots.length === 0) throw new CaMaterialError(`${where}: root file has no CERTIFICATE block`);
  let signingKeys: KeyPair;
  try {
    signingKeys = await importSigningKeyPem(pems.keyPem);
  } catch (err) {
    throw new CaMaterialError(`${where}: ${(err as Error).message}`, { cause: err });
  }
  const signingCert = new x509.X509Certificate(chain[0]!);
  const bc = signingCert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CaMaterialError(`${where}: the signing certificate is not a CA (basicConstraints cA=false)`);
  // The key must belong to the certificate.
  const spkiCert = Buffer.from(signingCert.publicKey.rawData).toString('hex');
  const spkiKey = Buffer.from(await webcrypto.subtle.exportKey('spki', signingKeys.publicKey)).toString('hex');
  if (spkiCert !== spkiKey) throw new CaMaterialError(`${where}: the private key does not match the signing certificate`);
  const rootSet = new Set(roots.map((r) => r.trim()));
  const intermediatesPem = chain.filter((c) => !rootSet.has(c.trim()));
  return { signingCert, signingKeys, intermediatesPem, rootsPem: roots };
}

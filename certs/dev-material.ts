// Writes throwaway development material: a root (and intermediate) CA and
// workload certificates, keys 0600 in a 0700 directory. Never for production;
// never commit the output (the repo's .gitignore refuses *-key.pem).
//
//   node dist/certs/dev-material.js <dir> [--trust-domain cluster.local] [--intermediate]
//        [--id spiffe://cluster.local/ns/default/sa/web ...] [--ttl-hours 24]
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from './ca.js';
import { CA_FILES, generateCa } from './ca-store.js';
import { createWorkloadCsr } from './csr.js';
import { parseWorkloadId } from './spiffe.js';

export interface DevMaterialOptions {
  dir: string;
  trustDomain: string;
  intermediate: boolean;
  ids: string[];
  ttlHours: number;
}

/** Writes the material; returns the files written. */
export async function writeDevMaterial(o: DevMaterialOptions): Promise<string[]> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  await chmod(o.dir, 0o700);
  const written: string[] = [];
  const put = async (name: string, pem: string, secret: boolean) => {
    const path = join(o.dir, name);
    await writeFile(path, pem, { mode: secret ? 0o600 : 0o644 });
    await chmod(path, secret ? 0o600 : 0o644);
    written.push(path);
  };
  const gen = await generateCa({ trustDomain: o.trustDomain, intermediate: o.intermediate });
  for (const [k, pem] of Object.entries(gen.files) as [keyof typeof CA_FILES, string][]) {
    await put(CA_FILES[k], pem, k === 'rootKey' || k === 'caKey');
  }
  const ca = new CertificateAuthority(gen.material, { maxTtlMs: Math.max(o.ttlHours, 24) * 3600_000 });
  for (const id of o.ids) {
    const w = parseWorkloadId(id);
    const { csrPem, privateKeyPem } = await createWorkloadCsr(id);
    const out = await ca.issueWorkloadCertificate(csrPem, id, o.ttlHours * 3600_000);
    const base = `${w.namespace}.${w.serviceAccount}`;
    await put(`${base}-cert.pem`, out.certChainPem, false);
    await put(`${base}-key.pem`, privateKeyPem, true);
  }
  return written;
}

function parseArgs(argv: string[]): DevMaterialOptions {
  const o: DevMaterialOptions = { dir: '', trustDomain: 'cluster.local', intermediate: false, ids: [], ttlHours: 24 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--trust-domain') o.trustDomain = val();
    else if (a === '--intermediate') o.intermediate = true;
    else if (a === '--id') o.ids.push(val());
    else if (a === '--ttl-hours') o.ttlHours = Number(val());
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (!o.dir) o.dir = resolve(a);
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!o.dir) throw new Error('usage: dev-material <dir> [--trust-domain td] [--intermediate] [--id spiffe://…]… [--ttl-hours n]');
  if (!(o.ttlHours > 0)) throw new Error('--ttl-hours must be a positive number');
  if (o.ids.length === 0) o.ids.push(`spiffe://${o.trustDomain}/ns/default/sa/default`);
  return o;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const files = await writeDevMaterial(parseArgs(process.argv.slice(2)));
    process.stdout.write(`wrote throwaway dev material (do not commit):\n${files.map((f) => `  ${f}`).join('\n')}\n`);
  } catch (err) {
    process.stderr.write(`dev-material: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}

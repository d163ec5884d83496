// The dev-material script as a user runs it: the built JS in a child process.
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

// Built by `npm test` (npm run build first).
const script = join(import.meta.dirname, '..', '..', 'dist', 'certs', 'dev-material.js');
let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('writes a CA and workload certs with private keys 0600 in a 0700 dir', async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'tsmesh-dev-')), 'out');
  const id = 'spiffe://dev.local/ns/shop/sa/cart';
  const { stdout } = await promisify(execFile)(process.execPath, [script, dir, '--trust-domain', 'dev.local', '--intermediate', '--id', id]);
  expect(stdout).toContain('do not commit');
  expect((await stat(dir)).mode & 0o777).toBe(0o700);
  for (const k of ['root-key.pem', 'ca-key.pem', 'shop.cart-key.pem']) expect((await stat(join(dir, k))).mode & 0o777).toBe(0o600);
  const leaf = new X509Certificate(await readFile(join(dir, 'shop.cart-cert.pem'), 'utf8'));
  const inter = new X509Certificate(await readFile(join(dir, 'ca-cert.pem'), 'utf8'));
  const root = new X509Certificate(await readFile(join(dir, 'root-cert.pem'), 'utf8'));
  expect(leaf.subjectAltName).toBe(`URI:${id}`);
  expect(leaf.verify(inter.publicKey) && inter.verify(root.publicKey)).toBe(true);
  expect(leaf.checkPrivateKey(createPrivateKey(await readFile(join(dir, 'shop.cart-key.pem'), 'utf8')))).toBe(true);
});

it('exits 2 with usage on bad arguments', async () => {
  const r = await promisify(execFile)(process.execPath, [script, '--bogus']).catch((e: { code: number; stderr: string }) => e);
  expect(r).toMatchObject({ code: 2 });
  expect((r as { stderr: string }).stderr).toContain('unknown option --bogus');
});

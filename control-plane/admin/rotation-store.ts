// A root rotation survives a control-plane restart: the new CA waits in
// `<caDir>/next/` (0700, keys 0600) and `<caDir>/rotation.json` lists the
// steps done, so the restarted control plane comes back in the phase the
// mesh had confirmed (same bundle, same signer) instead of the old root alone.

import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CA_FILES, loadCaFromPem, type GeneratedCa } from '../../certs/ca-store.js';

const NEXT_DIR = 'next';
const STATE_FILE = 'rotation.json';

export interface SavedRotation {
  next: GeneratedCa;
  /** Steps completed before the restart, in order. */
  done: string[];
}

/** Writes the new CA (after `generate`). */
export async function saveNextCa(caDir: string, next: GeneratedCa): Promise<void> {
  const dir = join(caDir, NEXT_DIR);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [k, pem] of Object.entries(next.files) as [keyof typeof CA_FILES, string][]) {
    await writeFile(join(dir, CA_FILES[k]), pem, { mode: k === 'rootKey' || k === 'caKey' ? 0o600 : 0o644, flag: 'wx' });
  }
}

/** Records the steps done so far (atomically). */
export async function saveProgress(caDir: string, done: string[]): Promise<void> {
  const tmp = join(caDir, `${STATE_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify({ format: 1, done }) + '\n', { mode: 0o600 });
  await rename(tmp, join(caDir, STATE_FILE));
}

/** The rotation is over: nothing to resume. */
export async function clearRotation(caDir: string): Promise<void> {
  await rm(join(caDir, STATE_FILE), { force: true });
  await rm(join(caDir, NEXT_DIR), { recursive: true, force: true });
}

/** The rotation a previous run of the control plane left unfinished, if any. Throws when its files are damaged. */
export async function loadSavedRotation(caDir: string): Promise<SavedRotation | undefined> {
  let state: { format?: number; done?: unknown };
  try {
    state = JSON.parse(await readFile(join(caDir, STATE_FILE), 'utf8')) as typeof state;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${join(caDir, STATE_FILE)}: ${(e as Error).message}`);
  }
  if (state.format !== 1 || !Array.isArray(state.done) || !state.done.every((s) => typeof s === 'string')) {
    throw new Error(`${join(caDir, STATE_FILE)}: not a root rotation state (want { "format": 1, "done": [step, …] })`);
  }
  const dir = join(caDir, NEXT_DIR);
  const read = (f: string) => readFile(join(dir, f), 'utf8').catch(() => undefined);
  const files: GeneratedCa['files'] = {};
  for (const [k, f] of Object.entries(CA_FILES) as [keyof typeof CA_FILES, string][]) {
    const pem = await read(f);
    if (pem !== undefined) files[k] = pem;
  }
  if (!files.rootCert || !files.rootKey) throw new Error(`${dir}: the new root CA of the unfinished rotation is missing`);
  const signer = files.caCert && files.caKey ? { certPem: files.caCert, keyPem: files.caKey } : { certPem: files.rootCert, keyPem: files.rootKey };
  const material = await loadCaFromPem({ ...signer, rootPem: files.rootCert }, join(dir, files.caCert ? CA_FILES.caCert : CA_FILES.rootCert));
  return { next: { material, files }, done: state.done as string[] };
}

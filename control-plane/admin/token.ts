// The admin API's bearer token: generated into the state directory at first
// start (mode 0600), compared in constant time.

import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const TOKEN_FILE = 'admin-token';

/** Read the token from `<stateDir>/admin-token`, creating it (0600) when absent. */
export async function loadOrCreateToken(stateDir: string): Promise<string> {
  const file = join(stateDir, TOKEN_FILE);
  try {
    const t = (await readFile(file, 'utf8')).trim();
    if (t.length >= 32) return t;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, token + '\n', { mode: 0o600, flag: 'w' });
  await chmod(file, 0o600);
  return token;
}

/** Constant-time check of an `Authorization: Bearer <token>` header. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  // Hash both sides so the comparison is constant-time regardless of length.
  const given = createHash('sha256').update(m?.[1] ?? '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}

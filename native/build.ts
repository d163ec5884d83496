// Builds the native addon with the node-gyp that ships with npm, using the
// running Node's own headers (no download). Exit code 0 on success.
// Usage: node dist/native/build.js

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ADDON_PATH, NATIVE_DIR } from './index.js';

export function nodeGypPath(): string | undefined {
  const npmDir = resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const candidates = [join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), join(NATIVE_DIR, '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  return candidates.find((p) => existsSync(p));
}

const LOCK = join(NATIVE_DIR, '.build-lock');
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Build the addon; returns an error message, or undefined when built.
 * Test files in parallel workers may call this at once: one builds (holding
 * a lock directory), the others wait for it and reuse the result.
 */
export function buildNativeAddon(): string | undefined {
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      let age = 0;
      try {
        age = Date.now() - statSync(LOCK).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > 5 * 60_000) rmSync(LOCK, { recursive: true, force: true }); // left by a killed build
      else if (waited > 180_000) return 'timed out waiting for another build of the native addon';
      else sleep(100);
    }
  }
  try {
    if (existsSync(ADDON_PATH)) return undefined; // built by whoever held the lock
    return runNodeGyp();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function runNodeGyp(): string | undefined {
  const gyp = nodeGypPath();
  if (!gyp) return 'node-gyp not found (it ships with npm)';
  const prefix = resolve(dirname(process.execPath), '..');
  const args = [gyp, 'rebuild'];
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const res = spawnSync(process.execPath, args, { cwd: NATIVE_DIR, encoding: 'utf8' });
  if (res.status !== 0 || !existsSync(ADDON_PATH)) return `node-gyp failed: ${(res.stderr || res.stdout || String(res.error)).trim().split('\n').slice(-5).join('\n')}`;
  return undefined;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  // An explicit build always rebuilds (e.g. after editing the C source).
  rmSync(ADDON_PATH, { force: true });
  const err = buildNativeAddon();
  if (err) {
    process.stderr.write(`native addon build failed: ${err}\n`);
    process.exitCode = 1;
  } else process.stdout.write(`built ${ADDON_PATH}\n`);
}

// Builds the native addon with the node-gyp that ships with npm, using the
// running Node's own headers (no download). Exit code 0 on success.
// Usage: node dist/native/build.js

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ADDON_PATH, NATIVE_DIR } from './index.js';

export function nodeGypPath(): string | undefined {
  const npmDir = resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const candidates = [join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), join(NATIVE_DIR, '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  return candidates.find((p) => existsSync(p));
}

/** Build the addon; returns an error message, or undefined when built. */
export function buildNativeAddon(): string | undefined {
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
  const err = buildNativeAddon();
  if (err) {
    process.stderr.write(`native addon build failed: ${err}\n`);
    process.exitCode = 1;
  } else process.stdout.write(`built ${ADDON_PATH}\n`);
}

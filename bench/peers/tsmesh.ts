// tsmesh's sidecar (dist/proxy/main.js) on the measured paths, configured by a
// generated bootstrap file.
import fs from 'node:fs';
import path from 'node:path';
import type { BenchEnv, RunningTarget } from './types.js';

export interface TsmeshShape {
  hops: 1 | 2;
  mtls: boolean;
  policies: boolean;
}

export function proxyEntry(env: BenchEnv): string {
  return path.join(env.repoRoot, 'dist', 'proxy', 'main.js');
}

export function tsmeshUnavailable(env: BenchEnv, _shape: TsmeshShape): string | null {
  if (!fs.existsSync(proxyEntry(env))) return 'the proxy is not built yet (dist/proxy/main.js missing)';
  return 'the bench does not yet know the proxy bootstrap format';
}

export async function startTsmesh(_env: BenchEnv, _shape: TsmeshShape, id: string): Promise<RunningTarget> {
  throw new Error(`${id}: tsmesh cannot run this configuration yet`);
}

#!/usr/bin/env node
// tsmesh-init: installs the redirect rules in the current network namespace
// (the pod's) with iptables-restore. `--dry-run` prints them instead.
// Usage: node dist/k8s/iptables/cli.js [--dry-run] --outbound-port=15001 ...

import { spawnSync } from 'node:child_process';
import { MeshError } from '../../common/errors.js';
import { parseRedirectArgs, renderIptablesRestore } from './rules.js';

export function applyRedirectRules(rulesText: string, iptablesRestore = process.env.TSMESH_IPTABLES_RESTORE ?? 'iptables-restore'): void {
  // --noflush: keep whatever else is in the nat table (e.g. CNI rules).
  const res = spawnSync(iptablesRestore, ['--noflush'], { input: rulesText, encoding: 'utf8' });
  if (res.error) throw new MeshError('MESH_IPTABLES', `cannot run ${iptablesRestore}: ${res.error.message}`, { cause: res.error });
  if (res.status !== 0) throw new MeshError('MESH_IPTABLES', `${iptablesRestore} failed (exit ${res.status}): ${res.stderr.trim()}`);
}

function main(argv: string[]): number {
  const dryRun = argv.includes('--dry-run');
  try {
    const text = renderIptablesRestore(parseRedirectArgs(argv.filter((a) => a !== '--dry-run')));
    if (dryRun) process.stdout.write(text);
    else applyRedirectRules(text);
    return 0;
  } catch (err) {
    process.stderr.write(`tsmesh-init: ${(err as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) process.exitCode = main(process.argv.slice(2));

// Installs the peer proxies and load tools from Debian packages when missing,
// through the project's script (it blocks service auto-start so the packaged
// nginx/HAProxy do not grab port 80).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const PEER_PACKAGES = ['nginx', 'haproxy', 'wrk', 'nghttp2-client'];

export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd} || ls /usr/sbin/${cmd} 2>/dev/null`], { encoding: 'utf8' });
  const out = r.stdout.trim().split('\n')[0];
  return r.status === 0 && out ? out : null;
}

/** Tries to install what is missing; returns the note to record (never throws). */
export function ensurePeers(repoRoot: string): string {
  const script = path.join(repoRoot, 'scripts', 'install-debian-packages.sh');
  const r = spawnSync('bash', [script, ...PEER_PACKAGES], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return r.status === 0 ? 'peers present' : `could not install peers: ${r.stderr.trim() || `exit ${r.status}`}`;
}

export interface Tools {
  nginx: string | null;
  haproxy: string | null;
  wrk: string | null;
  h2load: string | null;
  openssl: string | null;
}

export function findTools(): Tools {
  return { nginx: which('nginx'), haproxy: which('haproxy'), wrk: which('wrk'), h2load: which('h2load'), openssl: which('openssl') };
}

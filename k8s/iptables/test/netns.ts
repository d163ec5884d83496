// Helpers for the tests that run real sidecars in network namespaces made by
// the test (root only): why they cannot run here, the native addon, and
// processes inside a namespace that report JSON lines on stdout.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PROXY_MAIN = join(root, 'dist', 'proxy', 'main.js');
/** Runs the rest of the command line as the proxy's UID/GID (1337), as the injected sidecar runs. */
export const asProxy = ['setpriv', '--reuid=1337', '--regid=1337', '--clear-groups'];

export const sh = (args: string[], input?: string) => spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
/** Async, so the processes' stdout is read while the command runs. */
export const inNs = (ns: string, args: string[], timeout = 8000) => promisify(execFile)('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout });

/** Why namespaces with real sidecars cannot be made here, or undefined. */
export function netnsUnavailable(tag: string): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (sh(['ip', '-V']).status !== 0) return '`ip` (iproute2) is not installed';
  if (sh(['iptables-restore', '--version']).status !== 0) return 'iptables is not installed';
  if (sh(['setpriv', '--version']).status !== 0) return 'setpriv (util-linux) is not installed';
  if (sh(['curl', '--version']).status !== 0) return 'curl is not installed';
  if (!existsSync(PROXY_MAIN) || !existsSync(join(root, 'dist', 'native', 'index.js'))) return 'dist/ is not built (npm run build)';
  const probe = `tsm-probe-${tag}`;
  const r = sh(['ip', 'netns', 'add', probe]);
  if (r.status !== 0) return `cannot create network namespaces: ${r.stderr.trim()}`;
  sh(['ip', 'netns', 'del', probe]);
  return undefined;
}

/** Builds the SO_ORIGINAL_DST addon when missing; the reason it is unavailable, or undefined. */
export async function addonOrReason(): Promise<string | undefined> {
  const { nativeAddonAvailable } = await import(join(root, 'dist', 'native', 'index.js'));
  if (nativeAddonAvailable()) return undefined;
  const { buildNativeAddon } = await import(join(root, 'dist', 'native', 'build.js'));
  return buildNativeAddon();
}

export interface NsProcess {
  proc: ChildProcess;
  /** Resolves with the first JSON stdout line `pred` accepts (rejects if the process exits first). */
  next(pred: (l: any) => boolean): Promise<any>;
  stderr(): string;
}

/** A process in a namespace whose stdout carries JSON lines; added to `procs` for cleanup. */
export function startInNs(procs: ChildProcess[], ns: string, argv: string[], env?: NodeJS.ProcessEnv): NsProcess {
  const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  procs.push(p);
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const lines: any[] = [];
  const waiters: { pred: (l: any) => boolean; resolve: (l: any) => void }[] = [];
  createInterface({ input: p.stdout! }).on('line', (line) => {
    let msg: any;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // not a report line
    }
    lines.push(msg);
    for (const w of [...waiters]) if (w.pred(msg)) waiters.splice(waiters.indexOf(w), 1), w.resolve(msg);
  });
  const next = (pred: (l: any) => boolean) =>
    new Promise<any>((resolve, reject) => {
      const hit = lines.find(pred);
      if (hit) return resolve(hit);
      waiters.push({ pred, resolve });
      p.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited (${code}): ${stderr}`)));
    });
  return { proc: p, next, stderr: () => stderr };
}

/** SIGKILL every process still running and wait for them. */
export async function killAll(procs: ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => (p.once('exit', r), p.kill('SIGKILL'))))),
  );
}

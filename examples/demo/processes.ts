// Child processes of the demo: spawned with piped output, waited for by a
// start line, and always killed on exit, error or Ctrl-C.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const children = new Set<ChildProcess>();

export interface Started {
  proc: ChildProcess;
  /** The first stdout line that matched. */
  line: string;
}

/** Spawns `node <script> args` and waits for a stdout line matching `ready` (stderr is kept for errors). */
export function startNode(name: string, script: string, args: string[], ready: RegExp, timeoutMs = 20_000): Promise<Started> {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSMESH_LOG_LEVEL: process.env.TSMESH_LOG_LEVEL ?? 'error' } });
  children.add(proc);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
    if (process.env.DEMO_VERBOSE) process.stderr.write(`[${name}] ${d}`);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    const lines = createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve({ proc, line });
      }
    });
    proc.on('exit', (code) => {
      children.delete(proc);
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code}\n${stderr}`));
    });
  });
}

/** Adds a child started elsewhere to the ones killed at exit. */
export function track(proc: ChildProcess): void {
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
}

/** Terminates every child still running: SIGTERM, then SIGKILL after `graceMs`. */
export async function killAll(graceMs = 2000): Promise<void> {
  const alive = [...children].filter((p) => p.exitCode === null && p.signalCode === null);
  await Promise.all(
    alive.map(
      (p) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            p.kill('SIGKILL');
            resolve();
          }, graceMs);
          p.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          p.kill('SIGTERM');
        }),
    ),
  );
  children.clear();
}

/** Synchronous last resort (process 'exit' handler). */
export function killAllNow(): void {
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
}

export { freePort } from '../../common/free-port.js';

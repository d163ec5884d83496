// Child processes of a bench run: started pinned to a core with taskset (when
// the machine has more than one), their stderr kept for error messages, and
// all of them stopped when the run ends, even on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';

const running = new Set<ChildProcess>();
let hasTaskset: boolean | undefined;

export function coreCount(): number {
  return os.availableParallelism();
}

function tasksetAvailable(): boolean {
  if (hasTaskset === undefined) hasTaskset = spawnSync('taskset', ['-V']).status === 0;
  return hasTaskset;
}

/** argv prefixed with `taskset -c <core>` when pinning is possible. */
export function pinned(core: number | undefined, argv: string[]): string[] {
  if (core === undefined || coreCount() < 2 || !tasksetAvailable()) return argv;
  return ['taskset', '-c', String(core % coreCount()), ...argv];
}

export interface Started {
  child: ChildProcess;
  /** Pid of the real program (taskset execs it, so the same pid). */
  pid: number;
  stderr: () => string;
}

export function startProcess(argv: string[], core?: number, env?: NodeJS.ProcessEnv): Started {
  const full = pinned(core, argv);
  // Its own process group: killing the group reaches what it forked too (nginx's and HAProxy's workers), which
  // a SIGKILL to the master alone leaves running.
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, detached: true });
  running.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 16_384) err += d.toString();
  });
  child.stdout!.on('data', () => {});
  child.on('exit', () => running.delete(child));
  if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
  return { child, pid: child.pid, stderr: () => err };
}

/** SIGKILL to the child's process group (the child and whatever it forked). */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => killGroup(child), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => stopProcess(c)));
}

let hooked = false;
/** Kills every child on SIGINT/SIGTERM of the harness itself. */
export function installExitHooks(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      for (const c of running) killGroup(c);
      process.exit(130);
    });
  process.once('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

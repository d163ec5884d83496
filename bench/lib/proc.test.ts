// The CPU window the bench reads from /proc: a process that exits inside the
// window takes its CPU time with it, so the window must say "not counted"
// rather than report a difference that is too small or negative.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { median } from '../report/summary.js';
import { cpuBetween, treeCpuByPid } from './proc.js';

const children: ChildProcess[] = [];

/** A real process that burns ~200 ms of CPU, then idles until killed. */
async function burner(): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 200); console.log("ready"); setInterval(() => {}, 1000);'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(c);
  await once(c.stdout!, 'data');
  return c;
}

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('CPU of a process tree over a window', () => {
  it('counts the CPU a living process spent inside the window', async () => {
    const c = await burner();
    const before = treeCpuByPid([c.pid!]);
    expect(before.get(c.pid!)).toBeGreaterThan(0);
    const spent = cpuBetween(before, [c.pid!]);
    expect(spent).not.toBeNull();
    expect(spent!).toBeGreaterThanOrEqual(0);
  });

  it('reports nothing (null) when a process of the window exited, instead of a negative figure', async () => {
    const stays = await burner();
    const exits = await burner();
    const before = treeCpuByPid([stays.pid!, exits.pid!]);
    expect(before.size).toBe(2);
    exits.kill('SIGKILL');
    await once(exits, 'exit');
    expect(cpuBetween(before, [stays.pid!, exits.pid!])).toBeNull();
  });

  it('leaves runs without a CPU figure out of the median', () => {
    expect(median([120, null, 100, 110])).toBe(110);
    expect(median([null, null])).toBeNull();
  });
});

// Readings from /proc: CPU time and memory of a process tree, and machine-wide
// steal. CPU time (utime+stime) is the bench's most stable figure: a noisy
// neighbour stretches wall-clock latency but barely changes the CPU a proxy
// burns per request.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = parseInt(execFileSync('getconf', ['CLK_TCK']).toString(), 10) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** The pid and all its descendants (nginx: master + worker). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    try {
      for (const tid of fs.readdirSync(`/proc/${p}/task`)) {
        const kids = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k));
      }
    } catch {
      // process gone
    }
  }
  return out;
}

/** utime+stime of one process in µs (fields 14 and 15 of /proc/<pid>/stat); null when it is gone. */
export function cpuMicrosOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14 → index 11
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1e6) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** Each living process of the trees with its CPU time so far (µs). */
export function treeCpuByPid(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const root of pids)
    for (const p of processTree(root)) {
      const us = cpuMicrosOf(p);
      if (us !== null) out.set(p, us);
    }
  return out;
}

/**
 * CPU the trees spent between two readings, or null when a process of the first reading has exited
 * since: its time left with it, and the difference would undercount (or go negative).
 */
export function cpuBetween(before: Map<number, number>, pids: number[]): number | null {
  const after = treeCpuByPid(pids);
  let sum = 0;
  for (const [pid, us] of before) {
    const now = after.get(pid);
    if (now === undefined) return null;
    sum += now - us;
  }
  for (const [pid, us] of after) if (!before.has(pid)) sum += us; // started inside the window
  return sum;
}

export interface MemoryReading {
  rssKb: number;
  peakRssKb: number;
}

function statusKb(pid: number, key: string): number {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(s);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS and VmHWM summed over each process tree. */
export function treeMemory(pids: number[]): MemoryReading {
  let rssKb = 0;
  let peakRssKb = 0;
  for (const root of pids)
    for (const p of processTree(root)) {
      rssKb += statusKb(p, 'VmRSS');
      peakRssKb += statusKb(p, 'VmHWM');
    }
  return { rssKb, peakRssKb };
}

export interface CpuTimes {
  total: number;
  steal: number;
  idle: number;
}

/** Aggregate jiffies from the first line of /proc/stat. */
export function machineCpu(): CpuTimes {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, steal: v[7] ?? 0, idle: (v[3] ?? 0) + (v[4] ?? 0) };
}

/** Steal and busy share (percent of all CPU time) between two readings. */
export function cpuShares(a: CpuTimes, b: CpuTimes): { stealPct: number; busyPct: number } {
  const dt = b.total - a.total;
  if (dt <= 0) return { stealPct: 0, busyPct: 0 };
  return {
    stealPct: round1(((b.steal - a.steal) / dt) * 100),
    busyPct: round1(((dt - (b.idle - a.idle)) / dt) * 100),
  };
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

// Runs the real meshctl CLI as a child process and returns its output.

import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { track } from './processes.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'meshctl', 'main.js');

export function runMeshctl(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`meshctl ${args.join(' ')} failed (${err.code}): ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Runs meshctl, passing each output line to `onLine` as it comes; resolves with the exit code and the whole output. */
export function streamMeshctl(args: string[], env: Record<string, string>, onLine: (line: string) => void): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let output = '';
    const lines = (stream: NodeJS.ReadableStream) =>
      createInterface({ input: stream }).on('line', (l) => {
        output += `${l}\n`;
        onLine(l);
      });
    lines(child.stdout!);
    lines(child.stderr!);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

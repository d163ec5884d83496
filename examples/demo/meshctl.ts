// Runs the real meshctl CLI as a child process and returns its output.

import { execFile } from 'node:child_process';
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

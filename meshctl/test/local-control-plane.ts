// A real mesh-control-plane process with a local state dir and one service
// (reviews v1/v2 from a services file), and meshctl run against it as a real
// child process: the fixture of the CLI tests.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
export const meshctlBin = join(root, 'dist', 'meshctl', 'main.js');

export interface MeshctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LocalControlPlane {
  /** A temp dir for the test's files (removed by stop()). */
  dir: string;
  stateDir: string;
  meshctl(args: string[], input?: string): Promise<MeshctlResult>;
  stop(): Promise<void>;
}

const SERVICES =
  'services:\n  - name: reviews\n    ports: [{ port: 9080, protocol: http }]\n    endpoints:\n' +
  '      - { address: 127.0.0.1, inboundPort: 15006, appPort: 9080, serviceAccount: reviews, labels: { app: reviews, version: v1 } }\n' +
  '      - { address: 127.0.0.1, inboundPort: 15007, appPort: 9081, serviceAccount: reviews, labels: { app: reviews, version: v2 } }\n';

export async function startLocalControlPlane(prefix: string): Promise<LocalControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const stateDir = join(dir, 'cp');
  const services = join(dir, 'services.yaml');
  writeFileSync(services, SERVICES);
  const cp: ChildProcess = spawn(
    process.execPath,
    [join(root, 'dist', 'control-plane', 'main.js'), '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', stateDir, '--services-file', services],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    cp.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (/^admin \d+/m.test(out)) resolve();
    });
    cp.on('exit', (c) => reject(new Error(`control plane exited ${c}`)));
  });
  return {
    dir,
    stateDir,
    meshctl: (args, input) =>
      new Promise((resolve) => {
        const child = execFile(process.execPath, [meshctlBin, ...args], { env: { ...process.env, TSMESH_STATE_DIR: stateDir }, timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        if (input !== undefined) child.stdin!.end(input);
      }),
    stop: async () => {
      if (cp.exitCode === null) await new Promise((r) => (cp.once('exit', r), cp.kill('SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

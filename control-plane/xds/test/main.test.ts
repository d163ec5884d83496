// The real mesh-control-plane process (dist/, build first) serving a static
// snapshot file; the third-party grpc-js-xds client resolves through it and
// calls a real backend; an edited file is reloaded and pushed.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { greeterYaml } from './greeter-yaml.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const closers: (() => void)[] = [];
afterAll(() => closers.reverse().forEach((c) => c()));

async function backend(reply: string): Promise<number> {
  const server = new Server();
  const raw = (b: Buffer) => b;
  server.addService(
    { Say: { path: '/tsmesh.test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Say: (_call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb(null, Buffer.from(reply)) },
  );
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  closers.push(() => server.forceShutdown());
  return port;
}

let stderr = '';

function startControlPlane(file: string, stateDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(root, 'dist/control-plane/main.js'), '--listen', '127.0.0.1:0', '--state-dir', stateDir, '--static-snapshot', file, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  closers.push(() => child.kill('SIGKILL'));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`control plane exited ${code}: ${out}`)));
  });
}

function call(xdsPort: number): Promise<string> {
  const bootstrap = { xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }], node: { id: 'client-a', cluster: 'c', locality: {} } };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, 'interop-client.mjs'), 'greeter'], { env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const kill = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('exit', () => {
      clearTimeout(kill);
      resolve(out.trim());
    });
  });
}

describe('mesh-control-plane --static-snapshot', () => {
  it('serves the file to a third-party xDS client, refuses a bad edit (old snapshot keeps serving), pushes a good one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cp-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const b1 = await backend('from v1');
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, greeterYaml(b1, '1'));
    const cp = await startControlPlane(file, join(dir, 'state'));
    expect(await call(cp.port)).toBe('OK from v1');
    // An invalid edit is refused; the running snapshot keeps serving.
    writeFileSync(file, greeterYaml(b1, '2').replace('type: EDS', 'type: BOGUS'));
    await expect.poll(() => stderr, { timeout: 10_000 }).toMatch(/static snapshot rejected.*mesh\.yaml:\d+: nodes\.\*\.clusters\[0\]\.type/);
    expect(await call(cp.port)).toBe('OK from v1');
    // A valid edit pointing at another backend is picked up.
    const b2 = await backend('from v3');
    writeFileSync(file, greeterYaml(b2, '3'));
    await expect.poll(() => call(cp.port), { timeout: 20_000, interval: 200 }).toBe('OK from v3');
  }, 60_000);
});

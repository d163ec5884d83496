// The proxy as users run it: dist/proxy/main.js as a child process.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, Agent } from 'undici';
import { close, cluster, echoUpstream, httpBootstrap, listen, portOf } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/proxy/main.js', import.meta.url));
const ADMIN = `\nadmin: { address: { address: 127.0.0.1, port: 0 } }`;

interface Running {
  child: ChildProcess;
  port: number;
  exit: Promise<number | null>;
  stderr: () => string;
}

function startProxy(file: string): Promise<Running> {
  const child = spawn(process.execPath, [MAIN, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line) resolve({ child, port: JSON.parse(line).listeners.http, exit, stderr: () => err });
    });
    void exit.then((code) => reject(new Error(`proxy exited with ${code}: ${err}`)));
  });
}

describe('mesh-proxy as a process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-proxy-'));
  let a: Awaited<ReturnType<typeof echoUpstream>>;
  let b: Awaited<ReturnType<typeof echoUpstream>>;
  let slow: http.Server;
  let running: Running | undefined;
  let slowSeen = 0;

  beforeAll(async () => {
    a = await echoUpstream('a');
    b = await echoUpstream('b');
    slow = await listen(
      http.createServer((_req, res) => {
        slowSeen++;
        setTimeout(() => res.end('slow done'), 300);
      }),
    );
  });
  afterEach(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGKILL');
      await running.exit;
    }
    running = undefined;
  });
  afterAll(async () => {
    await Promise.all([close(a), close(b), close(slow)]);
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (target: string) =>
    httpBootstrap(`
            - match: { prefix: /slow }
              route: { cluster: slow }
            - match: { prefix: / }
              route: { cluster: ${target} }`, cluster('a', portOf(a)) + cluster('b', portOf(b)) + cluster('slow', portOf(slow))) + ADMIN;

  it('refuses a bad bootstrap with exit code 2, naming every problem with line and field', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, config('nowhere').replace('connectTimeout: 1s', 'connectTimeout: 1s\n      colour: red'));
    const child = spawn(process.execPath, [MAIN, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(err).toMatch(new RegExp(`${file}:\\d+: staticResources\\.clusters\\[0\\]\\.colour: unknown field`));
    expect(err).toMatch(new RegExp(`${file}:\\d+: staticResources\\.routeConfigurations\\[0\\]\\.virtualHosts\\[0\\]\\.routes\\[1\\]\\.route\\.cluster: cluster "nowhere" is not defined`));
  });

  it('reloads on SIGHUP under continuous load with zero failed requests, and keeps the old config on a bad reload', async () => {
    const file = join(dir, 'reload.yaml');
    writeFileSync(file, config('a'));
    running = await startProxy(file);
    const agent = new Agent({ connections: 8 });
    const seen: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const r = await request(`http://127.0.0.1:${running!.port}/x`, { dispatcher: agent });
          const body = (await r.body.json()) as { name: string };
          if (r.statusCode !== 200) failures.push(String(r.statusCode));
          seen.push(body.name);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(file, config('b'));
    running.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(file, config('nowhere'));
    running.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 400));
    stop = true;
    await Promise.all(workers);
    await agent.close();
    expect(failures).toEqual([]);
    expect(seen.length).toBeGreaterThan(50);
    expect(seen).toContain('a');
    expect(seen[seen.length - 1]).toBe('b'); // the bad config did not replace the good one
    expect(running.stderr()).toContain('reload refused');
  });

  it('reloads when the bootstrap file is replaced (rename, as editors and ConfigMaps do)', async () => {
    const file = join(dir, 'watched.yaml');
    writeFileSync(file, config('a'));
    running = await startProxy(file);
    const name = async () => ((await (await request(`http://127.0.0.1:${running!.port}/w`)).body.json()) as { name: string }).name;
    expect(await name()).toBe('a');
    writeFileSync(`${file}.tmp`, config('b'));
    renameSync(`${file}.tmp`, file);
    let seen = 'a';
    for (let i = 0; i < 100 && seen !== 'b'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await name();
    }
    expect(seen).toBe('b');
  });

  it('drains on SIGTERM: in-flight requests finish, then the process exits 0', async () => {
    const file = join(dir, 'drain.yaml');
    writeFileSync(file, config('a'));
    running = await startProxy(file);
    const agent = new Agent({ connections: 10 });
    slowSeen = 0;
    const inflight = Array.from({ length: 10 }, () =>
      request(`http://127.0.0.1:${running!.port}/slow`, { dispatcher: agent }).then(async (r) => `${r.statusCode}:${await r.body.text()}`),
    );
    // SIGTERM once every request is in flight (reached the upstream).
    while (slowSeen < 10) await new Promise((r) => setTimeout(r, 10));
    running.child.kill('SIGTERM');
    const results = await Promise.all(inflight);
    expect(results).toEqual(Array(10).fill('200:slow done'));
    expect(await running.exit).toBe(0);
    await agent.close();
  });
});

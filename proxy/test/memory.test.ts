// The sidecar's memory as a user sees it (issue 9: RSS under load): a static
// sidecar loads only the packages its configuration uses, and the first
// requests do not spike its peak RSS (llhttp's wasm stays on V8's baseline
// compiler). dist/proxy/main.js as a child process; a debug preload lists
// the CommonJS packages and Node builtins loaded when it exits.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { close, cluster, echoUpstream, httpBootstrap, portOf } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/proxy/main.js', import.meta.url));
const ADMIN = `\nadmin: { address: { address: 127.0.0.1, port: 0 } }`;
const PRELOAD = `
const fs = require('fs');
process.on('exit', () => {
  const pkgs = new Set();
  for (const k of Object.keys(require.cache)) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\/(.*)$/.exec(k);
    if (m) pkgs.add(m[1] === 'undici' ? 'undici/' + m[2] : m[1]);
  }
  for (const m of process.moduleLoadList) if (/^NativeModule (http2|tls|https)$/.test(m)) pkgs.add('node:' + m.slice(13));
  fs.writeFileSync(process.env.LOADED_FILE, JSON.stringify([...pkgs]));
});`;

interface Proxy {
  child: ChildProcess;
  port: number;
  exit: Promise<number | null>;
}

function start(file: string, loadedFile: string, preload: string): Promise<Proxy> {
  const child = spawn(process.execPath, ['--require', preload, MAIN, '--config', file, '--no-watch'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOADED_FILE: loadedFile, NODE_OPTIONS: '' },
  });
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line) resolve({ child, port: JSON.parse(line).listeners.http, exit });
    });
    void exit.then((code) => reject(new Error(`proxy exited with ${code}: ${err}`)));
  });
}

function statusKb(pid: number, key: string): number {
  return Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

function getH2(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': '/' });
    req.on('response', (h) => {
      req.resume();
      req.on('end', () => {
        session.close();
        resolve(Number(h[':status']));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sidecar memory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-memory-'));
  const preload = join(dir, 'loaded.cjs');
  let upstream: Awaited<ReturnType<typeof echoUpstream>>;
  let running: Proxy | undefined;

  beforeAll(async () => {
    writeFileSync(preload, PRELOAD);
    upstream = await echoUpstream('up');
  });
  afterEach(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGKILL');
      await running.exit;
    }
    running = undefined;
  });
  afterAll(async () => {
    await close(upstream);
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(name: string, extra: string, requests: number, send = get, format: 'yaml' | 'json' = 'yaml'): Promise<{ loaded: string[]; rssKb: number; hwmKb: number; readyHwmKb: number }> {
    const file = join(dir, `${name}-bootstrap.${format}`);
    const loadedFile = join(dir, `${name}.loaded.json`);
    const yaml = httpBootstrap(`            - match: { prefix: / }
              route: { cluster: up }`, cluster('up', portOf(upstream))) + ADMIN + extra;
    writeFileSync(file, format === 'json' ? JSON.stringify(parseYaml(yaml), null, 2) : yaml);
    running = await start(file, loadedFile, preload);
    const pid = running.child.pid!;
    const readyHwmKb = statusKb(pid, 'VmHWM');
    for (let i = 0; i < requests; i++) expect(await send(running.port)).toBe(200);
    const rssKb = statusKb(pid, 'VmRSS');
    const hwmKb = statusKb(pid, 'VmHWM');
    running.child.kill('SIGTERM');
    expect(await running.exit).toBe(0);
    return { loaded: JSON.parse(readFileSync(loadedFile, 'utf8')) as string[], rssKb, hwmKb, readyHwmKb };
  }

  it('a static sidecar without tracing loads no gRPC, OpenTelemetry SDK, X.509 library or undici index', async () => {
    const { loaded } = await run('static', '', 1);
    expect(loaded).toContain('prom-client'); // the metrics it serves
    // Nor prom-client's index (default metrics → @opentelemetry/api, Summary → tdigest/bintrees), nor commander.
    for (const pkg of ['@grpc/grpc-js', 'protobufjs', '@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-proto', '@peculiar/x509', 'undici/index.js', '@opentelemetry/api', 'tdigest', 'bintrees', 'commander']) {
      expect(loaded).not.toContain(pkg);
    }
  });

  it('a plaintext HTTP/1.1 sidecar does not load node:tls, node:https or node:http2; its first h2c connection loads HTTP/2', async () => {
    const h1 = await run('plain-h1', '', 3);
    for (const m of ['node:http2', 'node:tls', 'node:https']) expect(h1.loaded).not.toContain(m);
    const h2 = await run('plain-h2', '', 3, getH2);
    expect(h2.loaded).toContain('node:http2');
  });

  it('tracing configured loads the OpenTelemetry SDK', async () => {
    const { loaded } = await run('tracing', `\ntracing: { exporter: otlp, endpoint: 'http://127.0.0.1:9/v1/traces', samplingPercent: 0 }`, 1);
    expect(loaded).toContain('@opentelemetry/sdk-trace-base');
    expect(loaded).toContain('@opentelemetry/exporter-trace-otlp-proto'); // the default encoding's exporter, not the JSON one
    expect(loaded).not.toContain('@opentelemetry/exporter-trace-otlp-http');
  });

  it('a JSON bootstrap file is read without the YAML parser; a YAML one loads it', async () => {
    const json = await run('json-bootstrap', '', 1, get, 'json');
    expect(json.loaded).toContain('prom-client');
    expect(json.loaded).not.toContain('yaml');
    expect((await run('yaml-bootstrap', '', 1)).loaded).toContain('yaml');
  });

  it('an injected sidecar (environment bootstrap, ADS) does not load the YAML parser', () => {
    const dist = (m: string) => JSON.stringify(new URL(`../../dist/proxy/${m}`, import.meta.url).href);
    const out = execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module';
       await import(${dist('mesh-agent.js')}); await import(${dist('config/env-bootstrap.js')}); await import(${dist('sidecar.js')});
       const cache = createRequire(import.meta.url).cache;
       const has = (pkg) => Object.keys(cache).some((k) => k.includes('/node_modules/' + pkg + '/'));
       console.log(JSON.stringify({ grpc: has('@grpc/grpc-js'), yaml: has('yaml') }));`,
    ]).toString();
    expect(JSON.parse(out)).toEqual({ grpc: true, yaml: false }); // the xDS client is there, the YAML parser is not
  });

  it('the first requests do not spike peak RSS (the HTTP/1.1 parser is not re-optimized)', async () => {
    const { hwmKb, readyHwmKb, rssKb } = await run('peak', '', 50);
    // Optimizing llhttp's wasm with TurboFan took ~37 MB for a moment (peak 100 MB over 66 MB).
    expect(hwmKb - readyHwmKb).toBeLessThan(15 * 1024);
    expect(hwmKb - rssKb).toBeLessThan(15 * 1024);
  });
});

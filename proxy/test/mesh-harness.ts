// A whole mesh on 127.0.0.1 for the mesh-*.test.ts files: the built
// mesh-control-plane and mesh-proxy processes (dist/), bootstrap tokens minted
// with `mesh-control-plane token`, and tiny HTTP apps that echo what they saw.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { AdminClient } from '../../control-plane/admin/client.js';
import { freePort } from '../../common/free-port.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CP = join(root, 'dist/control-plane/main.js');
const PROXY = join(root, 'dist/proxy/main.js');

export { freePort } from '../../common/free-port.js';

export interface H2Answer {
  /** 0 when no response head arrived. */
  status: number;
  body: string;
  rstCode: number | undefined;
}

/** One HTTP/2 exchange on `session`, settled when the stream closes (never rejects: a failure shows in the answer). */
export function h2Call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<H2Answer> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    const answer: H2Answer = { status: 0, body: '', rstCode: undefined };
    req.on('response', (h) => (answer.status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (answer.body += d));
    req.on('error', () => {});
    req.on('close', () => {
      answer.rstCode = req.rstCode;
      resolve(answer);
    });
    req.end(body);
  });
}

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
}

function startProcess(file: string, args: string[], ready: RegExp, procs: Set<ChildProcess>): Promise<Proc> {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSMESH_LOG_LEVEL: 'warn' } });
  procs.add(child);
  child.on('exit', () => procs.delete(child));
  const p: Proc = { child, out: '', err: '' };
  child.stderr!.on('data', (d) => (p.err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      p.out += d;
      if (ready.test(p.out)) resolve(p);
    });
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${p.out}${p.err}`)));
  });
}

export interface App {
  name: string;
  port: number;
  /** Headers of the last request the app received. */
  last?: http.IncomingHttpHeaders;
  server: http.Server;
}

/** An app that answers `<name>` with the request headers it saw and its body's length as JSON. */
export function startApp(name: string): Promise<App> {
  const app: App = { name, port: 0, server: undefined as unknown as http.Server };
  app.server = http.createServer((req, res) => {
    app.last = req.headers;
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      const body = JSON.stringify({ app: name, url: req.url, headers: req.headers, bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve) => app.server.listen(0, '127.0.0.1', () => resolve({ ...app, port: (app.server.address() as net.AddressInfo).port, server: app.server, get last() { return app.last; } })));
}

export interface SidecarProc {
  name: string;
  inbound: number;
  outbound: number;
  admin: number;
  proc: Proc;
}

export interface SidecarOptions {
  servicePort?: number;
  certTtl?: string;
  registerAs?: string;
  inbound?: number;
  accessLog?: boolean;
  /** OTLP/HTTP traces URL: the sidecar exports spans there (its own sampling 0 %: only a caller's decision or the mesh's pushed sampling starts a trace), batches every 100 ms. */
  tracingEndpoint?: string;
}

/** A DestinationPolicy for `service` asking for HTTP/1.1 between the sidecars (Istio's DO_NOT_UPGRADE). */
export const doNotUpgrade = (service: string): string => `apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: ${service} }
spec:
  targetRef: { kind: Service, name: ${service} }
  connectionPool: { h2UpgradePolicy: DO_NOT_UPGRADE }
`;

export class Mesh {
  readonly dir = mkdtempSync(join(tmpdir(), 'tsmesh-mesh-'));
  readonly procs = new Set<ChildProcess>();
  readonly apps: App[] = [];
  xdsPort = 0;
  adminPort = 0;
  cp: Proc | undefined;
  admin!: AdminClient;

  get stateDir(): string {
    return join(this.dir, 'cp');
  }

  private cpArgs: string[] = [];

  /** Starts (or, after killControlPlane, restarts with the same arguments) mesh-control-plane. */
  async startControlPlane(extra: string[] = this.cpArgs, xdsPort = 0): Promise<void> {
    this.cpArgs = extra;
    const adminListen = this.adminPort ? `127.0.0.1:${this.adminPort}` : '127.0.0.1:0';
    this.cp = await startProcess(CP, ['--listen', `127.0.0.1:${xdsPort}`, '--admin-listen', adminListen, '--state-dir', this.stateDir, '--log-level', 'warn', ...extra], /admin \d+/, this.procs);
    this.xdsPort = Number(/listening (\d+)/.exec(this.cp.out)![1]);
    this.adminPort = Number(/admin (\d+)/.exec(this.cp.out)![1]);
    this.admin = await AdminClient.discover(this.stateDir);
  }

  /** Until `n` proxies are connected to the control plane and have ACKed listeners. */
  waitConnected(n: number, timeoutMs = 10_000): Promise<void> {
    return eventually(`${n} proxies connected and ACKed`, async () => {
      const { items } = await this.admin.proxies();
      if (items.length < n || items.some((p) => !p.types.listener?.ackedVersion)) throw new Error(`${items.length}/${n} proxies`);
    }, timeoutMs);
  }

  /** SIGKILL: no goodbye to the sidecars. */
  killControlPlane(): Promise<void> {
    const c = this.cp!.child;
    return new Promise((resolve) => {
      if (c.exitCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }

  async token(sa: string, ttl = '1h'): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, [CP, 'token', '--state-dir', this.stateDir, '--sa', sa, '--ttl', ttl]);
    return stdout.trim();
  }

  async app(name: string): Promise<App> {
    const a = await startApp(name);
    this.apps.push(a);
    return a;
  }

  /** A sidecar for service `service` (version `version`) in front of `app`, configured only over ADS. */
  /** `registerAs`: the service the workload registers under (a per-version Service, e.g. b-v1), default `service`. */
  /** `inbound`: the inbound listener's port (default: a free one). `accessLog`: JSON lines on the process's stdout (proc.out). */
  async sidecar(service: string, version: string, app: App, opts: SidecarOptions = {}): Promise<SidecarProc> {
    const name = `${service}-${version}`;
    const [inbound, outbound] = [opts.inbound ?? (await freePort()), await freePort()];
    const tokenFile = join(this.dir, `${name}.token`);
    writeFileSync(tokenFile, (await this.token(service)) + '\n', { mode: 0o600 });
    const file = join(this.dir, `${name}.yaml`);
    writeFileSync(
      file,
      `node:
  id: sidecar~127.0.0.1~${name}.default~default.svc.cluster.local
  cluster: ${service}
  namespace: default
  serviceAccount: ${service}
  workload: ${name}
  version: ${version}
  labels: { app: ${service}, version: ${version} }
admin: { address: { address: 127.0.0.1, port: 0 } }
drainTimeout: 1s
${opts.accessLog ? 'accessLog: { path: stdout }\n' : ''}${opts.tracingEndpoint ? `tracing: { exporter: otlp, endpoint: '${opts.tracingEndpoint}', samplingPercent: 0, exportDelayMs: 100 }\n` : ''}dynamicResources:
  ads:
    address: { address: 127.0.0.1, port: ${this.xdsPort} }
    caRootFile: ${join(this.stateDir, 'root-cert.pem')}
    tokenFile: ${tokenFile}
    persistPath: ${join(this.dir, `${name}.last-good.json`)}
    initialBackoff: 100ms
    maxBackoff: 1s
${opts.certTtl ? `    certificateTtl: ${opts.certTtl}\n` : ''}    nodeMetadata:
      INBOUND_ADDRESSES: "127.0.0.1:${inbound}"
      OUTBOUND_ADDRESSES: "127.0.0.1:${outbound}"
      APP_PORT: "${app.port}"
      SERVICE_PORT: "${opts.servicePort ?? 8080}"
      PROTOCOL: http
${opts.registerAs ? `      SERVICE: ${opts.registerAs}\n` : ''}`,
    );
    const proc = await startProcess(PROXY, ['--config', file, '--no-watch'], /"event":"ready"/, this.procs);
    const admin = (JSON.parse(/\{"event":"ready".*\}/.exec(proc.out)![0]) as { admin: number }).admin;
    return { name, inbound, outbound, admin, proc };
  }

  /** Apps a and b (v1) behind their sidecars, both connected to the control plane and ACKed. */
  async pair(opts: { a?: SidecarOptions; b?: SidecarOptions } = {}): Promise<{ a: SidecarProc; b: SidecarProc; appA: App; appB: App }> {
    const [appA, appB] = await Promise.all([this.app('a'), this.app('b')]);
    const [a, b] = await Promise.all([this.sidecar('a', 'v1', appA, opts.a), this.sidecar('b', 'v1', appB, opts.b)]);
    await this.waitConnected(2);
    return { a, b, appA, appB };
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.procs].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    await Promise.all(this.apps.map((a) => new Promise<void>((r) => a.server.close(() => r()))));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A plaintext request into a sidecar's outbound listener, addressed to `host`. */
export async function get(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { headers: { ...headers, host }, reset: true });
  return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
}

/** Polls until fn resolves without throwing (configuration converging through processes). */
export async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${(last as Error)?.message ?? last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Steady requests through a sidecar's outbound listener (a few in flight,
 * keep-alive), counting answers per app and every failure with its reason.
 */
export class Load {
  readonly byApp = new Map<string, number>();
  readonly failures: string[] = [];
  total = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly concurrency = 4,
  ) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const r = await request(`http://127.0.0.1:${this.port}/load`, { headers: { host: this.host } });
        const body = await r.body.text();
        this.total++;
        if (r.statusCode !== 200) this.failures.push(`${r.statusCode} ${String(r.headers['x-tsmesh-error'] ?? '')} ${body.slice(0, 300)}`);
        else {
          const app = (JSON.parse(body) as { app: string }).app;
          this.byApp.set(app, (this.byApp.get(app) ?? 0) + 1);
        }
      } catch (err) {
        this.total++;
        this.failures.push(`request error: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Resets the per-app counts (failures are kept: they must stay zero for the whole run). */
  resetCounts(): void {
    this.byApp.clear();
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }
}

// The app's own kubelet probes, run by the sidecar from inside the pod
// (Istio's pilot-agent /app-health). The injector rewrote them to the health
// port (k8s/inject/probes.ts) because under STRICT mTLS a plaintext probe to
// the app port is refused; the sidecar's own connection to the app is not
// intercepted (its UID is excluded), so it reaches the app directly.

import http from 'node:http';
import net from 'node:net';
import { ValidationError } from '../../common/errors.js';
import { https } from '../lazy-builtins.js';
import { Reader } from '../../common/reader.js';

export interface AppProber {
  httpGet?: { path: string; port: number; scheme: 'HTTP' | 'HTTPS'; host?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number; host?: string };
  /** grpc.health.v1.Health/Check on the port, for `service` (empty: the server as a whole). */
  grpc?: { port: number; service?: string };
  timeoutSeconds: number;
}

export interface ProbeResult {
  status: number;
  body: string;
}

/** At most this many probes (3 per container) and this much JSON: the env var is untrusted input. */
const MAX_PROBERS = 192;
const MAX_JSON = 64 * 1024;

/**
 * Parse TSMESH_KUBE_APP_PROBERS. Throws a ValidationError listing every
 * problem with its field path (e.g. `["/app-health/web/livez"].httpGet.port`).
 */
export function parseAppProbers(json: string, source = 'TSMESH_KUBE_APP_PROBERS'): Map<string, AppProber> {
  if (json.length > MAX_JSON) throw new ValidationError([{ path: '', message: `is longer than ${MAX_JSON} bytes` }], source);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ValidationError([{ path: '', message: `is not JSON: ${(err as Error).message}` }], source);
  }
  const r = new Reader(value);
  const out = new Map<string, AppProber>();
  r.object(true);
  const entries = r.entries();
  if (entries.length > MAX_PROBERS) r.fail(`has more than ${MAX_PROBERS} probes`);
  for (const [path, p] of entries.slice(0, MAX_PROBERS)) {
    if (!PATH.test(path)) p.fail('key must be /app-health/<container>/livez|readyz|startupz');
    if (!p.object(true)) continue;
    p.onlyKeys(['httpGet', 'tcpSocket', 'grpc', 'timeoutSeconds']);
    const timeoutSeconds = p.field('timeoutSeconds').number({ integer: true, min: 1, max: 3600 }) ?? 1;
    const h = p.field('httpGet');
    const t = p.field('tcpSocket');
    const g = p.field('grpc');
    if ([h, t, g].filter((x) => x.present).length !== 1) p.fail('needs exactly one of httpGet, tcpSocket, grpc');
    if (h.present && h.object()) {
      h.onlyKeys(['path', 'port', 'scheme', 'host', 'httpHeaders']);
      const headers = h.field('httpHeaders').array();
      if (headers.length > 32) h.field('httpHeaders').fail('has more than 32 headers');
      const httpHeaders = headers.slice(0, 32).map((x) => ({
        name: x.field('name').string({ required: true, pattern: TOKEN, patternHint: 'a header name' }) ?? '',
        value: x.field('value').string({ required: false, pattern: VALUE, patternHint: 'printable ASCII', maxLength: 4096 }) ?? '',
      }));
      const host = h.field('host').string({ pattern: HOST, patternHint: 'a host name or IP' });
      out.set(path, {
        httpGet: {
          path: h.field('path').string({ pattern: /^\/[\x21-\x7e]*$/, patternHint: 'an absolute path', maxLength: 2048 }) ?? '/',
          port: h.field('port').number({ required: true, integer: true, min: 1, max: 65535 }) ?? 0,
          scheme: (h.field('scheme').string({ enum: ['HTTP', 'HTTPS'] }) as 'HTTP' | 'HTTPS' | undefined) ?? 'HTTP',
          ...(host ? { host } : {}),
          ...(httpHeaders.length ? { httpHeaders } : {}),
        },
        timeoutSeconds,
      });
    } else if (g.present && g.object()) {
      g.onlyKeys(['port', 'service']);
      const service = g.field('service').string({ maxLength: 256 });
      out.set(path, { grpc: { port: g.field('port').number({ required: true, integer: true, min: 1, max: 65535 }) ?? 0, ...(service ? { service } : {}) }, timeoutSeconds });
    } else if (t.present && t.object()) {
      t.onlyKeys(['port', 'host']);
      const host = t.field('host').string({ pattern: HOST, patternHint: 'a host name or IP' });
      out.set(path, { tcpSocket: { port: t.field('port').number({ required: true, integer: true, min: 1, max: 65535 }) ?? 0, ...(host ? { host } : {}) }, timeoutSeconds });
    }
  }
  r.throwIfIssues(source);
  return out;
}

const PATH = /^\/app-health\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/(livez|readyz|startupz)$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
const VALUE = /^[\t\x20-\x7e]*$/;
const HOST = /^[A-Za-z0-9.:_-]{1,253}$/;

/**
 * Run one probe against the app. As kubelet does: 200–399 is healthy and the
 * app's status is passed on; a refused connection, reset or timeout is 503.
 * Redirects are not followed (kubelet follows only same-host ones; the status
 * already counts as healthy).
 */
export function runAppProbe(p: AppProber, defaultHost = '127.0.0.1'): Promise<ProbeResult> {
  const timeout = p.timeoutSeconds * 1000;
  if (p.tcpSocket) return tcpProbe(p.tcpSocket.host ?? defaultHost, p.tcpSocket.port, timeout);
  if (p.grpc) return grpcProbe(defaultHost, p.grpc.port, p.grpc.service ?? '', timeout);
  const g = p.httpGet!;
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/tsmesh', accept: '*/*' };
    for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const mod = g.scheme === 'HTTPS' ? https() : http;
    // kubelet does not verify the app's certificate either.
    const req = mod.request({ host: g.host ?? defaultHost, port: g.port, path: g.path, method: 'GET', headers, timeout, agent: false, rejectUnauthorized: false });
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 500;
      resolve(status >= 200 && status < 400 ? { status, body: 'ok\n' } : { status, body: `app answered ${status}\n` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${p.timeoutSeconds}s`)));
    req.on('error', (err) => resolve({ status: 503, body: `app probe failed: ${err.message}\n` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeout: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout });
    s.once('connect', () => {
      s.destroy();
      resolve({ status: 200, body: 'ok\n' });
    });
    s.once('timeout', () => s.destroy(new Error(`no connection within ${timeout / 1000}s`)));
    s.once('error', (err) => resolve({ status: 503, body: `app probe failed: ${err.message}\n` }));
  });
}

/** Makes gRPC health clients; loaded on the first gRPC probe (grpc-js and the proto are not in every sidecar). */
let healthClients: Promise<(address: string) => HealthClient> | undefined;

interface HealthClient {
  Check(req: { service: string }, opts: { deadline: number }, cb: (err: Error | null, res?: { status: string }) => void): void;
  close(): void;
}

function healthClientFactory(): Promise<(address: string) => HealthClient> {
  healthClients ??= (async () => {
    const [grpc, loader, { protoDir }] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader'), import('../xds/proto-root.js')]);
    const def = loader.loadSync('grpc/health/v1/health.proto', { includeDirs: [protoDir()], enums: String, defaults: true });
    type Ctor = new (address: string, creds: unknown) => HealthClient;
    const Health = (grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: Ctor } } } }).grpc.health.v1.Health;
    const insecure = grpc.credentials.createInsecure();
    return (address: string) => new Health(address, insecure);
  })();
  return healthClients;
}

/** As kubelet's gRPC probe: healthy only when Check answers SERVING within the timeout. */
async function grpcProbe(host: string, port: number, service: string, timeout: number): Promise<ProbeResult> {
  const client = (await healthClientFactory())(`${host.includes(':') ? `[${host}]` : host}:${port}`);
  try {
    const status = await new Promise<string>((resolve, reject) => {
      client.Check({ service }, { deadline: Date.now() + timeout }, (err, res) => (err ? reject(err) : resolve(res?.status ?? 'UNKNOWN')));
    });
    return status === 'SERVING' ? { status: 200, body: 'ok\n' } : { status: 503, body: `app is ${status}\n` };
  } catch (err) {
    return { status: 503, body: `app probe failed: ${(err as Error).message}\n` };
  } finally {
    client.close();
  }
}

// The demo's application: web → api → db, plain HTTP servers that know nothing
// about the mesh. Each calls its dependency through its own sidecar's
// outbound listener, addressed by service name (Host header), as an app in
// Istio calls http://api:9080, forwarding the trace headers of the request it
// serves. api v3 is the deliberately bad release.

import { createServer, request, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AppSpec {
  service: string;
  version: string;
  /** Where this app's sidecar accepts outbound traffic (undefined: calls nothing). */
  outboundPort?: number;
  /** Host of the dependency, e.g. "api:9080". */
  calls?: string;
  /** Fraction of requests answered 500 (0–1). */
  errorRate?: number;
  /** Extra latency per request in ms. */
  delayMs?: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** GET through the sidecar: resolves with status and body (bounded). */
export function get(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent, headers: { host, ...headers }, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Starts one app on 127.0.0.1 (port 0 = any); resolves with the server and its port. */
export async function startApp(spec: AppSpec, port = 0): Promise<{ server: Server; port: number }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    const reply = async () => {
      if (spec.delayMs) await new Promise((r) => setTimeout(r, spec.delayMs));
      if (spec.errorRate && ((n * 37) % 100) / 100 < spec.errorRate) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `${spec.service} ${spec.version} failed` }));
        return;
      }
      let downstream: unknown;
      if (spec.calls && spec.outboundPort) {
        const r = await get(spec.outboundPort, spec.calls, req.url ?? '/', traceContext(req.headers)).catch((e: Error) => ({ status: 502, body: e.message }));
        if (r.status !== 200) {
          res.writeHead(r.status >= 500 ? r.status : 502, { 'content-type': 'text/plain' }).end(`${spec.calls} answered ${r.status}: ${r.body.slice(0, 200)}`);
          return;
        }
        downstream = safeJson(r.body);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service: spec.service, version: spec.version, ...(downstream ? { downstream } : {}) }));
    };
    req.resume();
    req.on('end', () => void reply().catch(() => res.destroy()));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * The headers an app forwards from the request it serves to the calls it makes, so the sidecars'
 * spans join into one trace (what Istio asks of applications: the mesh cannot link a request to
 * the calls the app makes for it).
 */
const TRACE_HEADERS = ['traceparent', 'tracestate', 'x-request-id', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled'];
function traceContext(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of TRACE_HEADERS) {
    const v = h[k];
    if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

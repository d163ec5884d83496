// Helpers for the resilience end-to-end tests: misbehaving upstreams on
// 127.0.0.1, multi-endpoint clusters, and a small load driver.

import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici';
import { close, listen, portOf } from './helpers.js';

export { close, listen, portOf };

/** A cluster with several endpoints (YAML for `clusters:`). */
export function multiCluster(name: string, ports: number[], extra = ''): string {
  return `
    - name: ${name}
      connectTimeout: 200ms${extra}
      loadAssignment:
        endpoints:
${ports.map((p) => `          - { address: { address: 127.0.0.1, port: ${p} } }`).join('\n')}`;
}

/** A route to `cluster` for paths under `prefix`, with extra YAML under `route:` and beside it. */
export function routeTo(name: string, prefix: string, cluster: string, action = '', beside = ''): string {
  return `
            - name: ${name}
              match: { prefix: ${prefix} }
              route:
                cluster: ${cluster}${action}${beside}`;
}

/** A port nothing listens on (bound then closed). */
export async function deadPort(): Promise<number> {
  const s = await listen(net.createServer());
  const p = portOf(s);
  await close(s);
  return p;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** An HTTP/1.1 upstream counting hits and remembering x-envoy-attempt-count values. */
export async function upstream(handler: Handler): Promise<http.Server & { hits: number; attempts: string[] }> {
  const s = http.createServer((req, res) => {
    s.hits++;
    s.attempts.push(String(req.headers['x-envoy-attempt-count']));
    req.resume();
    handler(req, res);
  }) as http.Server & { hits: number; attempts: string[] };
  s.hits = 0;
  s.attempts = [];
  s.keepAliveTimeout = 30_000;
  return listen(s);
}

export const ok: Handler = (_req, res) => res.end('ok');

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export async function get(agent: Agent, port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, headers });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

/** Runs `n` requests with `concurrency` in flight. */
export async function load<T>(n: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await one(i);
      }
    }),
  );
  return out;
}

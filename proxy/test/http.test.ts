import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { request, Agent } from 'undici';
import { Readable } from 'node:stream';
import { close, cluster, echoUpstream, httpBootstrap, listen, portOf, RecordingTelemetry, startSidecar } from './helpers.js';
import type { Sidecar } from '../sidecar.js';

describe('HTTP/1.1 through the sidecar', () => {
  let a: Awaited<ReturnType<typeof echoUpstream>>;
  let b: Awaited<ReturnType<typeof echoUpstream>>;
  let streamer: http.Server;
  let sidecar: Sidecar;
  let port: number;
  const telemetry = new RecordingTelemetry();
  const agent = new Agent({ connections: 4 });

  beforeAll(async () => {
    a = await echoUpstream('a');
    b = await echoUpstream('b');
    // Streams its answer in chunks only after it has seen the whole request body.
    streamer = await listen(
      http.createServer((req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          let i = 0;
          const tick = () => {
            if (i++ < 5) {
              res.write(`chunk${i};`);
              setImmediate(tick);
            } else res.end(`total=${n}`);
          };
          tick();
        });
      }),
    );
    const routes = `
            - name: exact
              match: { path: /exact, headers: [{ name: ":method", stringMatch: { exact: POST } }] }
              route: { cluster: b }
              responseHeadersToAdd: [{ header: { key: x-route, value: exact } }]
            - name: rewrite
              match: { prefix: /old/ }
              route: { cluster: a, prefixRewrite: /new/ }
              requestHeadersToAdd: [{ header: { key: x-added, value: "1" } }]
              requestHeadersToRemove: [x-secret]
            - name: by-header
              match: { prefix: /, headers: [{ name: x-canary, stringMatch: { exact: "yes" } }] }
              route: { cluster: b }
            - name: by-query
              match: { prefix: /q, queryParameters: [{ name: v, stringMatch: { exact: "2" } }] }
              route: { cluster: b }
            - name: regex
              match: { safeRegex: "/items/[0-9]+" }
              route: { cluster: b }
            - name: stream
              match: { prefix: /stream }
              route: { cluster: streamer }
            - name: teapot
              match: { path: /direct }
              directResponse: { status: 418, body: "short and stout" }
            - name: moved
              match: { pathSeparatedPrefix: /moved }
              redirect: { prefixRewrite: /here, responseCode: 308 }
              responseHeadersToAdd: [{ header: { key: x-route, value: moved } }]
            - name: secure
              match: { prefix: /secure }
              redirect: { httpsRedirect: true, hostRedirect: secure.example.com, stripQuery: true }
            - name: dead
              match: { prefix: /dead }
              route: { cluster: dead }
            - name: default
              match: { prefix: /api }
              route: { cluster: a }`;
    const dead = await listen(net.createServer());
    const deadPort = portOf(dead);
    await close(dead);
    const s = await startSidecar(
      httpBootstrap(
        routes,
        cluster('a', portOf(a)) + cluster('b', portOf(b)) + cluster('streamer', portOf(streamer)) + cluster('dead', deadPort),
        '\n            codecType: HTTP1\n            limits: { requestHeadersTimeout: 300ms }',
      ),
      telemetry,
    );
    sidecar = s.sidecar;
    port = s.port();
  });
  afterAll(async () => {
    await sidecar?.close();
    await agent.close();
    await Promise.all([close(a), close(b), close(streamer)]);
  });

  const get = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string | Readable } = {}) => {
    const r = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) };
  };

  it('routes by path, method, header, query and regex', async () => {
    expect((await get('/api/x')).json().name).toBe('a');
    const ex = await get('/exact', { method: 'POST', body: 'x' });
    expect(ex.json().name).toBe('b');
    expect(ex.headers['x-route']).toBe('exact');
    expect((await get('/exact')).status).toBe(404); // GET does not match the POST-only route
    expect((await get('/api/x', { headers: { 'x-canary': 'yes' } })).json().name).toBe('b');
    expect((await get('/q?v=2')).json().name).toBe('b');
    expect((await get('/items/42')).json().name).toBe('b');
    expect((await get('/items/abc')).status).toBe(404);
  });

  it('rewrites the prefix and mutates headers; sets x-forwarded-proto, x-request-id and the attempt count', async () => {
    const r = (await get('/old/thing?z=1', { headers: { 'x-secret': 's', 'x-request-id': 'given' } })).json();
    expect(r.url).toBe('/new/thing?z=1');
    expect(r.headers['x-added']).toBe('1');
    expect(r.headers['x-secret']).toBeUndefined();
    expect(r.headers['x-request-id']).toBe('given');
    expect(r.headers['x-forwarded-proto']).toBe('http');
    expect(r.headers['x-envoy-attempt-count']).toBe('1');
    const generated = (await get('/api/y')).json().headers['x-request-id'];
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 404 with the mesh error header when no route matches, and records NR', async () => {
    const r = await get('/nothing-here');
    expect(r.status).toBe(404);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_NO_ROUTE');
    expect(telemetry.records.some((x) => x.path === '/nothing-here' && x.responseFlags.includes('NR') && x.responseCode === 404)).toBe(true);
  });

  it('answers 503 UF when the upstream refuses connections', async () => {
    const r = await get('/dead');
    expect(r.status).toBe(503);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_UPSTREAM_CONNECT_FAILURE');
    expect(telemetry.records.some((x) => x.path === '/dead' && x.responseFlags.includes('UF'))).toBe(true);
  });

  it('serves direct responses', async () => {
    const r = await get('/direct');
    expect(r.status).toBe(418);
    expect(r.text).toBe('short and stout');
  });

  it('answers redirect routes itself: Location built from the request, nothing sent upstream', async () => {
    const before = a.hits + b.hits;
    const moved = await get('/moved/page?x=1', { headers: { host: 'api.local:8080' } });
    expect(moved.status).toBe(308);
    expect(moved.headers.location).toBe('http://api.local:8080/here/page?x=1');
    expect(moved.headers['x-route']).toBe('moved');
    expect(moved.text).toBe('');
    const secure = await get('/secure/login?next=/', { headers: { host: 'api.local', 'x-forwarded-proto': 'http' } });
    expect(secure.status).toBe(301); // Envoy's default
    expect(secure.headers.location).toBe('https://secure.example.com/secure/login');
    expect(a.hits + b.hits).toBe(before);
    const rec = telemetry.records.find((x) => x.path === '/moved/page')!;
    expect(rec).toMatchObject({ responseCode: 308, routeName: 'moved', responseFlags: [] });
  });

  it('a redirect built from a hostile request (bytes above 0x7f in the host, a bogus x-forwarded-proto) is answered, a bad path refused, and the proxy keeps serving', async () => {
    // The first two reach the redirect (obs-text in the Host is legal HTTP); the last is refused by the parser.
    const cases: [string, RegExp][] = [
      ['GET /moved/%ff%00 HTTP/1.1\r\nhost: a\xe9:80\r\n\r\n', /^HTTP\/1\.1 308 [^\r]*\r\nlocation: http:\/\/a\xe9:80\/here\/%ff%00\r\n/],
      ['GET /secure/x HTTP/1.1\r\nhost: \xff\r\nx-forwarded-proto: \xff\r\n\r\n', /^HTTP\/1\.1 301 [^\r]*\r\nlocation: https:\/\/secure\.example\.com\/secure\/x\r\n/],
      ['GET /moved/\xff HTTP/1.1\r\nhost: a\r\n\r\n', /^HTTP\/1\.1 400 /],
    ];
    for (const [head, want] of cases) {
      const reply = await new Promise<string>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.write(Buffer.from(head, 'latin1')));
        let data = '';
        c.on('data', (d) => (data += d.toString('latin1')));
        c.on('close', () => resolve(data));
        c.on('error', () => resolve(data));
        setTimeout(() => c.destroy(), 1000);
      });
      expect(reply).toMatch(want);
    }
    expect((await get('/api/still-alive')).status).toBe(200);
  });

  it('streams chunked bodies both ways', async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
    const r = await get('/stream', { method: 'POST', body: Readable.from(chunks) });
    expect(r.status).toBe(200);
    expect(r.text).toBe('chunk1;chunk2;chunk3;chunk4;chunk5;total=500000');
  });

  it('keeps the downstream connection alive across requests', async () => {
    const sockets = new Set<string>();
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/api/k', agent: keepAlive }, (res) => {
            sockets.add(`${res.socket.localPort}`);
            res.resume().on('end', resolve);
          })
          .on('error', reject);
      });
    }
    keepAlive.destroy();
    expect(sockets.size).toBe(1);
  });

  it('answers 431 to oversized headers and closes the connection', async () => {
    const big = 'x'.repeat(70 * 1024);
    const reply = await rawExchange(port, `GET /api/x HTTP/1.1\r\nhost: a\r\nx-big: ${big}\r\n\r\n`);
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const many = Array.from({ length: 120 }, (_, i) => `x-h${i}: v`).join('\r\n');
    const reply2 = await rawExchange(port, `GET /api/x HTTP/1.1\r\nhost: a\r\n${many}\r\n\r\n`);
    expect(reply2.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(reply2.toLowerCase()).toContain('connection: close');
  });

  it('drops hop-by-hop headers, including those named in connection', async () => {
    const reply = await rawExchange(port, `GET /api/h HTTP/1.1\r\nhost: a\r\nconnection: close, x-hop\r\nx-hop: 1\r\nkeep-alive: 5\r\nx-kept: 2\r\n\r\n`);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
    expect(body.headers['x-kept']).toBe('2');
    expect(body.headers['x-hop']).toBeUndefined();
    expect(body.headers['keep-alive']).toBeUndefined();
  });

  it('closes a connection whose request headers do not arrive within requestHeadersTimeout (408)', async () => {
    // A slowloris client: starts a request and never finishes the headers.
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /api/x HTTP/1.1\r\nhost: a\r\nx-slow: '));
      let out = '';
      s.on('data', (c) => (out += c));
      s.on('close', () => resolve(out));
    });
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
  });

  it('answers 400 to a malformed request', async () => {
    const reply = await rawExchange(port, `GET /api/x HTTP/1.1\r\nhost a\r\n\r\n`);
    expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  });
});

/** Sends raw bytes, returns everything the server sent until it closed. */
export function rawExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    let out = '';
    s.on('data', (c) => (out += c.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', (e) => (out ? resolve(out) : reject(e)));
  });
}

// H1Pool against real upstream sockets: node:http servers and raw servers
// that misbehave on purpose (closing keep-alives under a request, garbage,
// oversized heads, early answers, extra bytes, upgrades).

import http from 'node:http';
import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { buildConnector } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Pool, type H1PoolOptions } from '../h1-pool.js';
import { attemptFailureOf, classifyUpstreamError } from '../../http/local-reply.js';
import { closeServer, eventually, listen, portOf, rawUpstream } from './harness.js';

interface Outcome {
  status?: number;
  informational: number[];
  headers?: string[];
  body: Buffer;
  trailers?: string[] | null;
  error?: Error & { code?: string };
  upgrade?: { status: number; headers: string[]; socket: net.Socket };
}

/** Dispatches one request and records what the pool reports, in undici's handler contract. */
function dispatch(pool: H1Pool, opts: Parameters<H1Pool['dispatch']>[0]): { done: Promise<Outcome>; abort: (e?: Error) => void; out: Outcome } {
  const out: Outcome = { informational: [], body: Buffer.alloc(0) };
  let abortFn: ((e?: Error) => void) | undefined;
  let finish!: () => void;
  const done = new Promise<Outcome>((r) => (finish = () => r(out)));
  let calls = 0;
  pool.dispatch(opts, {
    onConnect(abort: (e?: Error) => void) {
      abortFn = abort;
    },
    onHeaders(status: number, raw: Buffer[]) {
      if (status < 200) out.informational.push(status);
      else {
        out.status = status;
        out.headers = (raw as unknown as string[]).map(String);
      }
      return true;
    },
    onData(c: Buffer) {
      out.body = Buffer.concat([out.body, c]);
      return true;
    },
    onComplete(trailers: unknown) {
      if (++calls > 1) throw new Error('second completion');
      out.trailers = trailers as string[] | null;
      finish();
    },
    onError(e: Error) {
      if (++calls > 1) throw new Error(`second completion: ${e.message}`);
      out.error = e;
      finish();
    },
    onUpgrade(status: number, headers: string[] | null, socket: net.Socket) {
      if (++calls > 1) throw new Error('second completion');
      out.upgrade = { status, headers: headers ?? [], socket };
      finish();
    },
  } as never);
  return { done, abort: (e) => abortFn?.(e), out };
}

const pools: H1Pool[] = [];
const servers: net.Server[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.destroy();
  for (const s of servers.splice(0)) await closeServer(s);
});

function pool(port: number, over: Partial<H1PoolOptions> = {}): H1Pool {
  const p = new H1Pool({
    connect: buildConnector({ timeout: 1000 }),
    hostname: '127.0.0.1',
    port,
    protocol: 'http:',
    maxConnections: 4,
    keepAliveTimeout: 4000,
    maxRequestsPerConnection: 0,
    ...over,
  });
  pools.push(p);
  return p;
}

async function nodeUpstream(handler: http.RequestListener): Promise<{ port: number; connections: () => number; server: http.Server }> {
  let n = 0;
  const server = http.createServer(handler);
  server.on('connection', () => n++);
  await listen(server);
  servers.push(server);
  return { port: portOf(server), connections: () => n, server };
}

async function raw(respond: Parameters<typeof rawUpstream>[0]) {
  const u = await rawUpstream(respond);
  servers.push(u.server);
  return u;
}

/** Node's server refuses HTTP/1.1 requests without a host. */
const H = ['host', 'u'];
const OK = (body: string, extra = '') => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
/** Complete requests seen in a raw upstream's bytes (heads only: tests here send bodiless requests unless noted). */
const heads = (s: string) => s.split('\r\n\r\n').filter((x) => /^[A-Z]+ \S+ HTTP\/1\.1/.test(x));

describe('H1Pool: keep-alive and framing', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const u = await nodeUpstream((req, res) => res.end(`hi ${req.url}`));
    const p = pool(u.port);
    for (let i = 0; i < 5; i++) {
      const o = await dispatch(p, { method: 'GET', path: `/r${i}`, headers: ['host', 'x'] }).done;
      expect(o.body.toString()).toBe(`hi /r${i}`);
    }
    expect(u.connections()).toBe(1);
    expect(p.connections).toBe(1);
  });

  it('sends string/Buffer bodies with their length and streamed bodies chunked', async () => {
    const u = await nodeUpstream((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => res.end(`${req.headers['content-length'] ?? '-'} ${req.headers['transfer-encoding'] ?? '-'} ${Buffer.concat(parts).toString()}`));
    });
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'POST', path: '/', headers: H, body: 'hello' }).done).body.toString()).toBe('5 - hello');
    expect((await dispatch(p, { method: 'POST', path: '/', headers: H, body: Buffer.alloc(20_000, 97) }).done).body.toString()).toBe(`20000 - ${'a'.repeat(20_000)}`);
    expect((await dispatch(p, { method: 'POST', path: '/', headers: H, body: Readable.from([Buffer.from('ab'), Buffer.from('cd')]) }).done).body.toString()).toBe('- chunked abcd');
    expect((await dispatch(p, { method: 'POST', path: '/', headers: H }).done).body.toString()).toBe('0 - ');
    // A transfer-encoding among the headers never doubles the framing.
    expect((await dispatch(p, { method: 'POST', path: '/', headers: [...H, 'transfer-encoding', 'chunked'], body: 'xyz' }).done).body.toString()).toBe('3 - xyz');
    expect(u.connections()).toBe(1);
  });

  it('does not reuse a connection after a connection: close response', async () => {
    const u = await nodeUpstream((_req, res) => {
      res.setHeader('connection', 'close');
      res.end('bye');
    });
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'GET', path: '/1', headers: H }).done).body.toString()).toBe('bye');
    expect((await dispatch(p, { method: 'GET', path: '/2', headers: H }).done).body.toString()).toBe('bye');
    expect(u.connections()).toBe(2);
    await eventually(() => p.connections === 0, 'closed connections released');
  });

  it("honours the server's keep-alive timeout: closes idle connections before the server would", async () => {
    // timeout=1 leaves nothing once the margin is taken: not reused at all.
    const u = await raw((s) => s.write(OK('x', 'keep-alive: timeout=1\r\n')));
    const p = pool(u.port);
    await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(u.connections).toBe(2);
    // timeout=2: reused, then closed by us after ~1 s idle (the pool's own timeout is a minute).
    const v = await raw((s) => s.write(OK('y', 'Keep-Alive: timeout=2, max=100\r\n')));
    const q = pool(v.port, { keepAliveTimeout: 60_000 });
    await dispatch(q, { method: 'GET', path: '/', headers: H }).done;
    await dispatch(q, { method: 'GET', path: '/', headers: H }).done;
    expect(v.connections).toBe(1);
    await eventually(() => q.connections === 0 && v.sockets[0]!.destroyed, 'idle close', 800);
  });

  it('reads a close-delimited response (no length) to the end', async () => {
    const u = await raw((s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart1-');
      setImmediate(() => s.end('part2'));
    });
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.error).toBeUndefined();
    expect(o.body.toString()).toBe('part1-part2');
    await eventually(() => p.connections === 0, 'connection released');
  });

  it('parses a response (chunked, trailers, then the next one) that arrives one byte at a time', async () => {
    const text = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3;x=y\r\nabc\r\n0\r\nx-t: 1\r\n\r\n';
    const u = await raw(async (s, got) => {
      if (!got().endsWith('\r\n\r\n')) return;
      for (const ch of text) {
        s.write(ch);
        await new Promise((r) => setTimeout(r, 0));
      }
    });
    const p = pool(u.port);
    for (let i = 0; i < 2; i++) {
      const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
      expect(o.headers).toEqual(['Transfer-Encoding', 'chunked', 'X-A', 'b']);
      expect(o.body.toString()).toBe('abc');
      expect(o.trailers).toEqual(['x-t', '1']);
    }
    expect(u.connections).toBe(1);
  });

  it('delivers chunked responses with their trailers', async () => {
    const u = await raw((s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-sum: 5\r\nx-more: y\r\n\r\n'));
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.body.toString()).toBe('abcde');
    expect(o.trailers).toEqual(['x-sum', '5', 'x-more', 'y']);
  });

  it('skips 1xx responses before the final one, in the same read or apart', async () => {
    const u = await raw((s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n');
      setImmediate(() => s.write(OK('final')));
    });
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.informational).toEqual([100, 103]);
    expect(o.status).toBe(200);
    expect(o.headers).toEqual(['content-length', '5']);
    expect(o.body.toString()).toBe('final');
  });

  it('HEAD and 204/304 responses carry no body and the connection is reused', async () => {
    const u = await raw((s, got) => {
      const n = heads(got()).length;
      if (n === 1) s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
      if (n === 2) s.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 1000\r\n\r\n');
      if (n === 3) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      if (n === 4) s.write(OK('last'));
    });
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'HEAD', path: '/', headers: H }).done).status).toBe(200);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).status).toBe(304);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).status).toBe(204);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.toString()).toBe('last');
    expect(u.connections).toBe(1);
  });
});

describe('H1Pool: misbehaving upstreams', () => {
  it('replays an idempotent bodiless request once when a reused keep-alive closes under it', async () => {
    const u = await raw((s, got, conn) => {
      const n = heads(got()).length;
      if (conn === 0 && n === 1) s.write(OK('first'));
      else if (conn === 0) s.destroy(); // the server's keep-alive timeout fired as the request arrived
      else s.write(OK(`fresh ${conn}`));
    });
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'GET', path: '/1', headers: H }).done).body.toString()).toBe('first');
    const o = await dispatch(p, { method: 'GET', path: '/2', headers: H }).done;
    expect(o.error).toBeUndefined();
    expect(o.body.toString()).toBe('fresh 1');
    expect(u.connections).toBe(2);
  });

  it('does not replay a POST with a streamed body', async () => {
    const u = await raw((s, got, conn) => {
      if (conn === 0 && heads(got()).length === 1) s.write(OK('first'));
      else if (conn === 0) s.destroy();
      else s.write(OK('replayed!'));
    });
    const p = pool(u.port);
    await dispatch(p, { method: 'GET', path: '/1', headers: H }).done;
    const body = new PassThrough();
    const d = dispatch(p, { method: 'POST', path: '/2', headers: H, body });
    body.write('some');
    const o = await d.done;
    body.destroy();
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    expect(u.connections).toBe(1);
  });

  it('does not replay a request sent on a fresh connection, nor twice', async () => {
    const u = await raw((s) => s.destroy());
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    expect(u.connections).toBe(1);
  });

  it('fails on a response head over the limit', async () => {
    const u = await raw((s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'b'.repeat(4000)}\r\ncontent-length: 0\r\n\r\n`));
    const p = pool(u.port, { maxHeaderBytes: 1024 });
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    expect(o.status).toBeUndefined();
    await eventually(() => p.connections === 0, 'connection dropped');
  });

  it('fails on an endless chunk extension instead of reading it forever', async () => {
    const u = await raw((s) => {
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n5;ext=');
      const more = () => {
        if (s.destroyed) return;
        if (s.write('e'.repeat(8192))) setImmediate(more);
        else s.once('drain', more);
      };
      more();
    });
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.body.toString()).toBe('abc');
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    await eventually(() => p.connections === 0, 'connection dropped');
  });

  it('many small chunks with extensions and a no-header response are fine', async () => {
    let body = '';
    for (let i = 0; i < 500; i++) body += `2;i=${i};n="q"\r\nxy\r\n`;
    const u = await raw((s, _got, conn) => (conn === 0 ? s.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${body}0\r\n\r\n`) : s.end(`HTTP/1.1 200 OK\r\n\r\n${'z'.repeat(50_000)}`)));
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.length).toBe(1000);
    const u2 = await raw((s) => s.end(`HTTP/1.1 200 OK\r\n\r\n${'z'.repeat(50_000)}`));
    const o = await dispatch(pool(u2.port), { method: 'GET', path: '/', headers: H }).done;
    expect(o.error).toBeUndefined();
    expect(o.body.length).toBe(50_000);
  });

  it('fails on garbage and never reuses that connection', async () => {
    const u = await raw((s, _got, conn) => (conn === 0 ? s.write('SSH-2.0-OpenSSH\r\n\r\n') : s.write(OK('sane'))));
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.toString()).toBe('sane');
    expect(u.connections).toBe(2);
  });

  it('fails on a response with both content-length and transfer-encoding (smuggling) and on duplicate lengths', async () => {
    const u = await raw((s, _got, conn) =>
      s.write(conn === 0 ? 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n' : 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd'),
    );
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).error?.code).toBe('UND_ERR_SOCKET');
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).error?.code).toBe('UND_ERR_SOCKET');
  });

  it('bytes after a complete response (a desynchronised server): the response stands, the connection is not reused', async () => {
    const u = await raw((s, _got, conn) => s.write(conn === 0 ? OK('one') + OK('unasked') : OK(`two ${conn}`)));
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.toString()).toBe('one');
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.toString()).toBe('two 1');
    expect(u.connections).toBe(2);
  });

  it('headersTimeout: UND_ERR_HEADERS_TIMEOUT and the connection is dropped', async () => {
    const u = await raw(() => {});
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H, headersTimeout: 100 }).done;
    expect(o.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    await eventually(() => p.connections === 0, 'connection dropped');
  });

  it('a response that arrives before the request body was all sent completes, and the connection is not reused', async () => {
    const u = await raw((s, got, conn) => {
      if (conn === 0 && got().includes('\r\n\r\n') && !got().includes('answered')) {
        s.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!');
        (s as unknown as { answered?: boolean }).answered = true;
      } else if (conn === 1 && heads(got()).length === 1) s.write(OK('next'));
    });
    const p = pool(u.port);
    const body = new PassThrough();
    const d = dispatch(p, { method: 'POST', path: '/up', headers: H, body });
    body.write('x'.repeat(100));
    const o = await d.done;
    expect(o.status).toBe(413);
    expect(o.body.toString()).toBe('big!');
    body.end('rest');
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.toString()).toBe('next');
    expect(u.connections).toBe(2);
  });

  it('refuses a path or header value that would split the request head, before sending anything', async () => {
    const u = await raw((s) => s.write(OK('x')));
    const p = pool(u.port);
    expect((await dispatch(p, { method: 'GET', path: '/a b', headers: H }).done).error?.code).toBe('UND_ERR_INVALID_ARG');
    expect((await dispatch(p, { method: 'GET', path: '/a\r\nx: y', headers: H }).done).error?.code).toBe('UND_ERR_INVALID_ARG');
    expect((await dispatch(p, { method: 'GET', path: '/', headers: ['x-a', 'v\r\nx-b: 1'] }).done).error?.code).toBe('UND_ERR_INVALID_ARG');
    expect((await dispatch(p, { method: 'GET', path: '/ok', headers: H }).done).body.toString()).toBe('x');
    expect(u.received.join('')).toBe('GET /ok HTTP/1.1\r\nhost: u\r\n\r\n');
  });

  it('a 101 to a request that asked for no upgrade is an error (the socket is not leaked)', async () => {
    const u = await raw((s) => s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'));
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    await eventually(() => p.connections === 0, 'connection dropped');
  });
});

describe('H1Pool: handler failures and truncation', () => {
  it('a handler callback that throws fails its request and costs only that connection', async () => {
    const u = await raw((s) => s.write(OK('fine')));
    const p = pool(u.port);
    const errors: Error[] = [];
    const boom = new Error('handler bug');
    p.dispatch({ method: 'GET', path: '/', headers: H }, {
      onConnect() {},
      onHeaders() {
        throw boom;
      },
      onData: () => true,
      onComplete() {},
      onError: (e: Error) => errors.push(e),
    } as never);
    await eventually(() => errors.length === 1, 'the error');
    expect(errors[0]).toBe(boom);
    expect((await dispatch(p, { method: 'GET', path: '/', headers: H }).done).body.toString()).toBe('fine');
    expect(u.connections).toBe(2);
  });

  it('a response cut short by the server closing is an error, not a completion', async () => {
    const u = await raw((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-this'));
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.status).toBe(200);
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
    expect(o.trailers).toBeUndefined();
  });

  it('a chunked response cut short is an error too', async () => {
    const u = await raw((s) => s.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n'));
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(o.body.toString()).toBe('hello');
    expect(o.error?.code).toBe('UND_ERR_SOCKET');
  });
});

describe('H1Pool: limits, aborts, upgrades, shutdown', () => {
  it('maxConnections: extra requests queue and are served in order on the one connection', async () => {
    const held: http.ServerResponse[] = [];
    const order: string[] = [];
    const u = await nodeUpstream((req, res) => {
      order.push(req.url!);
      if (req.url === '/1') held.push(res);
      else res.end(req.url);
    });
    const p = pool(u.port, { maxConnections: 1 });
    const ds = [1, 2, 3, 4].map((i) => dispatch(p, { method: 'GET', path: `/${i}`, headers: H }));
    await eventually(() => held.length === 1, 'first request held');
    expect(p.queued).toBe(3);
    held[0]!.end('/1');
    const outs = await Promise.all(ds.map((d) => d.done));
    expect(outs.map((o) => o.body.toString())).toEqual(['/1', '/2', '/3', '/4']);
    expect(order).toEqual(['/1', '/2', '/3', '/4']);
    expect(u.connections()).toBe(1);
  });

  it('a request arriving while a connect is slow (a TLS handshake) waits for it instead of opening another', async () => {
    const heldResponses: http.ServerResponse[] = [];
    const u = await nodeUpstream((req, res) => (req.url === '/b' ? heldResponses.push(res) : res.end(req.url)));
    const direct = buildConnector({ timeout: 1000 });
    // The first connect completes at once; later ones wait until released (a handshake in progress).
    const heldConnects: (() => void)[] = [];
    let connects = 0;
    const p = pool(u.port, {
      connect: (o, cb) => {
        if (connects++ === 0) return direct(o, cb);
        heldConnects.push(() => direct(o, cb));
      },
    });
    const a = dispatch(p, { method: 'GET', path: '/a', headers: H });
    const b = dispatch(p, { method: 'GET', path: '/b', headers: H });
    expect(connects).toBe(2);
    // The first connection serves /a, then /b from the queue; the second connect is still in flight.
    expect((await a.done).body.toString()).toBe('/a');
    await eventually(() => heldResponses.length === 1, '/b at the upstream');
    // /c finds no idle connection, but a connect is already on its way for one waiting request: no third one.
    const c = dispatch(p, { method: 'GET', path: '/c', headers: H });
    expect(p.queued).toBe(1);
    expect(connects).toBe(2);
    for (const release of heldConnects.splice(0)) release();
    expect((await c.done).body.toString()).toBe('/c');
    heldResponses[0]!.end('/b');
    expect((await b.done).body.toString()).toBe('/b');
    expect(p.connections).toBe(2);
    expect(u.connections()).toBe(2);
  });

  it('at most maxConnecting connects in flight: a burst waits for them, and the pool grows as they finish', async () => {
    const u = await nodeUpstream((req, res) => res.end(req.url));
    const direct = buildConnector({ timeout: 1000 });
    const heldConnects: (() => void)[] = [];
    const p = pool(u.port, { maxConnections: 100, maxConnecting: 3, connect: (o, cb) => void heldConnects.push(() => direct(o, cb)) });
    const ds = Array.from({ length: 20 }, (_, i) => dispatch(p, { method: 'GET', path: `/${i}`, headers: H }));
    // Twenty waiting requests, three handshakes under way: not twenty.
    expect(heldConnects.length).toBe(3);
    expect(p.queued).toBe(20);
    // Each finished connect serves a waiting request and lets one more start while the queue outnumbers those in flight.
    heldConnects.shift()!();
    await eventually(() => heldConnects.length === 3 && p.connections === 4, 'a fourth connect once the first finished');
    while (heldConnects.length > 0) heldConnects.shift()!();
    const outs = await Promise.all(ds.map((d) => d.done));
    expect(outs.map((o) => o.body.toString())).toEqual(ds.map((_, i) => `/${i}`));
    for (const release of heldConnects.splice(0)) release();
    expect(u.connections()).toBeLessThan(20);
  });

  it('abort() of a queued request: it never reaches the upstream', async () => {
    const held: http.ServerResponse[] = [];
    const seen: string[] = [];
    const u = await nodeUpstream((req, res) => {
      seen.push(req.url!);
      if (req.url === '/1') held.push(res);
      else res.end(req.url);
    });
    const p = pool(u.port, { maxConnections: 1 });
    const a = dispatch(p, { method: 'GET', path: '/1', headers: H });
    const b = dispatch(p, { method: 'GET', path: '/2', headers: H });
    const c = dispatch(p, { method: 'GET', path: '/3', headers: H });
    await eventually(() => held.length === 1, 'held');
    b.abort();
    expect((await b.done).error?.code).toBe('UND_ERR_ABORTED');
    held[0]!.end('one');
    expect((await a.done).body.toString()).toBe('one');
    expect((await c.done).body.toString()).toBe('/3');
    expect(seen).toEqual(['/1', '/3']);
  });

  it('abort() of an in-flight request closes its connection; the count returns to zero', async () => {
    let closedUpstream = 0;
    const u = await nodeUpstream((req) => req.socket.on('close', () => closedUpstream++));
    const p = pool(u.port);
    const d = dispatch(p, { method: 'GET', path: '/hang', headers: H });
    await eventually(() => p.connections === 1 && u.connections() === 1, 'in flight');
    await new Promise((r) => setTimeout(r, 10));
    const err = Object.assign(new Error('client went away'), { code: 'X_GONE' });
    d.abort(err);
    expect((await d.done).error).toBe(err);
    expect(p.connections).toBe(0);
    await eventually(() => closedUpstream === 1, 'upstream saw the close');
  });

  it('upgrade: a 101 hands the socket over with the bytes that followed the head', async () => {
    const u = await raw((s, got) => {
      if (got().includes('\r\n\r\n') && !(s as unknown as { up?: boolean }).up) {
        (s as unknown as { up?: boolean }).up = true;
        s.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nhello-from-server');
        s.on('data', (c: Buffer) => {
          if (!c.toString().startsWith('GET')) s.write(`echo:${c}`);
        });
      }
    });
    const p = pool(u.port);
    const o = await dispatch(p, { method: 'GET', path: '/ws', headers: ['host', 'x'], upgrade: 'echo' }).done;
    expect(u.received[0]).toMatch(/^GET \/ws HTTP\/1\.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n$/);
    expect(o.upgrade?.status).toBe(101);
    const sock = o.upgrade!.socket;
    let got = '';
    sock.on('data', (c: Buffer) => (got += c));
    sock.write('ping');
    await eventually(() => got === 'hello-from-serverecho:ping', 'upgraded bytes both ways');
    expect(p.connections).toBe(0); // the socket is no longer the pool's
    sock.destroy();
  });

  it('close(): in-flight requests finish, new ones are refused; destroy(): in-flight and queued fail', async () => {
    const held: http.ServerResponse[] = [];
    const u = await nodeUpstream((_req, res) => held.push(res));
    const p = pool(u.port, { maxConnections: 1 });
    const a = dispatch(p, { method: 'GET', path: '/a', headers: H });
    await eventually(() => held.length === 1, 'held');
    let closed = false;
    const closing = p.close().then(() => (closed = true));
    expect((await dispatch(p, { method: 'GET', path: '/late', headers: H }).done).error?.code).toBe('UND_ERR_DESTROYED');
    expect(closed).toBe(false);
    held[0]!.end('finished');
    expect((await a.done).body.toString()).toBe('finished');
    await closing;
    expect(p.connections).toBe(0);

    const q = pool(u.port, { maxConnections: 1 });
    const x = dispatch(q, { method: 'GET', path: '/x', headers: H });
    const y = dispatch(q, { method: 'GET', path: '/y', headers: H });
    await eventually(() => held.length === 2, 'held');
    await q.destroy();
    expect((await x.done).error?.code).toBe('UND_ERR_SOCKET');
    expect((await y.done).error?.code).toBe('UND_ERR_DESTROYED');
    expect(q.connections).toBe(0);
  });

  it('fails waiting requests when the upstream refuses connections', async () => {
    const u = await raw(() => {});
    const port = u.port;
    await closeServer(u.server);
    servers.splice(servers.indexOf(u.server), 1);
    const p = pool(port, { maxConnections: 1 });
    const outs = await Promise.all([1, 2].map(() => dispatch(p, { method: 'GET', path: '/', headers: H }).done));
    expect(outs.map((o) => o.error?.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    expect(p.connections).toBe(0);
  });

  it('a TLS upstream that resets during the handshake is a connect failure (Envoy UF), not an upstream reset (UR)', async () => {
    const server = net.createServer((sock) => sock.resetAndDestroy());
    await listen(server);
    servers.push(server);
    const p = pool(portOf(server), { protocol: 'https:', connect: buildConnector({ timeout: 1000, rejectUnauthorized: false }) });
    const out = await dispatch(p, { method: 'GET', path: '/', headers: H }).done;
    expect(out.error).toBeDefined();
    expect(classifyUpstreamError(out.error)).toBe('CONNECT_FAILURE');
    expect(attemptFailureOf(out.error)).toBe('connect-failure');
  });
});

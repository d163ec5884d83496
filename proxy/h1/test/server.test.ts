// H1ServerConnection on real sockets: raw clients send exact bytes to a
// connection whose handler is a small application (echo, held responses,
// statuses without a body, header values with CR/LF …).

import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { H1Handler, H1Request, H1Response } from '../h1-server.js';
import { closeServer, eventually, h1Server, limits, parseResponses, RawClient } from './harness.js';

type Body = NodeJS.ReadableStream & { on(e: 'data', f: (c: Buffer) => void): unknown };

/** The application behind the connection; `held` responses are finished by the test. */
function app() {
  const seen: { method: string; url: string; headers: Record<string, string | undefined>; raw: string[] }[] = [];
  const held: H1Response[] = [];
  const closes: string[] = [];
  const handler: H1Handler = {
    handle(req: H1Request, res: H1Response) {
      seen.push({ method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders as string[] }); // live: later mutations (trailers) would show
      res.on('close', () => closes.push(req.url));
      const u = req.url;
      if (u.startsWith('/hold')) return void held.push(res);
      if (u === '/early404') return void res.writeHead(404, ['content-type', 'text/plain']).end('nope');
      if (u.startsWith('/status/')) {
        res.writeHead(Number(u.slice(8)), ['content-length', '4', 'x-s', 'y']);
        res.write('body');
        return void res.end('more');
      }
      if (u === '/stream') {
        res.writeHead(200, ['content-type', 'text/plain']);
        res.write('a'.repeat(3));
        res.write(Buffer.alloc(20_000, 98));
        res.addTrailers({ 'x-sum': '20003' });
        return void res.end();
      }
      if (u === '/crlf') return void res.writeHead(200, ['x-ok', 'fine', 'x-bad', 'v\r\nx-injected: 1', 'x-bad2', 'v\nset-cookie: a=b', 'Content-Length', '2', 'Transfer-Encoding', 'chunked']).end('ok');
      if (u === '/throw') throw new Error('handler bug');
      if (u === '/big') return void res.end(Buffer.alloc(8 << 20, 66)); // ignores back-pressure
      if (u === '/short') return void res.writeHead(200, ['content-length', '10']).end('12345');
      const body = req as unknown as Body;
      if (typeof (body as { on?: unknown }).on !== 'function') return void res.end(JSON.stringify({ method: req.method, url: u, bytes: 0 }));
      const chunks: Buffer[] = [];
      body.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
      body.on('end', () => {
        const b = Buffer.concat(chunks);
        res.writeHead(200, ['content-type', 'application/json']);
        res.end(JSON.stringify({ method: req.method, url: u, bytes: b.length, body: b.toString('latin1') }));
      });
      body.on('error', () => closes.push(`${u}:body-error`));
    },
    upgrade(_req, socket) {
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
    },
  };
  return { handler, seen, held, closes };
}

let server: net.Server | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await closeServer(server);
  server = undefined;
});

async function start(over = {}) {
  const a = app();
  const s = await h1Server(a.handler, limits(over));
  server = s.server;
  const client = () => {
    const c = new RawClient(s.port);
    clients.push(c);
    return c;
  };
  return { ...a, ...s, client };
}

const GET = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nhost: t\r\n${extra}\r\n`;

describe('H1ServerConnection: framing and order', () => {
  it('answers pipelined requests in order, including one queued behind a held response', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/a') + GET('/hold1') + GET('/b') + `POST /c HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nxyz` + GET('/d'));
    await eventually(() => s.held.length === 1, 'the held request');
    await c.responses(1);
    // Nothing behind the held response was answered, nor even handed to the application.
    expect(parseResponses(c.data).responses.map((r) => JSON.parse(r.body.toString()).url)).toEqual(['/a']);
    expect(s.seen.map((x) => x.url)).toEqual(['/a', '/hold1']);
    s.held[0]!.end('held-done');
    const rs = await c.responses(5);
    expect(rs.map((r) => r.body.toString())).toEqual([
      JSON.stringify({ method: 'GET', url: '/a', bytes: 0 }),
      'held-done',
      JSON.stringify({ method: 'GET', url: '/b', bytes: 0 }),
      JSON.stringify({ method: 'POST', url: '/c', bytes: 3, body: 'xyz' }),
      JSON.stringify({ method: 'GET', url: '/d', bytes: 0 }),
    ]);
    expect(s.seen.map((x) => x.url)).toEqual(['/a', '/hold1', '/b', '/c', '/d']);
  });

  it('keeps order when more pipelined bytes arrive while a response is held', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/hold1') + GET('/x1'));
    await eventually(() => s.held.length === 1, 'held');
    c.send(GET('/x2') + GET('/x3'));
    await new Promise((r) => setTimeout(r, 20)); // let the later bytes arrive behind the held response
    s.held[0]!.end('h');
    const rs = await c.responses(4);
    expect(rs.slice(1).map((r) => JSON.parse(r.body.toString()).url)).toEqual(['/x1', '/x2', '/x3']);
  });

  it('parses a request that arrives one byte at a time', async () => {
    const s = await start();
    const c = s.client();
    await c.connected();
    const req = `POST /bytes?q=1 HTTP/1.1\r\nHost: t\r\nX-Long-Name: some value\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
    for (const ch of req) {
      c.send(ch);
      await new Promise((r) => setImmediate(r));
    }
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body.toString())).toEqual({ method: 'POST', url: '/bytes?q=1', bytes: 5, body: 'hello' });
    expect(s.seen[0]!.headers['x-long-name']).toBe('some value');
  });

  it('reads chunked bodies with extensions and trailers; trailers do not leak into the request headers', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /up HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n3;ext=1;name="v"\r\nabc\r\n2\r\nde\r\n0\r\nx-trailer: t1\r\nx-other: t2\r\n\r\n` + GET('/next'));
    const rs = await c.responses(2);
    expect(JSON.parse(rs[0]!.body.toString()).body).toBe('abcde');
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/next');
    expect(s.seen[0]!.raw).toEqual(['host', 't', 'transfer-encoding', 'chunked']);
  });

  it('sends 100 Continue for Expect: 100-continue before the body arrives', async () => {
    const s = await start();
    const c = s.client();
    c.send(`PUT /put HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n`);
    await c.until(() => c.text.includes('\r\n\r\n'), '100 Continue');
    expect(c.text).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.send('data');
    const rs = await c.responses(2);
    expect(rs[0]!.status).toBe(100);
    expect(JSON.parse(rs[1]!.body.toString())).toMatchObject({ bytes: 4, body: 'data' });
  });

  it('HTTP/1.0: close-delimited streaming response without keep-alive, keep-alive kept when asked', async () => {
    const s = await start();
    const c = s.client();
    c.send(`GET /stream HTTP/1.0\r\nhost: t\r\n\r\n`);
    expect(await c.closedByServer()).toBe(true);
    const head = c.text.slice(0, c.text.indexOf('\r\n\r\n'));
    expect(head).not.toMatch(/transfer-encoding/i);
    expect(head).not.toMatch(/content-length/i);
    expect(c.data.length - head.length - 4).toBe(20_003);

    const k = s.client();
    k.send(`GET /a HTTP/1.0\r\nhost: t\r\nconnection: keep-alive\r\n\r\n`);
    const [r] = await k.responses(1);
    expect(r!.header('connection')).toBe('keep-alive');
    k.send(`GET /b HTTP/1.0\r\nhost: t\r\nconnection: keep-alive\r\n\r\n`);
    const rs = await k.responses(2);
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/b');
  });

  it('HTTP/1.0 with transfer-encoding: answered, then closed even when keep-alive was asked', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /old HTTP/1.0\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n` + GET('/smuggled'));
    expect(await c.closedByServer()).toBe(true);
    const { responses } = parseResponses(c.data, [], true);
    expect(responses).toHaveLength(1);
    expect(JSON.parse(responses[0]!.body.toString()).body).toBe('abc');
    expect(s.seen.map((x) => x.url)).toEqual(['/old']);
  });

  it('HEAD, 204 and 304 responses never carry body bytes, whatever the handler writes', async () => {
    const s = await start();
    const c = s.client();
    c.send(`HEAD /status/200 HTTP/1.1\r\nhost: t\r\n\r\n` + GET('/status/204') + GET('/status/304') + GET('/a'));
    const rs = await c.responses(4, ['HEAD', 'GET', 'GET', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([200, 204, 304, 200]);
    expect(rs.slice(0, 3).map((r) => r.body.length)).toEqual([0, 0, 0]);
    // The fourth response parses right after the third: no stray body bytes in between.
    expect(JSON.parse(rs[3]!.body.toString()).url).toBe('/a');
    expect(rs[0]!.header('content-length')).toBe('4');
  });

  it('streams a response without length as chunked, with trailers, chunk framing intact', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/stream'));
    const [r] = await c.responses(1);
    expect(r!.header('transfer-encoding')).toBe('chunked');
    expect(r!.body.length).toBe(20_003);
    expect(r!.trailers).toEqual([['x-sum', '20003']]);
  });

  it('never splits the head on header values with CR/LF, and keeps framing its own', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/crlf') + GET('/a'));
    const rs = await c.responses(2);
    expect(rs[0]!.header('x-ok')).toBe('fine');
    expect(rs[0]!.header('x-injected')).toBeUndefined();
    expect(rs[0]!.header('set-cookie')).toBeUndefined();
    expect(rs[0]!.all('content-length')).toEqual(['2']);
    expect(rs[0]!.header('transfer-encoding')).toBeUndefined();
    expect(rs[0]!.body.toString()).toBe('ok');
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/a');
  });

  it('a handler that throws costs its connection (500), not the process', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/throw') + GET('/a'));
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 500 Internal Server Error');
    const d = s.client();
    d.send(GET('/a'));
    expect((await d.responses(1))[0]!.status).toBe(200);
  });

  it('closes the connection after a body shorter than its declared content-length', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/short') + GET('/a'));
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.endsWith('12345')).toBe(true);
    expect(s.seen.map((x) => x.url)).toEqual(['/short']);
  });
});

describe('H1ServerConnection: malformed requests get 400 and a close', () => {
  const bad: [string, string][] = [
    ['CL and TE together', `POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['two different content-lengths', `POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!`],
    ['a bad chunk size', `POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    ['obs-fold', `GET /x HTTP/1.1\r\nhost: t\r\nx-folded: a\r\n b\r\n\r\n`],
    ['a bare LF', `GET /x HTTP/1.1\nhost: t\n\n`],
    ['a bare LF inside the head', `GET /x HTTP/1.1\r\nhost: t\nx-a: b\r\n\r\n`],
    ['an invalid header token', `GET /x HTTP/1.1\r\nhost: t\r\nx(bad): 1\r\n\r\n`],
    ['a space before the colon', `GET /x HTTP/1.1\r\nhost : t\r\n\r\n`],
    ['NUL in the URL', `GET /x\0y HTTP/1.1\r\nhost: t\r\n\r\n`],
    ['a non-chunked transfer-encoding', `POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip\r\n\r\nabc`],
    ['a CR without LF in a header value', `GET /x HTTP/1.1\r\nhost: t\r\nx-a: b\rc\r\n\r\n`],
    ['an HTTP/2.0 request line', `GET /x HTTP/2.0\r\nhost: t\r\n\r\n`],
    ['an HTTP/0.9 request line', `GET /x HTTP/0.9\r\nhost: t\r\n\r\n`],
    ['an HTTP/0.9 simple request', `GET /x\r\n\r\n`],
    ['an HTTP/1.1 request without Host', `GET /x HTTP/1.1\r\naccept: */*\r\n\r\n`],
    ['two Host headers', `GET /x HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n`],
    ['an upgrade carrying a body', `GET /x HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: h2c\r\ncontent-length: 3\r\n\r\nabc`],
    ['a CONNECT request', `CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n`],
  ];
  for (const [name, bytes] of bad) {
    it(name, async () => {
      const s = await start();
      const c = s.client();
      c.send(bytes);
      expect(await c.closedByServer()).toBe(true);
      expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      expect(s.seen).toEqual([]);
    });
  }

  it('a bad chunk after a good head in the same read: the handler never sees the request', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n`);
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(s.seen).toEqual([]);
  });

  it('an endless chunk extension is cut off (400), whether in one read or many', async () => {
    for (const pieces of [1, 40]) {
      const s = await start();
      const c = s.client();
      c.send(`POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n5;ext=`);
      const ext = 'e'.repeat(100_000); // over MAX_CHUNK_GAP + the head limit (trailers)
      for (let i = 0; i < pieces && !c.socket.destroyed; i++) {
        c.send(ext.slice((i * ext.length) / pieces, ((i + 1) * ext.length) / pieces));
        await new Promise((r) => setImmediate(r));
      }
      await c.closed;
      expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
      await closeServer(server);
    }
  });

  it('many small chunks with extensions are fine', async () => {
    const s = await start();
    const c = s.client();
    let body = '';
    for (let i = 0; i < 300; i++) body += `a;i=${i};name="quoted"\r\n${'x'.repeat(10)}\r\n`;
    c.send(`POST /many HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n${body}0\r\n\r\n`);
    const [r] = await c.responses(1);
    expect(JSON.parse(r!.body.toString()).bytes).toBe(3000);
  });

  it('HTTP/1.0 without Host is fine', async () => {
    const s = await start();
    const c = s.client();
    c.send(`GET /old HTTP/1.0\r\n\r\n`);
    expect(await c.closedByServer()).toBe(true);
    expect(JSON.parse(parseResponses(c.data).responses[0]!.body.toString()).url).toBe('/old');
  });

  it('header bytes over maxRequestHeadersKb: 431 and close', async () => {
    const s = await start({ maxRequestHeadersKb: 2 });
    const c = s.client();
    c.send(`GET /x HTTP/1.1\r\nhost: t\r\nx-big: ${'a'.repeat(3000)}\r\n\r\n`);
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(s.seen).toEqual([]);
  });

  it('a URL over maxRequestHeadersKb: 431 and close', async () => {
    const s = await start({ maxRequestHeadersKb: 1 });
    const c = s.client();
    c.send(`GET /${'u'.repeat(2000)} HTTP/1.1\r\nhost: t\r\n\r\n`);
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });

  it('more header fields than maxHeadersCount: 431', async () => {
    const s = await start({ maxHeadersCount: 5 });
    const c = s.client();
    c.send(`GET /x HTTP/1.1\r\nhost: t\r\n${Array.from({ length: 6 }, (_, i) => `x-${i}: v\r\n`).join('')}\r\n`);
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const ok = s.client();
    ok.send(`GET /x HTTP/1.1\r\nhost: t\r\n${Array.from({ length: 4 }, (_, i) => `x-${i}: v\r\n`).join('')}\r\n`);
    expect((await ok.responses(1))[0]!.status).toBe(200);
  });

  it('a client sending a huge head keeps receiving until it reads the 431 (no reset under it)', async () => {
    const s = await start({ maxRequestHeadersKb: 1 });
    const c = s.client();
    c.send(`GET /x HTTP/1.1\r\nhost: t\r\n`);
    for (let i = 0; i < 64; i++) c.send(`x-h${i}: ${'v'.repeat(1000)}\r\n`);
    await c.closed;
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });
});

describe('H1ServerConnection: timeouts, bodies nobody reads, clients that go away', () => {
  it('slow headers: 408 after requestHeadersTimeout, then close', async () => {
    const s = await start({ requestHeadersTimeout: 150 });
    const c = s.client();
    c.send(`GET /x HTTP/1.1\r\nhost: t\r\nx-slow: `);
    expect(await c.closedByServer()).toBe(true);
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(s.seen).toEqual([]);
  });

  it('slow headers after a whole request on the same connection: still 408', async () => {
    const s = await start({ requestHeadersTimeout: 150 });
    const c = s.client();
    c.send(GET('/a'));
    await c.responses(1);
    c.send(`GET /b HTTP/1.1\r\nhost: t\r\nx-slow: `);
    expect(await c.closedByServer()).toBe(true);
    expect(c.text).toContain('HTTP/1.1 408 Request Timeout');
    expect(s.seen.map((x) => x.url)).toEqual(['/a']);
  });

  it('a head trickled over many reads times out from its first byte (later reads do not push the deadline)', async () => {
    const s = await start({ requestHeadersTimeout: 200 });
    const c = s.client();
    c.send(`GET /x HTTP/1.1\r\nhost: t\r\n`);
    // One header byte every 40 ms for 4 s: a deadline restarted by each read would never pass.
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent++ < 100 && !c.socket.destroyed) c.send('x');
    }, 40);
    try {
      expect(await c.closedByServer()).toBe(true);
    } finally {
      clearInterval(trickle);
    }
    expect(c.text.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(sent).toBeLessThan(100);
  });

  it('an idle keep-alive connection closes after idleTimeout with a FIN', async () => {
    const s = await start({ idleTimeout: 150 });
    const c = s.client();
    c.send(GET('/a'));
    await c.responses(1);
    expect(await c.closedByServer()).toBe(true);
    expect(c.error).toBeUndefined();
    expect(s.conns.size).toBe(0);
  });

  it('a closing connection whose client stopped reading is destroyed after the idle timeout', async () => {
    const s = await start({ idleTimeout: 200 });
    const c = s.client();
    c.socket.pause(); // never reads
    c.send(GET('/big', 'connection: close\r\n'));
    await eventually(() => s.sockets.size === 1 && s.conns.size === 0, 'the response ended and the connection is closing');
    await eventually(() => s.sockets.size === 0, 'the unflushed socket destroyed', 600);
  });

  it('a held (busy) connection is not closed by the idle timer', async () => {
    const s = await start({ idleTimeout: 100 });
    const c = s.client();
    c.send(GET('/hold'));
    await eventually(() => s.held.length === 1, 'held');
    await new Promise((r) => setTimeout(r, 250));
    expect(c.socket.destroyed).toBe(false);
    s.held[0]!.end('late');
    expect((await c.responses(1))[0]!.body.toString()).toBe('late');
    expect(await c.closedByServer()).toBe(true); // and idles out afterwards
  });

  it('an unread body answered early is discarded and the next request works', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /early404 HTTP/1.1\r\nhost: t\r\ncontent-length: 50000\r\n\r\n${'z'.repeat(10_000)}`);
    const [r] = await c.responses(1);
    expect(r!.status).toBe(404);
    expect(r!.header('connection')).toBeUndefined();
    c.send('z'.repeat(40_000) + GET('/after'));
    const rs = await c.responses(2);
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/after');
    expect(s.seen.map((x) => x.url)).toEqual(['/early404', '/after']);
  });

  it('a chunked unread body is discarded too', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /early404 HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    expect((await c.responses(1))[0]!.status).toBe(404);
    c.send(`3\r\nabc\r\n0\r\n\r\n` + GET('/after'));
    const rs = await c.responses(2);
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/after');
  });

  it('a huge unread body: the early answer arrives whole, then the connection closes with a FIN', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /early404 HTTP/1.1\r\nhost: t\r\ncontent-length: 100000000\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const pump = () => {
      while (!c.socket.destroyed && !c.socket.writableEnded && sent < 100_000_000) {
        sent += chunk.length;
        if (!c.socket.write(chunk)) return void c.socket.once('drain', pump);
      }
    };
    pump();
    await c.until(() => parseResponses(c.data).responses.length === 1 || c.ended, 'the 404');
    const [r] = parseResponses(c.data).responses;
    expect(r!.status).toBe(404);
    expect(r!.body.toString()).toBe('nope');
    await c.closed;
    expect(c.ended).toBe(true);
    expect(sent).toBeLessThan(100_000_000);
    expect(s.conns.size).toBe(0);
  });

  it('a client that disconnects mid-body: the body errors and the response is closed under the handler', async () => {
    const s = await start();
    const c = s.client();
    c.send(`POST /hold-body HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nabc`);
    await eventually(() => s.held.length === 1, 'held');
    c.destroy();
    await c.closed;
    await new Promise((r) => setTimeout(r, 20));
    expect(s.closes).toEqual(['/hold-body']);
    expect(s.conns.size).toBe(0);
  });

  it('a client that half-closes: the response in progress is closed under its handler, then a FIN', async () => {
    const s = await start();
    const c = s.client();
    c.send(GET('/hold') + GET('/b'));
    await eventually(() => s.held.length === 1, 'held');
    c.socket.end();
    expect(await c.closedByServer()).toBe(true);
    expect(s.closes).toEqual(['/hold']);
    expect(s.seen.map((x) => x.url)).toEqual(['/hold']);
    expect(s.conns.size).toBe(0);
  });

  it('drain closes an idle connection at once and a busy one after its response', async () => {
    const s = await start();
    const idle = s.client();
    idle.send(GET('/a'));
    await idle.responses(1);
    const busy = s.client();
    busy.send(GET('/hold'));
    await eventually(() => s.held.length === 1, 'held');
    for (const c of s.conns) c.drain();
    expect(await idle.closedByServer()).toBe(true);
    s.held[0]!.end('bye');
    const [r] = await busy.responses(1);
    expect(r!.header('connection')).toBe('close');
    expect(await busy.closedByServer()).toBe(true);
  });
});

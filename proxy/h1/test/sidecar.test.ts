// The HTTP/1.1 engine inside a real Sidecar (H1ServerConnection downstream,
// H1Pool upstream): smuggling attempts never reach the upstream, bodies are
// forwarded intact, clients that go away abort the upstream request, and
// WebSocket upgrades work end to end.

import fc from 'fast-check';
import { fuzzOptions, fuzzTimeout } from '../../../common/test/fuzz-options.js';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { Sidecar } from '../../sidecar.js';
import { cluster, httpBootstrap, startSidecar } from '../../test/helpers.js';
import { closeServer, eventually, listen, parseResponses, portOf, RawClient, rawUpstream } from './harness.js';

let sidecar: Sidecar;
let port: number;
let raw: Awaited<ReturnType<typeof rawUpstream>>;
let echo: http.Server;
let echoSeen: { url: string; headers: http.IncomingHttpHeaders; body: string; aborted: boolean }[] = [];
let echoOpen = 0;
let wss: WebSocketServer;
const clients: RawClient[] = [];

beforeAll(async () => {
  raw = await rawUpstream((s, got) => {
    // /raw/early answers 413 as soon as the head arrived, without reading the body.
    if (got().startsWith('POST /raw/early')) {
      if (!(s as { answered?: boolean }).answered) {
        (s as { answered?: boolean }).answered = true;
        s.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig!');
      }
      return;
    }
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });
  echo = http.createServer((req, res) => {
    const entry = { url: req.url!, headers: req.headers, body: '', aborted: false };
    echoSeen.push(entry);
    req.on('data', (c: Buffer) => (entry.body += c.toString('latin1')));
    req.on('aborted', () => (entry.aborted = true));
    res.on('close', () => {
      if (!res.writableFinished) entry.aborted = true;
    });
    if (req.url === '/hang-body') return; // reads the body, never answers
    if (req.url === '/slow') return void setTimeout(() => res.end(JSON.stringify({ url: req.url, body: '', te: null })), 50);
    if (req.url === '/chunked') {
      res.write('streamed-');
      return void setImmediate(() => res.end('body'));
    }
    if (req.url === '/slow-stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
      return; // never ends: the client leaves mid-response
    }
    req.on('end', () => res.end(JSON.stringify({ url: req.url, body: entry.body, te: req.headers['transfer-encoding'] ?? null })));
  });
  echo.on('connection', (s: net.Socket) => {
    echoOpen++;
    s.on('close', () => echoOpen--);
  });
  await listen(echo);
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`ws:${m}`)));
  const wsPort = (wss.address() as net.AddressInfo).port;
  const routes = `
            - name: raw
              match: { prefix: /raw }
              route: { cluster: raw }
            - name: ws
              match: { prefix: /ws }
              route: { cluster: ws }
            - name: local
              match: { prefix: /local }
              directResponse: { status: 404, body: "no such thing" }
            - name: echo
              match: { prefix: / }
              route: { cluster: echo }`;
  const s = await startSidecar(
    httpBootstrap(routes, cluster('raw', raw.port) + cluster('echo', portOf(echo)) + cluster('ws', wsPort), '\n            codecType: HTTP1\n            limits: { maxRequestHeadersKb: 4 }'),
  );
  sidecar = s.sidecar;
  port = s.port();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await sidecar?.close();
  await closeServer(raw?.server);
  await closeServer(echo);
  await new Promise((r) => wss.close(r));
});

function client(): RawClient {
  const c = new RawClient(port);
  clients.push(c);
  return c;
}

describe('through a sidecar: malformed requests never reach the upstream', () => {
  const attacks: [string, string][] = [
    ['CL.TE', `POST /raw HTTP/1.1\r\nhost: a\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nG`],
    ['TE.CL with an obfuscated TE', `POST /raw HTTP/1.1\r\nhost: a\r\ntransfer-encoding: xchunked\r\ncontent-length: 4\r\n\r\n5c\r\n`],
    ['TE chunked then identity', `POST /raw HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
    ['two content-lengths', `POST /raw HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab`],
    ['a bad chunk size', `POST /raw HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n-1\r\nab\r\n0\r\n\r\n`],
    ['a chunk with garbage after its data', `POST /raw HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXX\r\n0\r\n\r\n`],
    ['obs-fold', `GET /raw HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n\tx-b: 2\r\n\r\n`],
    ['bare LF line ends', `GET /raw HTTP/1.1\nhost: a\n\n`],
    ['an invalid header name', `GET /raw HTTP/1.1\r\nhost: a\r\nx@y: 1\r\n\r\n`],
    ['NUL in the URL', `GET /raw\0 HTTP/1.1\r\nhost: a\r\n\r\n`],
    ['a space in the URL', `GET /raw /x HTTP/1.1\r\nhost: a\r\n\r\n`],
    ['a header over maxRequestHeadersKb', `GET /raw HTTP/1.1\r\nhost: a\r\nx-big: ${'x'.repeat(5000)}\r\n\r\n`],
  ];
  for (const [name, bytes] of attacks) {
    it(name, async () => {
      const before = raw.connections;
      const c = client();
      c.send(bytes);
      expect(await c.closedByServer()).toBe(true);
      const status = c.text.split('\r\n')[0];
      expect(status === 'HTTP/1.1 400 Bad Request' || status === 'HTTP/1.1 431 Request Header Fields Too Large').toBe(true);
      expect(parseResponses(c.data).responses).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 20));
      expect(raw.connections).toBe(before);
      expect(raw.received.slice(before)).toEqual([]);
    });
  }
});

describe('through a sidecar: bodies, pipelining, clients that leave', () => {
  it('forwards a chunked body with extensions and trailers intact; the connection stays usable', async () => {
    echoSeen = [];
    const c = client();
    c.send(`POST /up HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n4;name=value\r\nabcd\r\n1\r\ne\r\n0\r\nx-checksum: 5\r\n\r\nGET /next HTTP/1.1\r\nhost: a\r\n\r\n`);
    const rs = await c.responses(2);
    expect(JSON.parse(rs[0]!.body.toString())).toEqual({ url: '/up', body: 'abcde', te: 'chunked' });
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/next');
  });

  it('answers pipelined requests in order', async () => {
    const c = client();
    c.send(['/p1', '/p2', '/p3'].map((p) => `GET ${p} HTTP/1.1\r\nhost: a\r\n\r\n`).join('') + `POST /p4 HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nxyz`);
    const rs = await c.responses(4);
    expect(rs.map((r) => JSON.parse(r.body.toString()).url)).toEqual(['/p1', '/p2', '/p3', '/p4']);
    expect(JSON.parse(rs[3]!.body.toString()).body).toBe('xyz');
  });

  it('a pipelined request queued behind a slow upstream response is answered after it, in order', async () => {
    const c = client();
    c.send(`GET /slow HTTP/1.1\r\nhost: a\r\n\r\nGET /fast1 HTTP/1.1\r\nhost: a\r\n\r\nHEAD /fast2 HTTP/1.1\r\nhost: a\r\n\r\nGET /fast3 HTTP/1.1\r\nhost: a\r\n\r\n`);
    const rs = await c.responses(4, ['GET', 'GET', 'HEAD', 'GET']);
    expect([0, 1, 3].map((i) => JSON.parse(rs[i]!.body.toString()).url)).toEqual(['/slow', '/fast1', '/fast3']);
    expect(rs[2]!.status).toBe(200);
    expect(rs[2]!.body.length).toBe(0);
  });

  it('Expect: 100-continue, then the body is forwarded', async () => {
    const c = client();
    c.send(`PUT /cont HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n`);
    await c.until(() => c.text.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), '100 Continue');
    c.send('hello');
    const rs = await c.responses(2);
    expect(JSON.parse(rs[1]!.body.toString())).toEqual({ url: '/cont', body: 'hello', te: null });
  });

  it('an HTTP/1.0 client gets a streamed upstream response close-delimited', async () => {
    const c = client();
    c.send(`GET /chunked HTTP/1.0\r\nhost: a\r\n\r\n`);
    expect(await c.closedByServer()).toBe(true);
    const head = c.text.slice(0, c.text.indexOf('\r\n\r\n'));
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(head).not.toMatch(/transfer-encoding|content-length/i);
    expect(c.text.slice(head.length + 4)).toBe('streamed-body');
  });

  it('an unread body answered locally (404) is discarded and the next request works', async () => {
    const c = client();
    c.send(`POST /local HTTP/1.1\r\nhost: a\r\ncontent-length: 20000\r\n\r\n${'b'.repeat(5000)}`);
    const [r] = await c.responses(1);
    expect(r!.status).toBe(404);
    c.send('b'.repeat(15_000) + `GET /after HTTP/1.1\r\nhost: a\r\n\r\n`);
    const rs = await c.responses(2);
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/after');
  });

  it('a request hidden in the unread body of a locally answered one is never parsed nor forwarded', async () => {
    const before = raw.connections;
    const hidden = `GET /raw/admin HTTP/1.1\r\nhost: a\r\n\r\n`;
    const c = client();
    c.send(`POST /local HTTP/1.1\r\nhost: a\r\ncontent-length: ${hidden.length}\r\n\r\n`);
    expect((await c.responses(1))[0]!.status).toBe(404);
    c.send(hidden); // arrives after the answer: still body bytes, discarded
    c.send(`GET /local HTTP/1.1\r\nhost: a\r\n\r\n`);
    const rs = await c.responses(2);
    expect(rs.map((r) => r.status)).toEqual([404, 404]);
    await new Promise((r) => setTimeout(r, 20));
    expect(parseResponses(c.data).responses).toHaveLength(2);
    expect(raw.connections).toBe(before);
  });

  it('an upstream that answers before the body arrived: the answer is relayed, the rest of the body discarded, the connection reused', async () => {
    const c = client();
    c.send(`POST /raw/early HTTP/1.1\r\nhost: a\r\ncontent-length: 30000\r\n\r\n${'e'.repeat(1000)}`);
    const [r] = await c.responses(1);
    expect(r!.status).toBe(413);
    expect(r!.body.toString()).toBe('big!');
    c.send('e'.repeat(29_000) + `GET /after HTTP/1.1\r\nhost: a\r\n\r\n`);
    const rs = await c.responses(2);
    expect(JSON.parse(rs[1]!.body.toString()).url).toBe('/after');
  });

  it('a client that disconnects mid-body: the upstream request is aborted and its connection closed', async () => {
    echoSeen = [];
    await eventually(() => echoOpen <= 1, 'quiet upstream');
    const c = client();
    c.send(`POST /hang-body HTTP/1.1\r\nhost: a\r\ncontent-length: 1000\r\n\r\n${'q'.repeat(100)}`);
    await eventually(() => echoSeen.length === 1 && echoSeen[0]!.body.length === 100, 'the upstream got the first bytes');
    const open = echoOpen;
    c.destroy();
    await eventually(() => echoSeen[0]!.aborted, 'upstream request aborted');
    await eventually(() => echoOpen === open - 1, 'the upstream connection closed');
  });

  it('a client that disconnects mid-response: the upstream request is aborted and its connection closed', async () => {
    echoSeen = [];
    const c = client();
    c.send(`GET /slow-stream HTTP/1.1\r\nhost: a\r\n\r\n`);
    await c.until(() => c.text.includes('first'), 'the first bytes');
    const open = echoOpen;
    c.destroy();
    await eventually(() => echoSeen[0]!.aborted, 'upstream response aborted');
    await eventually(() => echoOpen === open - 1, 'the upstream connection closed');
  });

  it('passes a WebSocket upgrade through end to end', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const msgs: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => ws.send('one'));
      ws.on('message', (m) => {
        msgs.push(String(m));
        if (msgs.length === 1) ws.send('two');
        else ws.close();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    expect(msgs).toEqual(['ws:one', 'ws:two']);
  });
});

describe('through a sidecar: fuzzed request lines and heads', () => {
  it('every stream gets well-formed answers and the proxy keeps serving', async () => {
    const tally = { runs: 0, responses: 0, statuses: {} as Record<number, number> };
    const target = fc.constantFrom('/', '/x?y=1', '*', 'http://a/p', 'http://a:99999/p', '//double', '/%zz', '/local', '/raw/q', '/a/../b', '/ws', 'a', '/%00', '/' + 'u'.repeat(3000));
    const method = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PRI', 'M-SEARCH', 'PURGE');
    const host = fc.constantFrom('a', 'a', 'a:80', '[::1]:80', 'a b', '', 'A.', 'a'.repeat(300));
    const header = fc.constantFrom('x-forwarded-for: 1.2.3.4, zz', 'x-request-id: ' + 'r'.repeat(300), 'te: trailers', 'connection: x-a, close', 'upgrade: websocket', 'content-type: application/grpc', 'cookie: a=1', 'cookie: b=2', 'expect: 100-continue', 'content-length: 0', 'authorization: Bearer x', ':authority: z');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(method, target, host, fc.array(header, { maxLength: 4 })), { minLength: 1, maxLength: 3 }), async (reqs) => {
        const c = client();
        const methods = reqs.map(([m]) => m);
        c.send(reqs.map(([m, t, h, hs]) => `${m} ${t} HTTP/1.1\r\nhost: ${h}\r\n${hs.map((h) => h + '\r\n').join('')}\r\n`).join('') + 'GET /end HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
        await Promise.race([c.closed, new Promise((r) => setTimeout(r, 3000))]);
        c.destroy();
        const { rest, responses } = parseResponses(c.data, [...methods, 'GET'], true);
        expect(rest.length).toBe(0);
        tally.runs++;
        tally.responses += responses.length;
        for (const r of responses) tally.statuses[r.status] = (tally.statuses[r.status] ?? 0) + 1;
      }),
      fuzzOptions(40),
    );
    const ok = client();
    ok.send('GET /alive HTTP/1.1\r\nhost: a\r\n\r\n');
    expect(JSON.parse((await ok.responses(1))[0]!.body.toString()).url).toBe('/alive');
    if (process.env.FUZZ_RUNS) console.log('sidecar fuzz', JSON.stringify(tally));
  }, fuzzTimeout(40, 60_000));
});

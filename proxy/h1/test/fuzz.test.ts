// Property-based fuzzing of the downstream parser on real sockets: request
// streams built from valid and hostile pieces (framing conflicts, odd
// whitespace, bare CR/LF, NUL, folded lines, pipelining), sent in random
// splits. Invariants: the process survives, every request the handler saw
// got exactly one well-formed response in order, a 400/431 is the last thing
// on its connection, and a rejected request is never handed to the handler.

import fc from 'fast-check';
import { fuzzOptions, fuzzTimeout } from '../../../common/test/fuzz-options.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { H1Request, H1Response } from '../h1-server.js';
import { closeServer, h1Server, limits, parseResponses, RawClient } from './harness.js';

let srv: Awaited<ReturnType<typeof h1Server>>;
let seen: string[] = [];
const stats = { runs: 0, handled: 0 };
afterAll(() => console.log(`fuzz: ${stats.runs} runs, ${stats.handled} requests handled`));

beforeAll(async () => {
  srv = await h1Server(
    {
      handle(req: H1Request, res: H1Response) {
        seen.push(`${req.method} ${req.url}`);
        const body = req as unknown as NodeJS.ReadableStream;
        if (typeof (body as { on?: unknown }).on !== 'function') return void res.end(`${req.method} ${req.url} 0`);
        let n = 0;
        body.on('data', (c: Buffer) => (n += c.length));
        body.on('error', () => {});
        body.on('end', () => res.end(`${req.method} ${req.url} ${n}`));
      },
      upgrade(_req, socket) {
        socket.destroy();
      },
    },
    limits({ maxRequestHeadersKb: 2, requestHeadersTimeout: 300, idleTimeout: 1000 }),
  );
});
afterAll(() => closeServer(srv?.server));

/** Mostly valid pieces, sometimes a hostile one: enough requests get through to check ordering. */
function mostly<T>(valid: T[], hostile: T[]): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 4 }, { arbitrary: fc.constantFrom(...hostile), weight: 1 });
}
const method = mostly(['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS'], ['get', 'G ET', '']);
const path = mostly(['/', '/a?b=c', '/%00', '*', 'http://h/p'], ['/x y', '/\0', '/' + 'p'.repeat(3000), '/a\tb']);
const version = mostly(['HTTP/1.1', 'HTTP/1.0'], ['HTTP/1.1 ', 'HTTP/2.0', 'HTTP/1.10', 'http/1.1', '']);
const eol = mostly(['\r\n'], ['\n', '\r', '\r\r\n']);
const header = fc.constantFrom(
  'Host: b',
  'content-length: 3',
  'content-length: 0',
  'content-length: 03',
  'content-length: -1',
  'content-length: 3, 3',
  'content-length:3',
  'transfer-encoding: chunked',
  'Transfer-Encoding: chunked',
  'transfer-encoding: gzip, chunked',
  'transfer-encoding: chunked, gzip',
  'transfer-encoding : chunked',
  'transfer-encoding:\tchunked',
  ' transfer-encoding: chunked',
  'x-folded: a\r\n b',
  'x-nul: a\0b',
  'x-cr: a\rb',
  'x-ok: v',
  'expect: 100-continue',
  'connection: close',
  'connection: upgrade',
  'upgrade: websocket',
  'x-long: ' + 'l'.repeat(2500),
  ': empty-name',
  'x y: z',
);
const body = mostly(['', '', 'abc', '3\r\nabc\r\n0\r\n\r\n', '3;e=1\r\nabc\r\n0\r\nt: 1\r\n\r\n', '0\r\n\r\n'], ['zz\r\n', '3\r\nabcXX\r\n0\r\n\r\n', 'abcdef']);
const hostile = fc
  .tuple(method, path, version, fc.array(header, { maxLength: 3 }), eol, body)
  .map(([m, p, v, hs, e, b]) => `${m} ${p} ${v}${e}host: a${e}${hs.map((h) => h + e).join('')}${e}${b}`);
const valid = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'HEAD', 'DELETE', 'OPTIONS'), fc.constantFrom('/', '/q?x=1', '/a/b'), fc.constantFrom('', 'x-ok: v\r\n', 'Accept: */*\r\n')).map(([m, p, h]) => `${m} ${p} HTTP/1.1\r\nhost: a\r\n${h}\r\n`),
  fc.string({ maxLength: 40 }).map((b) => `POST /cl HTTP/1.1\r\nhost: a\r\ncontent-length: ${Buffer.byteLength(b, 'latin1')}\r\n\r\n${b}`),
  fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom('', ';e=1', ';a="q"')), { maxLength: 4 }).map(
    (cs) => `PUT /te HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n${cs.map(([c, x]) => `${Buffer.byteLength(c, 'latin1').toString(16)}${x}\r\n${c}\r\n`).join('')}0\r\n\r\n`,
  ),
);
const request = fc.oneof({ arbitrary: valid, weight: 3 }, { arbitrary: hostile, weight: 1 });

async function exchange(bytes: Buffer, splits: number[]): Promise<{ data: Buffer; ended: boolean }> {
  const c = new RawClient(srv.port);
  await c.connected();
  let at = 0;
  for (const s of [...splits, bytes.length]) {
    const end = Math.min(bytes.length, Math.max(at, s));
    if (end > at) c.send(bytes.subarray(at, end));
    at = end;
    await new Promise((r) => setImmediate(r));
  }
  // Every stream ends with a `connection: close` request, so an in-step connection closes
  // at once; only one left waiting for a body that never comes runs into the cap.
  await Promise.race([c.closed, new Promise((r) => setTimeout(r, 1500))]);
  c.destroy();
  return { data: c.data, ended: c.ended };
}

describe('H1ServerConnection fuzz', () => {
  it('answers every handled request exactly once, in order, and never hands a rejected one over', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(400), { maxLength: 4 }), async (reqs, splits) => {
        seen = [];
        const bytes = Buffer.from(reqs.join('') + 'GET /end HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n', 'latin1');
        const { data } = await exchange(bytes, splits.sort((a, b) => a - b));
        stats.runs++;
        stats.handled += seen.length;
        const methods = seen.map((s) => s.split(' ')[0]!);
        // Every byte the server sent parses as complete responses (a close-delimited one counts at the end).
        const { responses, rest } = parseResponses(data, [...methods, 'GET'], true);
        expect(rest.length).toBe(0);
        const finals = responses.filter((r) => r.status >= 200);
        const errors = finals.filter((r) => r.status === 400 || r.status === 431 || r.status === 408);
        expect(errors.length).toBeLessThanOrEqual(1);
        if (errors.length) expect(finals[finals.length - 1]).toBe(errors[0]);
        const answered = finals.filter((r) => !errors.includes(r));
        // One response per handled request, in order (HEAD answers carry no body to compare);
        // the last one handled may still wait for a body that never came.
        expect(answered.length === seen.length || answered.length === seen.length - 1).toBe(true);
        answered.forEach((r, i) => {
          if (methods[i] !== 'HEAD') expect(r.body.toString('latin1').startsWith(seen[i]!)).toBe(true);
        });
      }),
      fuzzOptions(120),
    );
  }, fuzzTimeout(120, 30_000));
});

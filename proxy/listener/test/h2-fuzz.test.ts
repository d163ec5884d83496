// Frame-level fuzzing of the HTTP/2 listener on real sockets: a client that
// writes random sequences of HTTP/2 frames — valid and hostile header blocks,
// DATA, RST_STREAM, WINDOW_UPDATE, SETTINGS, PING, GOAWAY, PRIORITY,
// CONTINUATION, PUSH_PROMISE and unknown types, on fresh, reused, even and
// closed stream ids, with random flags and padding — in random splits, to a
// sidecar routing to an HTTP/1.1 upstream, an HTTP/2 (gRPC-style, trailers)
// upstream and a direct response. A stream reset in the same read as its
// HEADERS once crashed the sidecar (session 7); this looks for the rest of
// that family; the same frames also go through the mTLS inbound listener
// (identity terminator, session on the TLS socket). Invariants: no uncaught
// exception (vitest fails the run on one), and after every sequence a new
// client is still served, over HTTP/2 and over HTTP/1.1.
//
// The suite runs a fixed seed (common/test/fuzz-options.ts). To hunt:
// FUZZ_SEED=random FUZZ_RUNS=5000, and FUZZ_TARGET_PORT=<port>
// to fuzz a sidecar process started by hand (a crash there is seen as the
// process gone, which an in-process run cannot survive to report);
// FUZZ_LOG=<file> appends every sequence sent (hex, then its splits).

import fc from 'fast-check';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar.js';
import { close, cluster, DIRECT_GRPC_UP_ROUTES, httpBootstrap, listen, meshSecrets, mtlsInboundBootstrap, portOf, startSidecar } from '../../test/helpers.js';
import { makeCa, workload } from '../../identity/test/helpers.js';
import type { TlsMaterial } from '../../identity/tls-contexts.js';
import { fuzzOptions, fuzzTimeout } from '../../../common/test/fuzz-options.js';
import { frame, h2Get as get, headerBlock, PREFACE, u32, writeInSplits } from '../../test/h2-frames.js';

// ---------------------------------------------------------------- arbitraries

const streamId = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(1, 3, 5, 7, 9) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2, 4, 0x7fffffff, 0xffffffff) },
);

const pseudo = fc.oneof(
  { weight: 6, arbitrary: fc.constant<[string, string][]>([[':method', 'GET'], [':scheme', 'http'], [':path', '/direct'], [':authority', 'a']]) },
  { weight: 6, arbitrary: fc.constant<[string, string][]>([[':method', 'POST'], [':scheme', 'http'], [':path', '/up'], [':authority', 'a']]) },
  { weight: 6, arbitrary: fc.constant<[string, string][]>([[':method', 'POST'], [':scheme', 'http'], [':path', '/grpc/x'], [':authority', 'a'], ['content-type', 'application/grpc'], ['te', 'trailers']]) },
  { weight: 1, arbitrary: fc.constant<[string, string][]>([[':method', 'CONNECT'], [':authority', 'a:80']]) },
  { weight: 1, arbitrary: fc.constant<[string, string][]>([[':method', 'HEAD'], [':scheme', 'http'], [':path', '/up'], [':authority', 'a']]) },
  { weight: 1, arbitrary: fc.constant<[string, string][]>([[':method', 'GET'], [':path', '/up']]) }, // :scheme missing
  { weight: 1, arbitrary: fc.constant<[string, string][]>([[':status', '200']]) }, // a response pseudo-header in a request
  { weight: 1, arbitrary: fc.constant<[string, string][]>([]) },
);

const hostileField = fc.constantFrom<[string, string]>(
  ['connection', 'close'],
  ['te', 'gzip'],
  ['transfer-encoding', 'chunked'],
  ['Upper-Case', 'x'],
  [':path', '/again'],
  ['content-length', '5'],
  ['content-length', 'abc'],
  ['content-length', '99999999999999999999'],
  ['x-bad', 'a\r\nb'],
  ['x-nul', 'a\u0000b'],
  ['', 'empty-name'],
  ['x-long', 'v'.repeat(9000)],
  ['grpc-timeout', '1n'],
  ['expect', '100-continue'],
  ['host', 'other'],
);
const plainField = fc.tuple(fc.constantFrom('x-a', 'x-b', 'accept', 'user-agent'), fc.string({ maxLength: 20 }));

const headerFields = fc
  .tuple(pseudo, fc.array(fc.oneof({ weight: 3, arbitrary: plainField }, { weight: 1, arbitrary: hostileField }), { maxLength: 4 }))
  .map(([p, rest]) => [...p, ...rest]);

const payload = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

/** One frame on the wire (a Buffer), weighted towards the frames a request is made of. */
const anyFrame: fc.Arbitrary<Buffer> = fc.oneof(
  // HEADERS: a real block, flags chosen (END_STREAM 0x1, END_HEADERS 0x4, PADDED 0x8, PRIORITY 0x20), sometimes split off a CONTINUATION
  {
    weight: 8,
    arbitrary: fc.tuple(streamId, headerFields, fc.constantFrom(0x5, 0x4, 0x5, 0x4, 0x1, 0x0, 0xd, 0x24), fc.nat(8), fc.boolean()).map(([id, fields, flags, pad, split]) => {
      let block = headerBlock(fields);
      if (flags & 0x20) block = Buffer.concat([u32(0), Buffer.from([15]), block]);
      if (flags & 0x8) block = Buffer.concat([Buffer.from([pad]), block, Buffer.alloc(pad)]);
      if (!split || block.length < 4) return frame(1, flags, id, block);
      const cut = block.length >> 1;
      return Buffer.concat([frame(1, flags & ~0x4, id, block.subarray(0, cut)), frame(9, 0x4, id, block.subarray(cut))]);
    }),
  },
  // DATA, sometimes a gRPC message, END_STREAM or not, sometimes padded
  {
    weight: 6,
    arbitrary: fc.tuple(streamId, fc.oneof(payload(64), fc.constant(Buffer.from([0, 0, 0, 0, 2, 8, 1]))), fc.constantFrom(0x0, 0x1, 0x8, 0x9), fc.nat(16)).map(([id, p, flags, pad]) =>
      frame(0, flags, id, flags & 0x8 ? Buffer.concat([Buffer.from([pad]), p, Buffer.alloc(Math.min(pad, 255))]) : p),
    ),
  },
  { weight: 3, arbitrary: fc.tuple(streamId, fc.constantFrom(0, 1, 2, 7, 8, 11, 0xffff)).map(([id, code]) => frame(3, 0, id, u32(code))) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(0, 1, 3), fc.constantFrom(0, 1, 65535, 0x7fffffff)).map(([id, inc]) => frame(8, 0, id, u32(inc))) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.array(fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, 6, 8, 9, 0x99), fc.constantFrom(0, 1, 100, 16384, 65535, 0x7fffffff, 0xffffffff)), { maxLength: 3 }), fc.boolean()).map(([params, ack]) => {
      const p = Buffer.alloc(params.length * 6);
      params.forEach(([k, v], i) => {
        p.writeUInt16BE(k, i * 6);
        p.writeUInt32BE(v >>> 0, i * 6 + 2);
      });
      return frame(4, ack ? 1 : 0, 0, p);
    }),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0, 1), payload(10)).map(([id, p]) => frame(6, 0, id, p.length === 8 ? p : Buffer.alloc(8, 1))) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(0, 3), fc.constantFrom(0, 1, 2)).map(([last, code]) => frame(7, 0, 0, Buffer.concat([u32(last), u32(code)]))) },
  { weight: 1, arbitrary: fc.tuple(streamId, fc.constantFrom(0, 1, 3)).map(([id, dep]) => frame(2, 0, id, Buffer.concat([u32(dep), Buffer.from([7])]))) },
  { weight: 1, arbitrary: fc.tuple(streamId, fc.constantFrom(0, 4), payload(12)).map(([id, flags, p]) => frame(9, flags, id, p)) },
  { weight: 1, arbitrary: fc.tuple(streamId, payload(12)).map(([id, p]) => frame(5, 4, id, p)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 10, max: 255 }), streamId, payload(20)).map(([type, id, p]) => frame(type, 0xff, id, p)) },
  { weight: 1, arbitrary: payload(40) }, // bytes that are not a frame at all
);

const sequence = fc.tuple(fc.boolean(), fc.array(anyFrame, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 6 }));

// ---------------------------------------------------------------- the sidecar under test

let up1: http.Server;
let up2: http2.Http2Server;
let sidecar: Sidecar;
let port: number;
const stats = { runs: 0, answered: 0 };

beforeAll(async () => {
  if (process.env.FUZZ_TARGET_PORT) return void (port = Number(process.env.FUZZ_TARGET_PORT));
  up1 = await listen(
    http.createServer((req, res) => {
      req.on('error', () => {});
      req.resume();
      req.on('end', () => res.end('up'));
    }),
  );
  up2 = http2.createServer();
  up2.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => {
      if (stream.destroyed || stream.closed) return; // the sidecar reset it (its client went away)
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
    });
  });
  up2.on('sessionError', () => {});
  await listen(up2 as unknown as net.Server);
  const routes = DIRECT_GRPC_UP_ROUTES;
  const clusters = cluster('up', portOf(up1)) + cluster('grpc', portOf(up2 as unknown as net.Server), '\n      upstreamProtocol: http2');
  const started = await startSidecar(httpBootstrap(routes, clusters, '\n            limits: { maxHeadersCount: 20 }'));
  sidecar = started.sidecar;
  port = started.port();
});

afterAll(async () => {
  console.log(`h2 fuzz: ${stats.runs} sequences, ${stats.answered} answered by a fresh client after them`);
  await sidecar?.close();
  await Promise.all([close(up1), close(up2 as unknown as net.Server)]);
});

/** Writes the frames in the given splits (over `open()`'s connection: h2c by default), lets the sidecar react, then hangs up. */
async function send(bytes: Buffer, splits: number[], open: () => net.Socket = () => net.connect(port, '127.0.0.1')): Promise<void> {
  const sock = open();
  sock.on('error', () => {});
  sock.on('data', () => {});
  await new Promise<void>((r) => {
    sock.once(sock instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => r());
    sock.once('close', () => r());
  });
  await writeInSplits(sock, bytes, splits);
  await new Promise<void>((r) => {
    const t = setTimeout(r, 20);
    sock.once('close', () => (clearTimeout(t), r()));
  });
  sock.destroy();
}

async function h2Get(path: string): Promise<number> {
  return (await get(port, path)).status;
}

function h1Get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

describe('HTTP/2 listener under random frames', () => {
  it('never crashes, and serves new clients after every sequence', async () => {
    await fc.assert(
      fc.asyncProperty(sequence, async ([withPreface, frames, splits]) => {
        stats.runs++;
        // Mostly a proper start (preface + SETTINGS), so the frames after it reach the session.
        const start = withPreface ? [PREFACE, frame(4, 0, 0, Buffer.alloc(0))] : [PREFACE];
        const bytes = Buffer.concat([...start, ...frames]);
        if (process.env.FUZZ_LOG) (await import('node:fs')).writeFileSync(process.env.FUZZ_LOG, bytes.toString('hex') + ' ' + JSON.stringify(splits) + '\n', { flag: 'a' });
        await send(bytes, splits);
        expect(await h2Get('/direct')).toBe(200);
        stats.answered++;
      }),
      fuzzOptions(300),
    );
    // Both protocols and both upstream kinds still work at the end.
    expect(await h2Get('/up')).toBe(200);
    expect(await h2Get('/grpc/x')).toBe(200);
    expect(await h1Get('/up')).toBe(200);
    if (process.env.FUZZ_TARGET_PORT) return;
  }, fuzzTimeout(300, 120_000));
});

// The same frames through the mTLS inbound listener: the identity terminator verifies the client's
// SPIFFE certificate, then the session runs on the TLS socket (ALPN h2).
describe('mTLS HTTP/2 inbound listener under random frames', () => {
  const SERVER = 'spiffe://cluster.local/ns/default/sa/reviews';
  const CLIENT = 'spiffe://cluster.local/ns/default/sa/productpage';
  let app: http.Server;
  let inbound: Sidecar;
  let inPort: number;
  let client: TlsMaterial;
  const tlsOpts = (): tls.ConnectionOptions => ({ host: '127.0.0.1', port: inPort, cert: client.certChainPem, key: client.privateKeyPem, ca: client.trustBundlePem, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });

  beforeAll(async () => {
    const ca = await makeCa();
    const [server, c] = await Promise.all([workload(ca, SERVER), workload(ca, CLIENT)]);
    client = c;
    app = await listen(
      http.createServer((req, res) => {
        req.on('error', () => {});
        req.resume();
        req.on('end', () => res.end('app'));
      }),
    );
    const started = await startSidecar(mtlsInboundBootstrap(cluster('app', portOf(app)), { alpn: ['h2', 'http/1.1'] }));
    inbound = started.sidecar;
    for (const sec of meshSecrets(server)) inbound.updateSecret(sec);
    inPort = started.port();
  });

  afterAll(async () => {
    await inbound?.close();
    await close(app);
  });

  function tlsGet(): Promise<number> {
    return new Promise((resolve, reject) => {
      const c = http2.connect(`https://127.0.0.1:${inPort}`, { createConnection: () => tls.connect(tlsOpts()) });
      c.on('error', reject);
      const st = c.request({ ':path': '/' });
      st.on('response', (h) => {
        st.resume();
        st.on('end', () => (c.close(), resolve(Number(h[':status']))));
      });
      st.on('error', reject);
      st.end();
    });
  }

  it('never crashes, and serves new mTLS clients after every sequence', async () => {
    expect(await tlsGet()).toBe(200);
    await fc.assert(
      fc.asyncProperty(sequence, async ([withPreface, frames, splits]) => {
        const start = withPreface ? [PREFACE, frame(4, 0, 0, Buffer.alloc(0))] : [PREFACE];
        await send(Buffer.concat([...start, ...frames]), splits, () => tls.connect(tlsOpts()));
        expect(await tlsGet()).toBe(200);
      }),
      fuzzOptions(100),
    );
  }, fuzzTimeout(100, 120_000));
});

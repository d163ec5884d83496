// H2Client against real node:http2 servers on 127.0.0.1: GOAWAY handling
// (accepted streams finish, the others are refused and were never seen),
// bodies and trailers, idle and per-connection limits, ALPN fallback to
// HTTP/1.1, connect failures.

import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { buildConnector, type Dispatcher } from 'undici';
import { H2Client, h1FallbackClient } from '../h2-client.js';
import { attemptFailureOf, classifyUpstreamError } from '../../http/local-reply.js';
import { selfSigned } from '../../test/certs.js';

interface Outcome {
  status?: number;
  body: string;
  trailers?: unknown;
  error?: Error;
}

/** One request through the dispatch contract. */
function send(d: Dispatcher, opts: Partial<Dispatcher.DispatchOptions> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    d.dispatch({ path: '/', method: 'GET', headers: [], ...opts } as Dispatcher.DispatchOptions, {
      onConnect() {},
      onHeaders(status: number) {
        out.status = status;
        return true;
      },
      onData(chunk: Buffer) {
        out.body += chunk.toString();
        return true;
      },
      onComplete(trailers: unknown) {
        out.trailers = trailers;
        resolve(out);
      },
      onError(err: Error) {
        out.error = err;
        resolve(out);
      },
    } as Dispatcher.DispatchHandler);
  });
}

const servers: net.Server[] = [];
const clients: Dispatcher[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy().catch(() => {})));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function h2c(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void) {
  const s = http2.createServer();
  const sessions: http2.ServerHttp2Session[] = [];
  s.on('session', (x) => {
    sessions.push(x);
    x.on('error', () => {});
  });
  s.on('stream', (st, h) => {
    st.on('error', () => {});
    onStream(st, h, st.session!);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  servers.push(s);
  return { port: (s.address() as net.AddressInfo).port, sessions };
}

/** DATA frames (type 0) the client sent, read off the wire by a relay in front of `port`. */
interface SentData {
  stream: number;
  length: number;
  endStream: boolean;
}
async function frameRelay(port: number): Promise<{ port: number; data: SentData[] }> {
  const data: SentData[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    up.pipe(down);
    let buf = Buffer.alloc(0);
    let prefaceLeft = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    down.on('data', (c: Buffer) => {
      up.write(c);
      buf = Buffer.concat([buf, c]);
      const skip = Math.min(prefaceLeft, buf.length);
      prefaceLeft -= skip;
      buf = buf.subarray(skip);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        if (buf[3] === 0) data.push({ stream: buf.readUInt32BE(5) & 0x7fffffff, length: len, endStream: (buf[4]! & 1) === 1 });
        buf = buf.subarray(9 + len);
      }
    });
    down.on('end', () => up.end());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  servers.push(relay);
  return { port: (relay.address() as net.AddressInfo).port, data };
}

function client(port: number, o: { idleTimeout?: number; maxRequestsPerConnection?: number } = {}): H2Client {
  const origin = `http://127.0.0.1:${port}`;
  const connect = buildConnector({ timeout: 1000 });
  const c = new H2Client(origin, {
    connect,
    idleTimeout: o.idleTimeout ?? 0,
    maxRequestsPerConnection: o.maxRequestsPerConnection,
    h1Fallback: h1FallbackClient(origin, connect, 0),
  });
  clients.push(c);
  return c;
}

describe('H2Client', () => {
  it('GOAWAY under load: every stream the server accepted is answered, the others fail as refused and were never processed', async () => {
    const seen = new Set<string>();
    const srv = await h2c((st, h, session) => {
      seen.add(String(h['x-id']));
      const n = (session as unknown as { n?: number }).n = ((session as unknown as { n?: number }).n ?? 0) + 1;
      if (n === 10) session.close();
      setTimeout(() => {
        if (st.destroyed) return;
        st.respond({ ':status': 200 });
        st.end(String(h['x-id']));
      }, 1);
    });
    const c = client(srv.port);
    const N = 300;
    const out = await Promise.all(Array.from({ length: N }, (_, i) => send(c, { headers: ['x-id', String(i)] })));
    const ok = out.filter((o) => o.status === 200);
    const failed = out.filter((o) => o.error !== undefined);
    expect(ok.length + failed.length).toBe(N);
    expect(failed.length).toBeGreaterThan(0);
    // Exactly the processed requests were answered, each with its own body.
    expect(ok.length).toBe(seen.size);
    for (const o of ok) expect(seen.has(o.body)).toBe(true);
    // Every failure is a stream the server never saw, reported as refused (safe to send again).
    for (const o of failed) expect(attemptFailureOf(o.error)).toBe('refused-stream');
  });

  it('streams a request body and passes response trailers', async () => {
    const srv = await h2c((st) => {
      let got = '';
      st.on('data', (c: Buffer) => (got += c.toString()));
      st.on('end', () => {
        st.respond({ ':status': 201 }, { waitForTrailers: true });
        st.on('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
        st.end(`got:${got}`);
      });
    });
    const c = client(srv.port);
    const streamed = await send(c, { method: 'POST', body: Readable.from([Buffer.from('a'), Buffer.from('b')]) });
    expect(streamed.status).toBe(201);
    expect(streamed.body).toBe('got:ab');
    expect((streamed.trailers as Record<string, string>)['grpc-status']).toBe('0');
    expect((await send(c, { method: 'POST', body: 'text' })).body).toBe('got:text');
  });

  it('a streamed body that ends with its last chunk goes out as one DATA frame carrying END_STREAM', async () => {
    const srv = await h2c((st) => {
      let got = '';
      st.on('data', (c: Buffer) => (got += c.toString()));
      st.on('end', () => {
        st.respond({ ':status': 200 });
        st.end(`got:${got}`);
      });
    });
    const relay = await frameRelay(srv.port);
    const c = client(relay.port);
    expect((await send(c, { method: 'POST', body: 'warm-up' })).body).toBe('got:warm-up'); // the session is up
    // A unary gRPC call's shape, as a downstream stream delivers it: the message, then (in a
    // later callback of the same read, not the same tick) the end of the body.
    const body = new PassThrough();
    body.write('message');
    const r = send(c, { method: 'POST', body });
    process.nextTick(() => process.nextTick(() => body.end()));
    expect((await r).body).toBe('got:message');
    // Not the message and then an empty END_STREAM frame (a second write upstream).
    expect(relay.data.filter((d) => d.stream === 3)).toEqual([{ stream: 3, length: 7, endStream: true }]);
    // Several chunks: all arrive in order, END_STREAM rides on the last.
    const r2 = await send(c, { method: 'POST', body: Readable.from([Buffer.from('a'), Buffer.from('bc'), Buffer.from('def')]) });
    expect(r2.body).toBe('got:abcdef');
    const third = relay.data.filter((d) => d.stream === 5);
    expect(third.map((d) => d.length).reduce((x, y) => x + y, 0)).toBe(6);
    expect(third.at(-1)!.endStream).toBe(true);
  });

  it('a body chunk reaches the upstream before the body ends (a streaming call is not held back)', async () => {
    const srv = await h2c((st) => {
      st.once('data', (c: Buffer) => {
        st.respond({ ':status': 200 });
        st.end(`first:${c.toString()}`);
      });
    });
    const c = client(srv.port);
    const body = new PassThrough();
    body.write('ping');
    // The body never ends before the answer: the held chunk must leave without its end.
    const r = await send(c, { method: 'POST', body });
    expect(r.body).toBe('first:ping');
    body.end();
  });

  it('closes an idle session, but not while a stream on it is open', async () => {
    const srv = await h2c((st) =>
      setTimeout(() => {
        if (st.destroyed) return;
        st.respond({ ':status': 200 });
        st.end('slow');
      }, 300),
    );
    const c = client(srv.port, { idleTimeout: 80 });
    const r = await send(c);
    expect(r.status).toBe(200); // the open stream outlived several idle periods
    const session = srv.sessions[0]!;
    await new Promise((res) => (session.closed ? res(null) : session.once('close', res)));
    expect(srv.sessions).toHaveLength(1);
    expect((await send(c)).status).toBe(200); // a new session for the next request
    expect(srv.sessions).toHaveLength(2);
  });

  it('retires a session after maxRequestsPerConnection streams', async () => {
    const srv = await h2c((st) => {
      st.respond({ ':status': 200 });
      st.end('ok');
    });
    const c = client(srv.port, { maxRequestsPerConnection: 2 });
    for (let i = 0; i < 5; i++) {
      const r = await send(c);
      expect(r.error?.message ?? r.status).toBe(200);
    }
    expect(srv.sessions).toHaveLength(3);
  });

  it('a refused connection fails the waiting requests as a connect failure', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    const c = client(port);
    const out = await Promise.all([send(c), send(c)]);
    for (const o of out) expect(classifyUpstreamError(o.error)).toBe('CONNECT_FAILURE');
  });

  it('over TLS, a server that only speaks HTTP/1.1 (ALPN) is served over HTTP/1.1', async () => {
    const cert = await selfSigned();
    const s = https.createServer({ ...cert, ALPNProtocols: ['http/1.1'] }, (req: http.IncomingMessage, res: http.ServerResponse) => res.end(`h1:${req.httpVersion}`));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    const origin = `https://127.0.0.1:${(s.address() as net.AddressInfo).port}`;
    const connect = buildConnector({ rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] } as buildConnector.BuildOptions);
    const c = new H2Client(origin, { connect, idleTimeout: 0, maxRequestsPerConnection: undefined, h1Fallback: h1FallbackClient(origin, connect, 0) });
    clients.push(c);
    const r = await send(c);
    expect(r.status).toBe(200);
    expect(r.body).toBe('h1:1.1');
    expect((await send(c)).body).toBe('h1:1.1');
  });

  it('after close() new requests are refused; requests in flight finish', async () => {
    const srv = await h2c((st) =>
      setTimeout(() => {
        if (st.destroyed) return;
        st.respond({ ':status': 200 });
        st.end('done');
      }, 30),
    );
    const c = client(srv.port);
    const inflight = send(c);
    await new Promise((r) => setTimeout(r, 10));
    const closed = c.close();
    expect((await send(c)).error).toBeDefined();
    expect((await inflight).body).toBe('done');
    await closed;
  });
});

describe('H2Client and the peer\'s stream limit', () => {
  it('requests beyond SETTINGS_MAX_CONCURRENT_STREAMS wait for a stream instead of failing', async () => {
    const s = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
    let open = 0;
    let maxOpen = 0;
    s.on('stream', (st) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      st.on('close', () => open--);
      setTimeout(() => {
        if (st.destroyed) return;
        st.respond({ ':status': 200 });
        st.end('ok');
      }, 5);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    const c = client((s.address() as net.AddressInfo).port);
    await send(c); // the session knows the peer's settings
    const out = await Promise.all(Array.from({ length: 10 }, () => send(c)));
    expect(out.map((o) => o.status)).toEqual(Array(10).fill(200));
    expect(maxOpen).toBeLessThanOrEqual(2);
  });
});

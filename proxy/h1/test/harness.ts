// Test helpers for the HTTP/1.1 engine: raw clients that send exact bytes,
// raw upstream servers that record exactly what they received, a server that
// runs H1ServerConnection on accepted sockets, and a strict response reader
// (the client side of the protocol, written independently of llhttp).

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { DEFAULT_HTTP_LIMITS } from '../../config/defaults.js';
import type { HttpLimits } from '../../config/resources.js';
import { H1ServerConnection, type H1Handler } from '../h1-server.js';

export function portOf(s: net.Server): number {
  return (s.address() as AddressInfo).port;
}

export function listen<T extends net.Server>(s: T): Promise<T> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

export function closeServer(s: net.Server | undefined): Promise<void> {
  if (!s) return Promise.resolve();
  (s as { closeAllConnections?: () => void }).closeAllConnections?.();
  return new Promise((r) => s.close(() => r()));
}

export function limits(over: Partial<HttpLimits> = {}): HttpLimits {
  return { ...DEFAULT_HTTP_LIMITS, ...over };
}

/** A listener that serves every connection with H1ServerConnection and the given handler. */
export async function h1Server(handler: H1Handler, l: HttpLimits = limits()): Promise<{ server: net.Server; port: number; conns: Set<H1ServerConnection>; sockets: Set<net.Socket> }> {
  const conns = new Set<H1ServerConnection>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.allowHalfOpen = false; // as the listener hands sockets over
    const c = new H1ServerConnection(s, handler, { limits: l, onClose: (x) => conns.delete(x) });
    conns.add(c);
  });
  await listen(server);
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  return { server, port: portOf(server), conns, sockets };
}

/** A raw client: sends exact bytes, keeps everything received, knows when the server closed. */
export class RawClient {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  /** 'end' = FIN received; 'close' = socket closed; error code if reset. */
  ended = false;
  closed: Promise<void>;
  error: string | undefined;
  private waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (c: Buffer) => {
      this.data = Buffer.concat([this.data, c]);
      this.wake();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e.code;
      this.wake();
    });
    this.closed = new Promise((r) =>
      this.socket.on('close', () => {
        this.wake();
        r();
      }),
    );
  }

  connected(): Promise<void> {
    return new Promise((r) => (this.socket.connecting ? this.socket.once('connect', () => r()) : r()));
  }

  send(s: string | Buffer): void {
    this.socket.write(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }

  get text(): string {
    return this.data.toString('latin1');
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `pred` holds (checked on every event), rejects when the socket closed first. */
  async until(pred: () => boolean, what = 'condition'): Promise<void> {
    while (!pred()) {
      if (this.socket.destroyed) throw new Error(`connection closed before ${what}; got: ${JSON.stringify(this.text)}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Waits for `n` complete responses (methods tell which have no body) and returns them. */
  async responses(n: number, methods: string[] = []): Promise<ParsedResponse[]> {
    let got: ParsedResponse[] = [];
    await this.until(() => (got = parseResponses(this.data, methods).responses).length >= n, `${n} responses`);
    return got;
  }

  /** Waits until the server closed the connection; true when it ended cleanly (FIN, no reset). */
  async closedByServer(): Promise<boolean> {
    await this.closed;
    return this.ended && this.error === undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface ParsedResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
  trailers: [string, string][];
  header(name: string): string | undefined;
  all(name: string): string[];
}

/**
 * Parses complete responses from the start of `data`, strictly: CRLF line ends, one framing.
 * `methods[i]` is the method of the i-th request (HEAD responses have no body).
 */
export function parseResponses(data: Buffer, methods: string[] = [], closed = false): { responses: ParsedResponse[]; rest: Buffer } {
  const out: ParsedResponse[] = [];
  let at = 0;
  let finals = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0]!);
    if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers: [string, string][] = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      if (i <= 0 || /[\r\n]/.test(l)) throw new Error(`bad header line ${JSON.stringify(l)}`);
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
    });
    const get = (n: string) => headers.filter(([k]) => k === n).map(([, v]) => v);
    let p = end + 4;
    let body = Buffer.alloc(0);
    const trailers: [string, string][] = [];
    if (status < 200) {
      at = p;
      out.push(mk(status, headers, body, trailers));
      continue;
    }
    const method = methods[finals] ?? 'GET';
    const te = get('transfer-encoding');
    const cl = get('content-length');
    if (te.length && cl.length) throw new Error('response with both transfer-encoding and content-length');
    if (cl.length > 1) throw new Error('response with two content-lengths');
    if (method === 'HEAD' || status === 204 || status === 304) {
      // no body, whatever the headers say
    } else if (te.length) {
      const chunks: Buffer[] = [];
      let done = false;
      for (;;) {
        const le = data.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(data.subarray(p, le).toString('latin1').split(';')[0]!, 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size at ${p}`);
        if (size === 0) {
          let q = le + 2;
          let ok = false;
          for (;;) {
            const te2 = data.indexOf('\r\n', q, 'latin1');
            if (te2 < 0) break;
            if (te2 === q) {
              p = q + 2;
              ok = true;
              break;
            }
            const l = data.subarray(q, te2).toString('latin1');
            trailers.push([l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
            q = te2 + 2;
          }
          done = ok;
          break;
        }
        if (data.length < le + 2 + size + 2) break;
        chunks.push(data.subarray(le + 2, le + 2 + size));
        if (data.subarray(le + 2 + size, le + 4 + size).toString('latin1') !== '\r\n') throw new Error('chunk without CRLF');
        p = le + 4 + size;
      }
      if (!done) break;
      body = Buffer.concat(chunks);
    } else if (cl.length) {
      const n = Number(cl[0]);
      if (data.length < p + n) break;
      body = data.subarray(p, p + n);
      p += n;
    } else {
      // close-delimited: complete only once the connection closed
      if (!closed) break;
      body = data.subarray(p);
      p = data.length;
    }
    at = p;
    finals++;
    out.push(mk(status, headers, body, trailers));
  }
  return { responses: out, rest: data.subarray(at) };
}

function mk(status: number, headers: [string, string][], body: Buffer, trailers: [string, string][]): ParsedResponse {
  return {
    status,
    headers,
    body,
    trailers,
    header: (n) => headers.find(([k]) => k === n)?.[1],
    all: (n) => headers.filter(([k]) => k === n).map(([, v]) => v),
  };
}

/** A raw upstream: records every connection and every byte it received; `respond` decides what to send. */
export async function rawUpstream(respond: (s: net.Socket, received: () => string, conn: number) => void = () => {}): Promise<{
  server: net.Server;
  port: number;
  connections: number;
  received: string[];
  sockets: net.Socket[];
}> {
  const u = {
    server: net.createServer(),
    port: 0,
    connections: 0,
    received: [] as string[],
    sockets: [] as net.Socket[],
  };
  u.server.on('connection', (s) => {
    const i = u.connections++;
    u.received[i] = '';
    u.sockets.push(s);
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      u.received[i] += c.toString('latin1');
      respond(s, () => u.received[i]!, i);
    });
  });
  await listen(u.server);
  u.port = portOf(u.server);
  const close = u.server.close.bind(u.server);
  u.server.close = ((cb?: (err?: Error) => void) => {
    for (const s of u.sockets) s.destroy();
    return close(cb);
  }) as typeof u.server.close;
  return u;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls (event-loop turns, bounded) until `pred` holds; for state that changes without an event to await. */
export async function eventually(pred: () => boolean, what: string, turns = 400): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (pred()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// An HTTP/2 upstream connection that stops answering without closing: a peer
// that went silent (a host gone without a FIN looks the same) or a session
// node:http2 has wedged (the peer cut a HEADERS block with another frame:
// nghttp2 ends the session and node:http2 stops reading, with no event). The
// request that meets it times out (504); the requests after it must not be
// sent down the same dead connection until each times out too: a silent
// connection gets no new streams at once, and one whose PING goes unanswered
// is destroyed, so requests go to a new connection and are answered.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar.js';
import { close, cluster, httpBootstrap, listen, portOf, startSidecar } from '../../test/helpers.js';
import { FLAG, FRAME, FrameReader, frame, h2Get, headerBlock } from '../../test/h2-frames.js';
import { PING_TIMEOUT_MS } from '../h2-client.js';

type Mode = 'answer' | 'silent' | 'wedge';

/** A minimal HTTP/2 server: each connection answers while `modeOf(connection number)` says so. */
function rawH2Server(modeOf: (conn: number) => Mode): net.Server & { connections: number } {
  let n = 0;
  const srv = net.createServer((sock) => {
    const conn = ++n;
    srv.connections = n;
    sock.on('error', () => {});
    sock.write(frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0)));
    const reader = new FrameReader(true);
    sock.on('data', (d: Buffer) =>
      reader.push(d, (type, flags, id) => {
        if (type === FRAME.SETTINGS && !(flags & FLAG.ACK)) return void sock.write(frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0)));
        if (type !== FRAME.HEADERS) return;
        const mode = modeOf(conn);
        if (mode === 'silent') return;
        if (mode === 'wedge') {
          // A HEADERS block without END_HEADERS, then DATA instead of its CONTINUATION.
          sock.write(Buffer.concat([frame(FRAME.HEADERS, 0, id, headerBlock([[':status', '200']])), frame(FRAME.DATA, 0, id, Buffer.from('x'))]));
          return;
        }
        sock.write(Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, id, headerBlock([[':status', '200'], ['x-conn', String(conn)]])), frame(FRAME.DATA, FLAG.END_STREAM, id, Buffer.from('ok'))]));
      }),
    );
  }) as net.Server & { connections: number };
  srv.connections = 0;
  return srv;
}

async function get(port: number, path: string): Promise<{ status: number; conn: string | undefined }> {
  const r = await h2Get(port, path);
  return { status: r.status, conn: r.headers['x-conn'] as string | undefined };
}

/** The sidecar under test, routing to `up` with a 300 ms route timeout, and 20 s under /slow. */
async function sidecarFor(up: net.Server): Promise<{ sidecar: Sidecar; port: number }> {
  const routes = `            - match: { prefix: /slow }
              route: { cluster: up, timeout: 20s }
            - match: { prefix: / }
              route: { cluster: up, timeout: 300ms }`;
  const started = await startSidecar(httpBootstrap(routes, cluster('up', portOf(up), '\n      upstreamProtocol: http2')));
  return { sidecar: started.sidecar, port: started.port() };
}

/** For the enclosing describe: a raw upstream whose connections behave as `modes` says (default: answer), and a sidecar in front. */
function upstreamAndSidecar(modes: Map<number, Mode>): { port: () => number; connections: () => number } {
  let up: ReturnType<typeof rawH2Server> | undefined;
  let sidecar: Sidecar | undefined;
  let port = 0;
  beforeAll(async () => {
    up = await listen(rawH2Server((conn) => modes.get(conn) ?? 'answer'));
    ({ sidecar, port } = await sidecarFor(up));
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(up);
  });
  return { port: () => port, connections: () => up!.connections };
}

describe('an HTTP/2 upstream connection that goes silent', () => {
  const modes = new Map<number, Mode>();
  const env = upstreamAndSidecar(modes);

  it('the request that meets it times out, and the next ones go to a new connection at once', async () => {
    const port = env.port();
    expect(await get(port, '/a')).toEqual({ status: 200, conn: '1' });
    modes.set(1, 'silent');
    expect((await get(port, '/b')).status).toBe(504);
    // Without the fix each of these waited for its own timeout on connection 1.
    expect(await get(port, '/c')).toEqual({ status: 200, conn: '2' });
    expect(await get(port, '/d')).toEqual({ status: 200, conn: '2' });
    expect(env.connections()).toBe(2);
  });

  it('a request already waiting on it fails (503, a reset the retry policy may retry) once a PING goes unanswered, not at its own 20 s timeout', async () => {
    const port = env.port();
    modes.set(2, 'silent');
    const slow = get(port, '/slow');
    await new Promise((r) => setTimeout(r, 50)); // /slow is on connection 2 first
    expect((await get(port, '/e')).status).toBe(504); // times out, sends the PING
    expect((await slow).status).toBe(503);
    expect(await get(port, '/f')).toEqual({ status: 200, conn: '3' });
  }, 3 * PING_TIMEOUT_MS + 2000);
});

describe('an HTTP/2 upstream session wedged by a protocol error', () => {
  const modes = new Map<number, Mode>();
  const env = upstreamAndSidecar(modes);

  it('is replaced once the request that met it has timed out: requests are answered on a new connection', async () => {
    const port = env.port();
    expect(await get(port, '/a')).toEqual({ status: 200, conn: '1' });
    modes.set(1, 'wedge');
    // The broken answer (a HEADERS block cut by DATA): node:http2 reads nothing more on that session.
    expect((await get(port, '/b')).status).toBe(504);
    await expect.poll(() => get(port, '/c'), { timeout: 3 * PING_TIMEOUT_MS, interval: 100 }).toEqual({ status: 200, conn: '2' });
    expect(await get(port, '/d')).toEqual({ status: 200, conn: '2' });
    expect(env.connections()).toBe(2);
  }, 15_000);
});

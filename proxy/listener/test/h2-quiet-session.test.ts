// Quiet HTTP/2 downstream sessions are probed with a PING (h2-sessions.ts):
// a client that made a connection error (DATA on a stream it never opened)
// and hung up must not leave its connection open until the idle timeout —
// node:http2 stops reading such a session and never sees the FIN — while a
// live idle client, which answers PINGs, keeps its session.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar.js';
import { httpBootstrap, startSidecar } from '../../test/helpers.js';
import { frame, PREFACE, rawConnection } from '../../test/h2-frames.js';
import { QUIET_SESSION_PROBE } from '../h2-sessions.js';

describe('quiet HTTP/2 sessions', () => {
  let sidecar: Sidecar;
  let port: number;
  const saved = { ...QUIET_SESSION_PROBE };

  beforeAll(async () => {
    QUIET_SESSION_PROBE.intervalMs = 100;
    QUIET_SESSION_PROBE.pingTimeoutMs = 200;
    const routes = `            - match: { prefix: / }
              directResponse: { status: 200, body: "ok" }`;
    const started = await startSidecar(httpBootstrap(routes, ' []'));
    sidecar = started.sidecar;
    port = started.port();
  });

  afterAll(async () => {
    Object.assign(QUIET_SESSION_PROBE, saved);
    await sidecar?.close();
  });

  it('a client that made a connection error and hung up has its connection closed (idle timeout 1 h)', async () => {
    const { sock, closed } = await rawConnection(port);
    sock.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(0, 0, 1, Buffer.from('abcdef'))]));
    await new Promise((r) => setTimeout(r, 50));
    sock.end(); // FIN: the sidecar's side of the connection is left open unless it closes it
    await expect.poll(closed, { timeout: 5000, interval: 50 }).toBe(true);
  });

  it('a live idle client answers the PINGs and keeps its session', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    let pings = 0;
    client.on('ping', () => pings++);
    const get = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const st = client.request({ ':path': '/' });
        st.on('response', (h) => (st.resume(), st.on('end', () => resolve(Number(h[':status'])))));
        st.on('error', reject);
        st.end();
      });
    expect(await get()).toBe(200);
    await new Promise((r) => setTimeout(r, 1000)); // ten probe intervals, quiet
    expect(pings).toBeGreaterThan(0);
    expect(client.closed || client.destroyed).toBe(false);
    expect(await get()).toBe(200);
    client.close();
  });
});

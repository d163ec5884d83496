// The HTTP/1.1 mesh hop (the bench's two-hop mTLS path) pays TLS per
// connection, not per request: keep-alive requests share one TLS connection,
// a peer's identity is verified once per handshake (each request still
// carries it), and a later connection to the same endpoint resumes the first
// one's session. A TCP relay between the sidecars counts the connections and
// reads each plaintext ServerHello: a TLS 1.3 server that accepted a
// resumption ticket answers with the pre_shared_key extension (RFC 8446 §4.2.11).
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent, request } from 'undici';
import { makeCa, workload } from './helpers.js';
import { close, cluster, listen, meshSecrets, mtlsInboundBootstrap, outboundBootstrap, portOf, RecordingTelemetry, startSidecar } from '../../test/helpers.js';
import { PeerIdentityVerifier } from '../peer-identity.js';
import type { Sidecar } from '../../sidecar.js';

const SERVER = 'spiffe://cluster.local/ns/default/sa/reviews';
const CLIENT = 'spiffe://cluster.local/ns/default/sa/productpage';
const PRE_SHARED_KEY = 41;

/** Extension types of a TLS ServerHello at the start of `buf`, or undefined when it is not (all) there yet. */
function serverHelloExtensions(buf: Buffer): number[] | undefined {
  if (buf.length < 5 || buf[0] !== 0x16 || buf.length < 5 + buf.readUInt16BE(3)) return undefined;
  let p = 5;
  if (buf[p] !== 0x02) throw new Error('first handshake message is not a ServerHello');
  p += 4 + 2 + 32; // header, legacy_version, random
  p += 1 + buf[p]!; // legacy_session_id_echo
  p += 2 + 1; // cipher suite, compression
  const end = p + 2 + buf.readUInt16BE(p);
  const types: number[] = [];
  for (p += 2; p + 4 <= end; p += 4 + buf.readUInt16BE(p + 2)) types.push(buf.readUInt16BE(p));
  return types;
}

/** Relays to `port`, recording per connection whether the server resumed a session. */
async function helloRelay(port: number): Promise<net.Server & { resumed: boolean[] }> {
  const resumed: boolean[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    let head: Buffer | undefined = Buffer.alloc(0);
    up.on('data', (d: Buffer) => {
      if (head === undefined) return;
      head = Buffer.concat([head, d]);
      const ext = serverHelloExtensions(head);
      if (ext) {
        resumed.push(ext.includes(PRE_SHARED_KEY));
        head = undefined;
      }
    });
    down.pipe(up).pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  }) as net.Server & { resumed: boolean[] };
  relay.resumed = resumed;
  return listen(relay);
}

describe('HTTP/1.1 mesh hop: TLS per connection, not per request', () => {
  let app: http.Server;
  let relay: Awaited<ReturnType<typeof helloRelay>>;
  let a: Sidecar;
  let b: Sidecar;
  let aPort: number;
  const bTelemetry = new RecordingTelemetry();

  beforeAll(async () => {
    const ca = await makeCa();
    const [server, client] = await Promise.all([workload(ca, SERVER), workload(ca, CLIENT)]);
    // Answers at once, except /burst/ requests: those wait until four are in flight, so the client
    // sidecar must carry four at once (four upstream connections).
    let held: http.ServerResponse[] = [];
    app = await listen(
      http.createServer((req, res) => {
        req.resume();
        if (!req.url!.startsWith('/burst/')) return void res.end('ok');
        held.push(res);
        if (held.length < 4) return;
        for (const r of held) r.end('ok');
        held = [];
      }),
    );
    const sb = await startSidecar(mtlsInboundBootstrap(cluster('app', portOf(app)), { alpn: ['http/1.1'] }), bTelemetry);
    b = sb.sidecar;
    for (const s of meshSecrets(server)) b.updateSecret(s);
    relay = await helloRelay(sb.port());
    const sa = await startSidecar(outboundBootstrap('reviews', cluster('reviews', portOf(relay), `
      upstreamProtocol: http1
      transportSocket:
        certificateSecret: default
        validationSecret: ROOTCA
        matchSubjectAltNames: [{ exact: "${SERVER}" }]
        alpnProtocols: [http/1.1]`)));
    a = sa.sidecar;
    for (const s of meshSecrets(client)) a.updateSecret(s);
    aPort = sa.port();
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await a?.close();
    await b?.close();
    await close(relay);
    await close(app);
  });

  it('sequential requests share one TLS connection; the identity is verified once and seen by every request', async () => {
    const verify = vi.spyOn(PeerIdentityVerifier.prototype, 'verify');
    const agent = new Agent({ connections: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await request(`http://127.0.0.1:${aPort}/seq/${i}`, { dispatcher: agent });
        expect(r.statusCode).toBe(200);
        await r.body.text();
      }
    } finally {
      await agent.close();
    }
    expect(relay.resumed).toEqual([false]);
    // One handshake: the client sidecar checked the server's ID once, the server sidecar the client's once.
    expect(verify).toHaveBeenCalledTimes(2);
    const seen = bTelemetry.records.filter((r) => r.path.startsWith('/seq/'));
    expect(seen).toHaveLength(20);
    for (const r of seen) expect(r.source.principal).toBe(CLIENT);
    verify.mockRestore();
  });

  it('concurrent requests open more connections, which resume the first session', async () => {
    const agent = new Agent({ connections: 4, pipelining: 0 });
    try {
      const rs = await Promise.all([0, 1, 2, 3].map((i) => request(`http://127.0.0.1:${aPort}/burst/${i}`, { dispatcher: agent })));
      for (const r of rs) {
        expect(r.statusCode).toBe(200);
        await r.body.text();
      }
    } finally {
      await agent.close();
    }
    // The first connection (full handshake) serves one of them; three more open and resume its session.
    expect(relay.resumed).toEqual([false, true, true, true]);
    const burst = bTelemetry.records.filter((r) => r.path.startsWith('/burst/'));
    expect(burst.map((r) => r.source.principal)).toEqual([CLIENT, CLIENT, CLIENT, CLIENT]);
  });
});

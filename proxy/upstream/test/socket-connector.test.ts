// The upstream connector against real TCP and TLS servers on 127.0.0.1:
// handover of a connected socket, refused and timed-out connects (the codes
// the local replies map), TLS resumption per endpoint, ALPN, and an identity
// check that refuses a connection and keeps its ticket out of the cache.
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer, TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { buildConnector } from 'undici';
import { makeCa, workload } from '../../identity/test/helpers.js';
import type { TlsMaterial } from '../../identity/tls-contexts.js';
import { socketConnector } from '../socket-connector.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(s: Server): Promise<number> {
  servers.push(s);
  s.on('connection', (c: Socket) => sockets.push(c)); // the server's side too: close() waits for it
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

function connect(c: buildConnector.connector, port: number, protocol = 'http:'): Promise<Socket> {
  return new Promise((resolve, reject) =>
    c({ hostname: '127.0.0.1', protocol, port: String(port) }, (err, socket) => {
      if (err || !socket) return reject(err ?? new Error('no socket'));
      sockets.push(socket);
      resolve(socket);
    }),
  );
}

describe('socketConnector over TCP', () => {
  it('hands over a connected socket that carries data', async () => {
    const port = await listen(createNetServer((s) => s.pipe(s)));
    const socket = await connect(socketConnector(1000), port);
    socket.write('ping');
    const echo = await new Promise<string>((r) => socket.once('data', (d) => r(String(d))));
    expect(echo).toBe('ping');
  });

  it('reports a refused connect as ECONNREFUSED', async () => {
    const s = createNetServer();
    const port = await listen(s);
    await new Promise((r) => s.close(r));
    servers.pop();
    await expect(connect(socketConnector(1000), port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('socketConnector over TLS', () => {
  let server: TlsMaterial;
  let rootPem: string;
  beforeAll(async () => {
    const ca = await makeCa('connector.test');
    server = await workload(ca, 'spiffe://connector.test/ns/default/sa/server');
    rootPem = ca.rootPem;
  });

  async function tlsServer(alpn = ['http/1.1'], maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<number> {
    const s = createTlsServer({ cert: server.certChainPem, key: server.privateKeyPem, ALPNProtocols: alpn, maxVersion }, (c) => c.end('hello'));
    return listen(s);
  }

  it('times out a handshake that never completes (UND_ERR_CONNECT_TIMEOUT)', async () => {
    const port = await listen(createNetServer(() => {})); // accepts TCP, never speaks TLS
    const c = socketConnector(150, { secureContext: createSecureContext({ ca: rootPem }), alpn: ['http/1.1'] });
    await expect(connect(c, port, 'https:')).rejects.toMatchObject({ code: 'UND_ERR_CONNECT_TIMEOUT' });
  });

  it('verifies the chain, offers its ALPN list, and resumes the next connection to the endpoint', async () => {
    const port = await tlsServer(['h2', 'http/1.1']);
    const c = socketConnector(1000, { secureContext: createSecureContext({ ca: rootPem }), alpn: ['http/1.1', 'h2'] });
    const first = (await connect(c, port, 'https:')) as TLSSocket;
    expect(first.authorized).toBe(true);
    expect(first.alpnProtocol).toBe('h2');
    first.resume();
    await new Promise((r) => first.once('end', r)); // the ticket arrives with the server's data
    const second = (await connect(c, port, 'https:')) as TLSSocket;
    expect(second.isSessionReused()).toBe(true);
  });

  // Node would build the whole peer chain as JS objects after each full handshake, only for a
  // checkServerIdentity that ignores it (~30 % of the handshake's CPU): the connector skips that,
  // and the socket it hands over has the ordinary method back.
  it('does not build the peer chain during the handshake; the connected socket still reports its peer', async () => {
    const port = await tlsServer();
    const proto = Object.getPrototypeOf(new TLSSocket(null as never)) as { getPeerCertificate: (detailed?: boolean) => unknown };
    const original = proto.getPeerCertificate;
    let calls = 0;
    proto.getPeerCertificate = function (this: TLSSocket, detailed?: boolean) {
      calls++;
      return original.call(this, detailed);
    };
    try {
      let seenSan: string | undefined;
      const c = socketConnector(1000, {
        secureContext: createSecureContext({ ca: rootPem }),
        alpn: ['http/1.1'],
        verify: (s) => void (seenSan = s.getPeerX509Certificate()?.subjectAltName),
      });
      const s = (await connect(c, port, 'https:')) as TLSSocket;
      expect(s.isSessionReused()).toBe(false);
      expect(calls).toBe(0);
      // The identity check still reads the verified leaf.
      expect(seenSan).toContain('URI:spiffe://connector.test/ns/default/sa/server');
      expect(Object.prototype.hasOwnProperty.call(s, 'getPeerCertificate')).toBe(false);
      // Without an identity check (which takes the leaf: Node 20 answers it once), the ordinary method answers.
      const plain = (await connect(socketConnector(1000, { secureContext: createSecureContext({ ca: rootPem }), alpn: ['http/1.1'] }), port, 'https:')) as TLSSocket;
      expect(calls).toBe(0);
      expect(plain.getPeerCertificate().subjectaltname).toContain('URI:spiffe://connector.test/ns/default/sa/server');
      expect(calls).toBe(1);
    } finally {
      proto.getPeerCertificate = original;
    }
  });

  it('refuses an untrusted server', async () => {
    const port = await tlsServer();
    const other = await makeCa('other.test');
    const c = socketConnector(1000, { secureContext: createSecureContext({ ca: other.rootPem }), alpn: ['http/1.1'] });
    await expect(connect(c, port, 'https:')).rejects.toThrow();
  });

  it('a refused identity fails the connect, and its ticket is not resumed', async () => {
    // TLS 1.2: the ticket arrives inside the handshake, before the connection is checked.
    const port = await tlsServer(['http/1.1'], 'TLSv1.2');
    let refuse = true;
    const seen: boolean[] = [];
    const c = socketConnector(1000, {
      secureContext: createSecureContext({ ca: rootPem }),
      alpn: ['http/1.1'],
      verify: (s) => {
        seen.push(s.isSessionReused());
        return refuse ? 'not the expected SPIFFE ID' : undefined;
      },
    });
    await expect(connect(c, port, 'https:')).rejects.toMatchObject({ code: 'MESH_UPSTREAM_IDENTITY', message: /not the expected SPIFFE ID/ });
    await new Promise((r) => setTimeout(r, 50)); // a ticket sent after the handshake would have arrived
    refuse = false;
    const ok = (await connect(c, port, 'https:')) as TLSSocket;
    expect(ok.isSessionReused()).toBe(false);
    expect(seen).toEqual([false, false]);
  });
});

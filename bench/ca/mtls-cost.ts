// The cost of mesh mTLS between sidecars, measured in one run:
//  - handshakes: full mTLS handshake vs resumed session (CPU per handshake);
//  - keep-alive: request/response over ONE long-lived connection, plaintext
//    vs mTLS (throughput and p50/p99 latency), interleaved so both see the
//    same machine load.
// Uses the sidecar's own pieces (TlsContextProvider, inbound terminator,
// PeerIdentityVerifier, TlsSessionCache) and real P-256 SVIDs.
//
//   node dist/bench/ca/mtls-cost.js [--seconds 2]   → JSON on stdout
import net from 'node:net';
import tls from 'node:tls';
import { CertificateAuthority } from '../../certs/ca.js';
import { generateCa } from '../../certs/ca-store.js';
import { createWorkloadCsr } from '../../certs/csr.js';
import { PeerIdentityVerifier } from '../../proxy/identity/peer-identity.js';
import { TlsContextProvider, TlsSessionCache, type TlsMaterial } from '../../proxy/identity/tls-contexts.js';

const TD = 'cluster.local';
const MSG = 1024;

async function material(ca: CertificateAuthority, id: string): Promise<TlsMaterial> {
  const { csrPem, privateKeyPem } = await createWorkloadCsr(id);
  const out = await ca.issueWorkloadCertificate(csrPem, id);
  return { certChainPem: out.certChainPem, privateKeyPem, trustBundlePem: out.trustBundlePem };
}

function pct(sorted: number[], p: number): number {
  return +(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 1000).toFixed(1);
}

/** Ping-pong of MSG-byte messages on one connection for `seconds`; latency in µs. */
async function pingPong(sock: net.Socket, seconds: number) {
  const payload = Buffer.alloc(MSG, 0x61);
  const lat: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const s = performance.now();
    await new Promise<void>((resolve) => {
      let got = 0;
      const onData = (d: Buffer) => {
        got += d.length;
        if (got >= MSG) {
          sock.off('data', onData);
          resolve();
        }
      };
      sock.on('data', onData);
      sock.write(payload);
    });
    lat.push(performance.now() - s);
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  lat.sort((a, b) => a - b);
  return { requests: lat.length, perSecond: Math.round(lat.length / wall), cpuMicrosPerRequest: Math.round((c.user + c.system) / lat.length), p50Micros: pct(lat, 0.5), p99Micros: pct(lat, 0.99) };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 2;
  const gen = await generateCa({ trustDomain: TD, intermediate: true });
  const ca = new CertificateAuthority(gen.material);
  const serverTls = new TlsContextProvider();
  const clientTls = new TlsContextProvider();
  serverTls.update(await material(ca, `spiffe://${TD}/ns/b/sa/server`));
  clientTls.update(await material(ca, `spiffe://${TD}/ns/b/sa/client`));

  const echo = (s: net.Socket) => s.on('data', (d) => s.write(d));
  const terminator = serverTls.createInboundServer({
    verifier: new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [] }),
    onSecure: (s) => echo(s),
  });
  const mtlsServer = net.createServer((raw) => terminator.emit('connection', raw));
  const plainServer = net.createServer(echo);
  await new Promise<void>((r) => mtlsServer.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => plainServer.listen(0, '127.0.0.1', r));
  const mtlsPort = (mtlsServer.address() as net.AddressInfo).port;
  const plainPort = (plainServer.address() as net.AddressInfo).port;
  const verifier = new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [] });

  const connect = (sessions: TlsSessionCache, key: string) =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: mtlsPort, ...clientTls.clientConnectOptions({ sessions, key }) });
      sessions.track(s, key, clientTls.version);
      s.once('secureConnect', () => {
        const r = verifier.verify(s, sessions.identity(key));
        if (!r.ok) return reject(new Error(r.reason));
        sessions.rememberIdentity(key, clientTls.version, r.spiffeId);
        resolve(s);
      });
      s.once('error', reject);
    });

  const handshakes = async (resume: boolean) => {
    const sessions = new TlsSessionCache();
    let n = 0;
    let reused = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const s = await connect(sessions, resume ? 'k' : `k${n}`);
      if (s.isSessionReused()) reused++;
      // TLS 1.3 tickets arrive after the handshake: wait for one before closing so it can be reused.
      else if (resume) await new Promise((r) => (s.once('session', r), setTimeout(r, 200).unref()));
      s.destroy();
      n++;
    }
    const c = process.cpuUsage(cpu0);
    const wall = (performance.now() - t0) / 1000;
    // Client and server run in this process: CPU is both sides of the handshake.
    return { handshakes: n, resumed: reused, perSecond: Math.round(n / wall), cpuMicrosPerHandshakeBothSides: Math.round((c.user + c.system) / n) };
  };

  const result: Record<string, unknown> = { node: process.version, messageBytes: MSG, note: 'client and server in one process; CPU covers both sides' };
  result.fullHandshake = await handshakes(false);
  result.resumedHandshake = await handshakes(true);

  const plainSock = await new Promise<net.Socket>((r) => {
    const s = net.connect(plainPort, '127.0.0.1', () => r(s));
  });
  plainSock.setNoDelay(true);
  const tlsSock = await connect(new TlsSessionCache(), 'ka');
  tlsSock.setNoDelay(true);
  // Interleave: plain, mTLS, plain, mTLS — each half the time.
  const half = seconds / 2;
  const p1 = await pingPong(plainSock, half);
  const m1 = await pingPong(tlsSock, half);
  const p2 = await pingPong(plainSock, half);
  const m2 = await pingPong(tlsSock, half);
  const merge = (a: typeof p1, b: typeof p1) => ({
    requests: a.requests + b.requests,
    perSecond: Math.round((a.perSecond + b.perSecond) / 2),
    cpuMicrosPerRequest: Math.round((a.cpuMicrosPerRequest + b.cpuMicrosPerRequest) / 2),
    p50Micros: +((a.p50Micros + b.p50Micros) / 2).toFixed(1),
    p99Micros: Math.max(a.p99Micros, b.p99Micros),
  });
  const plain = merge(p1, p2);
  const mtls = merge(m1, m2);
  result.keepAlive = { plaintext: plain, mtls, mtlsThroughputRatio: +(mtls.perSecond / plain.perSecond).toFixed(3) };
  plainSock.destroy();
  tlsSock.destroy();
  mtlsServer.close();
  plainServer.close();
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

await main();

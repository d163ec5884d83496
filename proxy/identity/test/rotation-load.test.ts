// Certificate rotation under continuous load: two workloads get short-lived
// certificates from the real CA service, a client keeps opening mTLS
// connections (with session resumption) to the server while both rotate
// several times. Zero requests may fail. Rotation timing runs on a
// ManualClock (kept within real time, since TLS checks validity against it).
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { BootstrapTokenAuthenticator, mintBootstrapToken } from '../../../control-plane/ca/bootstrap-token.js';
import { startCaServer, type CaServer } from '../../../control-plane/ca/service.js';
import { CaClient } from '../ca-client.js';
import { PeerIdentityVerifier } from '../peer-identity.js';
import { TlsContextProvider, TlsSessionCache } from '../tls-contexts.js';
import { WorkloadIdentityManager } from '../workload-identity.js';
import { makeCa } from './helpers.js';

const TD = 'cluster.local';
const SERVER_ID = `spiffe://${TD}/ns/default/sa/server`;
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/client`;
const TTL = 40_000;
const key = Buffer.alloc(32, 1);
const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
let caServer: CaServer;
let rootPem: string;
const closers: (() => void)[] = [];

beforeAll(async () => {
  const t = await makeCa(TD, { intermediate: true, clock });
  caServer = await startCaServer({ ca: t.ca, authenticator: new BootstrapTokenAuthenticator(key, TD, clock) });
  rootPem = t.rootPem;
});
afterAll(async () => {
  while (closers.length) closers.pop()!();
  await caServer.close();
});

function manager(id: string, provider: TlsContextProvider, serials: string[]): WorkloadIdentityManager {
  const sa = id.split('/').at(-1)!;
  const client = new CaClient({
    address: caServer.address,
    caRootPem: rootPem,
    serverName: 'localhost',
    token: () => mintBootstrapToken({ key, trustDomain: TD, namespace: 'default', serviceAccount: sa, clock }),
  });
  closers.push(() => client.close());
  return new WorkloadIdentityManager({
    spiffeId: id,
    ca: client,
    clock,
    ttlMs: TTL,
    onUpdate: (c) => {
      provider.update({ certChainPem: c.certChainPem, privateKeyPem: c.privateKeyPem, trustBundlePem: c.trustBundlePem });
      serials.push(new X509Certificate(c.certChainPem).serialNumber);
    },
  });
}

it('rotates both workloads several times under continuous mTLS load with zero failed requests', async () => {
  const serverTls = new TlsContextProvider();
  const clientTls = new TlsContextProvider();
  const serverSerials: string[] = [];
  const clientSerials: string[] = [];
  const sm = manager(SERVER_ID, serverTls, serverSerials);
  const cm = manager(CLIENT_ID, clientTls, clientSerials);
  closers.push(() => sm.stop(), () => cm.stop());
  await Promise.all([sm.start(), cm.start()]);

  const seenClientSerials = new Set<string>();
  const terminator = serverTls.createInboundServer({
    verifier: new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [{ exact: CLIENT_ID }] }),
    onSecure: (s, id) => {
      const c = s.getPeerX509Certificate();
      if (c) seenClientSerials.add(c.serialNumber);
      s.end(id);
    },
  });
  const server = net.createServer((raw) => terminator.emit('connection', raw));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  const port = (server.address() as net.AddressInfo).port;

  const sessions = new TlsSessionCache();
  const verifier = new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [{ exact: SERVER_ID }] });
  const call = () =>
    new Promise<string>((resolve, reject) => {
      const k = `127.0.0.1:${port}`;
      const ver = clientTls.version;
      const s = tls.connect({ host: '127.0.0.1', port, ...clientTls.clientConnectOptions({ sessions, key: k }) });
      sessions.track(s, k, ver);
      let body = '';
      s.on('secureConnect', () => {
        const r = verifier.verify(s, sessions.identity(k));
        if (!r.ok) return s.destroy(new Error(r.reason));
        sessions.rememberIdentity(k, ver, r.spiffeId);
      });
      s.on('data', (d) => (body += d));
      s.on('end', () => (body === CLIENT_ID ? resolve(body) : reject(new Error(`bad response ${JSON.stringify(body)}`))));
      s.on('error', reject);
    });

  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const load = (async () => {
    while (!stop) {
      // Four connections in flight at a time.
      const r = await Promise.allSettled([call(), call(), call(), call()]);
      for (const x of r) x.status === 'fulfilled' ? ok++ : failures.push(String(x.reason));
    }
  })();

  // Five rotations of each workload (each renews at ~50% of the 40 s TTL).
  for (let i = 0; i < 5; i++) {
    const s0 = serverSerials.length;
    const c0 = clientSerials.length;
    const next = Math.max(sm.nextAttemptAt!, cm.nextAttemptAt!);
    clock.advance(next - clock.now());
    await vi.waitFor(() => {
      expect(serverSerials.length).toBeGreaterThan(s0);
      expect(clientSerials.length).toBeGreaterThan(c0);
    });
    const before = ok;
    await vi.waitFor(() => expect(ok).toBeGreaterThan(before + 8)); // traffic flowed on the new certificates
  }
  stop = true;
  await load;
  expect(failures).toEqual([]);
  expect(serverSerials.length).toBeGreaterThanOrEqual(6);
  expect(clientSerials.length).toBeGreaterThanOrEqual(6);
  // The server saw the client's successive certificates, not just the first.
  expect(seenClientSerials.size).toBeGreaterThanOrEqual(5);
}, 30_000);

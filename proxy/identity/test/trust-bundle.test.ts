// Trust-root rotation: the bundle per phase (pure), then a full rotation with
// real TLS between two workloads while connections keep flowing.
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerIdentityVerifier } from '../peer-identity.js';
import { TlsContextProvider, TlsSessionCache, type TlsMaterial } from '../tls-contexts.js';
import { bundleFingerprints, mergeBundles, ROTATION_PHASES, rotationState } from '../trust-bundle.js';
import { makeCa, workload, type TestCa } from './helpers.js';

const TD = 'cluster.local';
const SERVER_ID = `spiffe://${TD}/ns/default/sa/server`;
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/client`;
let oldCa: TestCa;
let newCa: TestCa;

beforeAll(async () => {
  oldCa = await makeCa(TD);
  newCa = await makeCa(TD);
});

describe('rotationState', () => {
  it('trusts old, then old+new, then new, and switches the signer in the middle', () => {
    const o = oldCa.rootPem;
    const n = newCa.rootPem;
    const fps = (p: string) => bundleFingerprints(p);
    const [fo, fn] = [fps(o)[0], fps(n)[0]];
    expect(ROTATION_PHASES.map((p) => ({ p, ...rotationState(o, n, p), trustBundlePem: fps(rotationState(o, n, p).trustBundlePem) }))).toEqual([
      { p: 'steady', signWith: 'old', trustBundlePem: [fo] },
      { p: 'overlap', signWith: 'old', trustBundlePem: [fo, fn] },
      { p: 'switch', signWith: 'new', trustBundlePem: [fn, fo] },
      { p: 'complete', signWith: 'new', trustBundlePem: [fn] },
    ]);
  });

  it('mergeBundles drops duplicates and keeps order', () => {
    expect(bundleFingerprints(mergeBundles(oldCa.rootPem, newCa.rootPem + oldCa.rootPem))).toEqual([
      ...bundleFingerprints(oldCa.rootPem),
      ...bundleFingerprints(newCa.rootPem),
    ]);
  });
});

describe('root rotation over real TLS', () => {
  let server: net.Server;
  let port: number;
  const serverTls = new TlsContextProvider();
  const clientTls = new TlsContextProvider();
  const refusals: string[] = [];

  async function issue(phase: (typeof ROTATION_PHASES)[number], id: string): Promise<TlsMaterial> {
    const st = rotationState(oldCa.rootPem, newCa.rootPem, phase);
    return workload(st.signWith === 'old' ? oldCa : newCa, id, undefined, st.trustBundlePem);
  }

  beforeAll(async () => {
    serverTls.update(await issue('steady', SERVER_ID));
    clientTls.update(await issue('steady', CLIENT_ID));
    const terminator = serverTls.createInboundServer({
      verifier: new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [{ exact: CLIENT_ID }] }),
      onSecure: (s, id) => s.end(id),
      onRefused: (r) => refusals.push(r),
    });
    server = net.createServer((raw) => terminator.emit('connection', raw));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => server.close());

  const sessions = new TlsSessionCache();
  function call(mat: TlsContextProvider = clientTls): Promise<string> {
    const verifier = new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [{ exact: SERVER_ID }] });
    const key = `127.0.0.1:${port}`;
    // The identity that goes with the session offered now (a later connection may replace the cache entry before this one is secure).
    const resumedIdentity = sessions.identity(key);
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ...mat.clientConnectOptions({ sessions, key }) });
      sessions.track(s, key, mat.version);
      let body = '';
      s.on('secureConnect', () => {
        const r = verifier.verify(s, resumedIdentity);
        if (!r.ok) return s.destroy(new Error(r.reason));
        sessions.rememberIdentity(key, mat.version, r.spiffeId);
      });
      s.on('data', (d) => (body += d));
      s.on('end', () => resolve(body));
      s.on('error', reject);
    });
  }

  it('completes old → overlap → switch → complete with zero failed connections', async () => {
    let ok = 0;
    for (const phase of ROTATION_PHASES) {
      // Server and client move to the phase one after the other, with connections in flight
      // between the two updates: exactly the window the overlap exists for.
      const inflight = [call(), call(), call()];
      serverTls.update(await issue(phase, SERVER_ID));
      inflight.push(call(), call());
      clientTls.update(await issue(phase, CLIENT_ID));
      inflight.push(call(), call());
      for (const body of await Promise.all(inflight)) {
        expect(body).toBe(CLIENT_ID);
        ok++;
      }
    }
    expect(ok).toBe(28);
    expect(refusals).toEqual([]);
  });

  it('after completion a workload still holding an old-root certificate is refused', async () => {
    const stale = new TlsContextProvider();
    stale.update({ ...(await workload(oldCa, CLIENT_ID)), trustBundlePem: mergeBundles(oldCa.rootPem, newCa.rootPem) });
    // TLS 1.3: the client finishes first; the server then verifies and drops it without a response.
    const n = refusals.length;
    expect(await call(stale).catch(() => '')).toBe('');
    expect(refusals.length).toBe(n + 1);
    // OpenSSL sends the old root along (auto-chain), which the server no longer trusts.
    expect(refusals[n]).toMatch(/^peer certificate not trusted: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/);
  });
});

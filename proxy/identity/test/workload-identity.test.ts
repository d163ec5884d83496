// The workload certificate manager against the real CA service over gRPC/TLS,
// on a ManualClock: no sleeping, every rotation and retry time is exact.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ManualClock } from '../../../common/clock.js';
import { createLogger } from '../../../common/log.js';
import { CertificateAuthority } from '../../../certs/ca.js';
import { BootstrapTokenAuthenticator, mintBootstrapToken } from '../../../control-plane/ca/bootstrap-token.js';
import { startCaServer, type CaServer } from '../../../control-plane/ca/service.js';
import { CaCallError, CaClient, type CertificateSource } from '../ca-client.js';
import { WorkloadIdentityManager, type WorkloadCertificate } from '../workload-identity.js';
import { forgedLeaf, makeCa, type TestCa } from './helpers.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/shop/sa/cart`;
const HOUR = 3600_000;
const key = Buffer.alloc(32, 3);
// Whole seconds: X.509 validity has second precision.
const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
let t: TestCa;
let server: CaServer;
let client: CaClient;

beforeAll(async () => {
  t = await makeCa(TD, { intermediate: true, clock });
  server = await startCaServer({ ca: t.ca, authenticator: new BootstrapTokenAuthenticator(key, TD, clock) });
  client = new CaClient({
    address: server.address,
    caRootPem: t.rootPem,
    serverName: 'localhost',
    token: () => mintBootstrapToken({ key, trustDomain: TD, namespace: 'shop', serviceAccount: 'cart', clock }),
  });
});
afterAll(async () => {
  client.close();
  await server.close();
});

/** The real client, with a switch that makes the CA unreachable (as a network outage would). */
function outageable(): CertificateSource & { up: boolean; calls: number } {
  const s = {
    up: true,
    calls: 0,
    requestCertificate(csr: string, ttl: number) {
      s.calls++;
      if (!s.up) return Promise.reject(new CaCallError(grpc.status.UNAVAILABLE, 'connect ECONNREFUSED'));
      return client.requestCertificate(csr, ttl);
    },
  };
  return s;
}

describe('WorkloadIdentityManager', () => {
  it('rotates at 50% of lifetime, backs off while the CA is down keeping the valid cert, then recovers', async () => {
    const source = outageable();
    const updates: WorkloadCertificate[] = [];
    const expiries: number[] = [];
    const m = new WorkloadIdentityManager({
      spiffeId: ID,
      ca: source,
      clock,
      ttlMs: HOUR,
      random: () => 0.5, // no jitter: exact times
      backoff: { initialMs: 1000, maxMs: 8000 },
      onUpdate: (c) => updates.push(c),
      onExpiry: (s) => expiries.push(s),
    });
    const first = await m.start();
    expect(first.spiffeId).toBe(ID);
    expect(first.privateKeyPem).toContain('BEGIN PRIVATE KEY');
    expect(first.notAfter - clock.now()).toBe(HOUR);
    expect(expiries).toEqual([Math.floor(first.notAfter / 1000)]);
    expect(m.nextAttemptAt! - clock.now()).toBe(HOUR / 2);

    clock.advance(HOUR / 2 - 1);
    expect(source.calls).toBe(1);
    clock.advance(1);
    await vi.waitFor(() => expect(updates.length).toBe(2));
    const second = updates[1]!;
    expect(second.notAfter).toBe(clock.now() + HOUR);
    expect(second.privateKeyPem).not.toBe(first.privateKeyPem); // a fresh key per rotation
    expect(second.certChainPem).not.toBe(first.certChainPem);

    // CA goes down at the next rotation.
    source.up = false;
    clock.advance(HOUR / 2);
    await vi.waitFor(() => expect(source.calls).toBe(3));
    await vi.waitFor(() => expect(m.nextAttemptAt).toBeDefined());
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const wait = m.nextAttemptAt! - clock.now();
      delays.push(wait);
      const calls = source.calls;
      clock.advance(wait);
      await vi.waitFor(() => expect(source.calls).toBe(calls + 1));
      await vi.waitFor(() => expect(m.nextAttemptAt).toBeDefined());
    }
    // Exponential (full-jitter midpoint = 0.75 × base), capped at 8 s.
    expect(delays).toEqual([750, 1500, 3000, 6000, 6000]);
    expect(m.current).toBe(second); // still serving the valid certificate
    expect(updates.length).toBe(2);

    source.up = true;
    clock.advance(m.nextAttemptAt! - clock.now());
    await vi.waitFor(() => expect(updates.length).toBe(3));
    expect(m.current).toBe(updates[2]);
    // notAfter has second precision; the renewal is half of what is left of it.
    expect(m.nextAttemptAt! - clock.now()).toBe(Math.floor((updates[2]!.notAfter - clock.now()) / 2));
    m.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('retries at once when the CA is reachable again, but keeps the backoff after a refusal', async () => {
    const source = outageable();
    source.up = false;
    const updates: WorkloadCertificate[] = [];
    const m = new WorkloadIdentityManager({ spiffeId: ID, ca: source, clock, ttlMs: HOUR, random: () => 0.5, backoff: { initialMs: 1000, maxMs: 60_000 }, onUpdate: (c) => updates.push(c) });
    const first = m.start();
    for (let i = 1; i <= 4; i++) {
      await vi.waitFor(() => expect(m.nextAttemptAt).toBeDefined());
      if (i < 4) clock.advance(m.nextAttemptAt! - clock.now());
    }
    expect(source.calls).toBe(4);
    expect(m.nextAttemptAt! - clock.now()).toBe(6000); // the fourth failure's backoff
    source.up = true;
    m.caReachable();
    expect(m.nextAttemptAt).toBe(clock.now());
    clock.advance(0);
    const cert = await first;
    expect(cert.spiffeId).toBe(ID);
    expect(source.calls).toBe(5);
    // With a certificate it is a no-op: the renewal stays at half the lifetime.
    m.caReachable();
    expect(m.nextAttemptAt! - clock.now()).toBe(Math.floor((cert.notAfter - clock.now()) / 2));
    m.stop();

    let calls = 0;
    const refusing: CertificateSource = {
      requestCertificate: () => {
        calls++;
        return Promise.reject(new CaCallError(grpc.status.PERMISSION_DENIED, 'token audience mismatch'));
      },
    };
    const r = new WorkloadIdentityManager({ spiffeId: ID, ca: refusing, clock, random: () => 0.5, backoff: { initialMs: 1000, maxMs: 60_000 }, onUpdate: () => expect.fail('no certificate') });
    void r.start();
    await vi.waitFor(() => expect(r.nextAttemptAt).toBeDefined());
    const due = r.nextAttemptAt!;
    expect(due - clock.now()).toBe(750);
    r.caReachable();
    expect(r.nextAttemptAt).toBe(due);
    r.stop();
    expect(calls).toBe(1);
  });

  it('does not start a second request while one is in flight', async () => {
    let release!: () => void;
    let calls = 0;
    const slow: CertificateSource = {
      requestCertificate: async (csr, ttl) => {
        calls++;
        await new Promise<void>((r) => (release = r));
        return client.requestCertificate(csr, ttl);
      },
    };
    const m = new WorkloadIdentityManager({ spiffeId: ID, ca: slow, clock, ttlMs: HOUR, random: () => 0.5, onUpdate: () => {} });
    const first = m.start();
    await vi.waitFor(() => expect(calls).toBe(1));
    m.renewSoon(0);
    expect(m.nextAttemptAt).toBeUndefined();
    clock.advance(1000);
    release();
    const cert = await first;
    expect(calls).toBe(1);
    expect(m.nextAttemptAt! - clock.now()).toBe(Math.floor((cert.notAfter - clock.now()) / 2));
    m.stop();
  });

  it('a renewal asked for from onUpdate (the certificate is from a root no longer active) is kept', async () => {
    let asked = false;
    const m: WorkloadIdentityManager = new WorkloadIdentityManager({
      spiffeId: ID,
      ca: client,
      clock,
      ttlMs: HOUR,
      random: () => 0.5,
      onUpdate: () => {
        if (!asked) m.renewSoon(2000);
        asked = true;
      },
    });
    await m.start();
    expect(m.nextAttemptAt! - clock.now()).toBe(1000);
    m.stop();
  });

  it('spreads renewals with jitter around 50%', async () => {
    for (const [r, share] of [
      [0, 0.45],
      [1, 0.55],
    ] as const) {
      const m = new WorkloadIdentityManager({ spiffeId: ID, ca: client, clock, ttlMs: HOUR, random: () => r, onUpdate: () => {} });
      const c = await m.start();
      expect(m.nextAttemptAt! - clock.now()).toBe(Math.floor((c.notAfter - clock.now()) * share));
      m.stop();
    }
  });

  it('rejects a response for the wrong identity or already expired, and retries', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    const wrong: CertificateSource = {
      requestCertificate: async () => {
        const f = await forgedLeaf(t, { uris: [`spiffe://${TD}/ns/shop/sa/admin`] });
        return { certChainPem: f.certChainPem, trustBundlePem: t.rootPem };
      },
    };
    const m1 = new WorkloadIdentityManager({ spiffeId: ID, ca: wrong, clock, logger, onUpdate: () => expect.fail('accepted a wrong identity') });
    void m1.start();
    await vi.waitFor(() => expect(m1.nextAttemptAt).toBeDefined());
    expect(m1.current).toBeUndefined();
    expect(lines.join('\n')).toContain('CA response rejected: leaf identity [\\"spiffe://cluster.local/ns/shop/sa/admin\\"]');
    m1.stop();

    const pastClock = new ManualClock(clock.now() - 10 * HOUR);
    const pastCa = new CertificateAuthority(t.gen.material, { clock: pastClock });
    const stale: CertificateSource = {
      requestCertificate: async (csr) => {
        const out = await pastCa.issueWorkloadCertificate(csr, ID, HOUR);
        return { certChainPem: out.certChainPem, trustBundlePem: out.trustBundlePem };
      },
    };
    const m2 = new WorkloadIdentityManager({ spiffeId: ID, ca: stale, clock, logger, onUpdate: () => expect.fail('accepted an expired cert') });
    void m2.start();
    await vi.waitFor(() => expect(m2.nextAttemptAt).toBeDefined());
    expect(lines.join('\n')).toContain('CA response rejected: leaf already expired');
    m2.stop();
  });
});

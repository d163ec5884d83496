// The workload's certificate manager. At start it makes a key in memory
// (never written, never sent), sends a CSR to the CA, checks the answer and
// emits it. It renews at ~50% of the lifetime with jitter (Istio's rule) and,
// while the CA is down, retries with exponential backoff, keeping the
// still-valid certificate. All timing runs on the injectable Clock.
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { Clock, Timer } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import { MeshError } from '../../common/errors.js';
import { createWorkloadCsr } from '../../certs/workload-csr.js';
import { certFacts, type CertFacts } from './cert-facts.js';
import { parseWorkloadId } from '../../certs/spiffe.js';
import { CaCallError, type CertificateSource } from './ca-client.js';
import { verifyChainToBundle } from './verify-chain.js';

export interface WorkloadCertificate {
  certChainPem: string;
  privateKeyPem: string;
  trustBundlePem: string;
  /** Leaf expiry, ms since the epoch. */
  notAfter: number;
  spiffeId: string;
}

export interface WorkloadIdentityOptions {
  spiffeId: string;
  ca: CertificateSource;
  onUpdate: (cert: WorkloadCertificate) => void;
  clock?: Clock;
  logger?: Logger;
  /** Requested lifetime; 0 = the CA's default. */
  ttlMs?: number;
  /** Renew when this share of the lifetime has passed (Istio: 0.5). */
  renewAt?: number;
  /** ± share of the lifetime added at random to the renewal time. */
  jitter?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** How far in the future a fresh certificate's notBefore may be (clock skew). */
  notBeforeToleranceMs?: number;
  random?: () => number;
  /** Metrics hook: the current certificate's expiry (seconds since the epoch). */
  onExpiry?: (notAfterSeconds: number) => void;
}

export class InvalidIssuedCertificateError extends MeshError {
  constructor(message: string) {
    super('MESH_CA_BAD_RESPONSE', `CA response rejected: ${message}`);
  }
}

export class WorkloadIdentityManager {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;
  private timer: Timer | undefined;
  private stopped = false;
  private failures = 0;
  private inFlight = false;
  /** The last attempt failed because the CA could not be reached (not because it refused). */
  private lastFailureUnreachable = false;
  private cur: WorkloadCertificate | undefined;
  private first: { resolve: (c: WorkloadCertificate) => void; promise: Promise<WorkloadCertificate> };

  constructor(private readonly o: WorkloadIdentityOptions) {
    parseWorkloadId(o.spiffeId);
    this.clock = o.clock ?? systemClock;
    this.log = o.logger ?? silentLogger;
    this.random = o.random ?? Math.random;
    let resolve!: (c: WorkloadCertificate) => void;
    const promise = new Promise<WorkloadCertificate>((r) => (resolve = r));
    this.first = { resolve, promise };
  }

  /** Starts fetching; resolves with the first certificate (retrying until the CA answers or stop()). */
  start(): Promise<WorkloadCertificate> {
    void this.attempt();
    return this.first.promise;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * Re-issue within `maxDelayMs` (random, so a fleet does not hit the CA at once), e.g. when the
   * trust bundle's active root is no longer the one the current certificate chains to (root rotation).
   */
  renewSoon(maxDelayMs = 0): void {
    // An attempt in flight already brings a fresh certificate (and its update re-checks the root).
    if (this.stopped || this.inFlight) return;
    const delay = Math.floor(this.random() * maxDelayMs);
    if (this.nextAttemptAt !== undefined && this.nextAttemptAt <= this.clock.now() + delay) return;
    this.schedule(delay);
  }

  /**
   * The CA is reachable again (e.g. the control plane it lives in just answered on the shared channel):
   * a workload without a valid certificate whose last request could not reach the CA retries now
   * instead of sitting out its backoff (up to a minute) with unusable mTLS listeners. A refusal
   * keeps its backoff: a push must not turn a rejected token into a request per push.
   */
  caReachable(): void {
    if (this.stopped || this.inFlight || this.failures === 0 || !this.lastFailureUnreachable) return;
    if (this.cur !== undefined && this.cur.notAfter > this.clock.now()) return;
    this.log.info('CA reachable again; retrying the certificate request now', { attempt: this.failures + 1 });
    this.schedule(0);
  }

  get current(): WorkloadCertificate | undefined {
    return this.cur;
  }

  /** Time (ms since epoch) of the next scheduled attempt, for tests and the admin page. */
  nextAttemptAt: number | undefined;

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.nextAttemptAt = this.clock.now() + delayMs;
    this.timer = this.clock.setTimeout(() => void this.attempt(), delayMs);
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    this.timer = undefined;
    this.nextAttemptAt = undefined;
    this.inFlight = true;
    try {
      const { csrPem, privateKeyPem } = await createWorkloadCsr(this.o.spiffeId);
      const res = await this.o.ca.requestCertificate(csrPem, this.o.ttlMs ?? 0);
      if (this.stopped) return;
      const cert = this.validate(res.certChainPem, res.trustBundlePem, privateKeyPem);
      this.failures = 0;
      this.cur = cert;
      this.inFlight = false;
      // Scheduled before onUpdate, so a renewSoon() from it (a root switch) can only bring this earlier.
      this.schedule(this.renewDelay(cert.notAfter));
      this.o.onExpiry?.(Math.floor(cert.notAfter / 1000));
      this.log.info('workload certificate updated', { spiffeId: cert.spiffeId, notAfter: new Date(cert.notAfter).toISOString() });
      this.o.onUpdate(cert);
      this.first.resolve(cert);
    } catch (err) {
      if (this.stopped) return;
      this.inFlight = false;
      this.failures++;
      this.lastFailureUnreachable = err instanceof CaCallError && err.unreachable;
      const delay = this.backoffDelay();
      const stillValid = this.cur !== undefined && this.cur.notAfter > this.clock.now();
      this.log.warn('certificate request failed; keeping the current certificate', {
        error: err as Error,
        attempt: this.failures,
        retryInMs: delay,
        haveValidCertificate: stillValid,
      });
      // Never retry later than the current certificate's expiry would allow.
      this.schedule(stillValid ? Math.min(delay, Math.max(0, this.cur!.notAfter - this.clock.now())) : delay);
    }
  }

  private renewDelay(notAfter: number): number {
    const now = this.clock.now();
    const life = Math.max(0, notAfter - now);
    const share = (this.o.renewAt ?? 0.5) + (this.random() * 2 - 1) * (this.o.jitter ?? 0.05);
    return Math.max(0, Math.floor(life * Math.min(0.95, Math.max(0.05, share))));
  }

  private backoffDelay(): number {
    const { initialMs, maxMs } = this.o.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, this.failures - 1));
    // Full jitter in [base/2, base].
    return Math.floor(base / 2 + (this.random() * base) / 2);
  }

  private validate(chainPem: string, bundlePem: string, keyPem: string): WorkloadCertificate {
    const now = this.clock.now();
    const skew = this.o.notBeforeToleranceMs ?? 5 * 60_000;
    let leaf: X509Certificate;
    let facts: CertFacts;
    try {
      leaf = new X509Certificate(chainPem);
      facts = certFacts(leaf);
    } catch (err) {
      throw new InvalidIssuedCertificateError(`certificate chain is not PEM X.509: ${(err as Error).message}`);
    }
    if (facts.isCa) throw new InvalidIssuedCertificateError('leaf is a CA certificate');
    if (facts.uriSans.length !== 1 || facts.otherSanCount !== 0 || facts.uriSans[0] !== this.o.spiffeId) {
      throw new InvalidIssuedCertificateError(`leaf identity ${JSON.stringify(facts.uriSans)} is not ${this.o.spiffeId}`);
    }
    if (facts.notAfter <= now) throw new InvalidIssuedCertificateError(`leaf already expired at ${new Date(facts.notAfter).toISOString()}`);
    if (facts.notBefore > now + skew) throw new InvalidIssuedCertificateError(`leaf not valid before ${new Date(facts.notBefore).toISOString()}`);
    const ours = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(ours)) {
      throw new InvalidIssuedCertificateError('leaf public key is not the key this workload generated');
    }
    const problem = verifyChainToBundle(chainPem, bundlePem, now, skew);
    if (problem) throw new InvalidIssuedCertificateError(problem);
    return { certChainPem: chainPem, privateKeyPem: keyPem, trustBundlePem: bundlePem, notAfter: facts.notAfter, spiffeId: this.o.spiffeId };
  }
}

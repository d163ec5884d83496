// A zero-downtime root rotation, run by the control plane (meshctl certs
// rotate-root drives it through the admin API). The phases of
// proxy/identity/trust-bundle.ts, each one only after the mesh confirmed the
// previous one:
//   1 generate   a new root (and intermediate, when the CA uses one)
//   2 overlap    bundle old+new pushed; wait until every proxy ACKed it
//   3 switch     the CA signs with the new root; bundle new+old (its first root is the active one,
//                which makes sidecars re-issue at once); wait for the ACKs
//   4 reissue    wait until every workload presents a certificate from the new CA
//   5 drop-old   bundle new only; wait for the ACKs
//   6 persist    the new CA becomes the one the next start loads (the old files are kept aside)
// A failed or timed-out step leaves the mesh in a safe phase (both roots trusted); starting
// again resumes at that step.

import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { CaMaterial, CertificateAuthority } from '../../certs/ca.js';
import { CA_FILES, generateCa, type GeneratedCa } from '../../certs/ca-store.js';
import { CROSS_SIGNED_ROOT_FILE, crossSignRoot } from '../../certs/cross-sign.js';
import { bundleFingerprints, mergeBundles } from '../../proxy/identity/trust-bundle.js';
import { bundleReceipt, issuedBy, persistNewCa, presentedCertificate, type PublishedBundle } from './rotation-checks.js';
import { clearRotation, saveNextCa, saveProgress, type SavedRotation } from './rotation-store.js';
import type { ProxyStatus } from './types.js';
import { STEP_TITLES as TITLES, type RootInfo, type RootRotationApi, type RotationStatus, type RotationStep, type RotationStepName } from './rotation-types.js';

export type { RootInfo, RootRotationApi, RotationStatus, RotationStep, RotationStepName } from './rotation-types.js';

export interface RootRotationOptions {
  ca: CertificateAuthority;
  trustDomain: string;
  /** The CA's files: the new CA is persisted here when the rotation completes. */
  caDir: string;
  /** `<state-dir>/root-cert.pem` (what sidecars verify the control plane with): rewritten to new+old. */
  rootCertFile?: string;
  proxies(): ProxyStatus[];
  published: PublishedBundle;
  /** Connected sidecars' inbound listeners (probed for the certificate they present). */
  workloads(): { nodeId: string; inboundAddress: string; inboundPort: number }[];
  /** Recompute and push every proxy's config now (the trust bundle is part of it). */
  republish(): void;
  propagationTimeoutMs?: number;
  reissueTimeoutMs?: number;
  /** A rotation the previous run of the control plane left unfinished (rotation-store.ts): its phase is restored at once. */
  restored?: SavedRotation;
  clock?: Clock;
  log?: Logger;
}

const ORDER = Object.keys(TITLES) as RotationStepName[];
/** TLS handshakes the re-issue check runs at once. */
const PROBE_CONCURRENCY = 32;

function rootInfo(pem: string): RootInfo {
  const c = new X509Certificate(pem);
  return { subject: c.subject.replace(/\n/g, ', '), fingerprint: bundleFingerprints(pem)[0]!, notAfter: new Date(c.validTo).toISOString() };
}

export class RootRotation implements RootRotationApi {
  private readonly clock: Clock;
  private readonly log: Logger;
  private steps: RotationStep[] = ORDER.map((name) => ({ name, title: TITLES[name], state: 'pending' }));
  private state: RotationStatus['state'] = 'idle';
  private error?: string;
  private oldRootPem: string;
  private oldSigner: CaMaterial;
  private next?: GeneratedCa;
  private stepTimeoutMs?: number;
  /** The root the control plane's own serving certificate chains to (issued at start, kept until a restart). */
  private readonly servingRootPem: string;

  constructor(private readonly o: RootRotationOptions) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? silentLogger;
    this.oldRootPem = o.ca.currentMaterial.rootsPem.join('');
    this.oldSigner = o.ca.currentMaterial;
    this.servingRootPem = this.oldRootPem;
    if (o.restored) this.restore(o.restored);
  }

  /** Back in the phase the mesh had confirmed before a restart (bundle and signer); resumable from there. */
  private restore(saved: SavedRotation): void {
    this.next = saved.next;
    for (const st of this.steps) if (saved.done.includes(st.name)) st.state = 'done';
    const done = (n: RotationStepName) => saved.done.includes(n);
    if (done('switch')) {
      this.o.ca.replaceMaterial(saved.next.material);
      this.o.ca.setAdditionalTrustedRoots(done('drop-old') ? [] : this.oldSigner.rootsPem);
    } else if (done('overlap')) this.o.ca.setAdditionalTrustedRoots(saved.next.material.rootsPem);
    const at = this.steps.findIndex((st) => st.state !== 'done');
    this.state = 'failed';
    this.error = `the control plane restarted during the rotation; it is back at step ${at + 1}/${this.steps.length} with the same new root — run meshctl certs rotate-root to resume`;
    this.log.warn('unfinished root rotation restored', { done: saved.done });
  }

  status(): RotationStatus {
    return {
      state: this.state,
      proxies: this.o.proxies().length,
      oldRoot: rootInfo(this.oldRootPem),
      ...(this.next ? { newRoot: rootInfo(this.next.material.rootsPem[0]!) } : {}),
      steps: this.steps.map((s) => ({ ...s })),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  start(opts: { dryRun?: boolean; stepTimeoutMs?: number }): RotationStatus {
    if (opts.dryRun || this.state === 'running') return { ...this.status(), ...(opts.dryRun ? { dryRun: true } : {}) };
    this.stepTimeoutMs = opts.stepTimeoutMs;
    if (this.state === 'done') {
      // A new rotation away from the root the last one installed.
      this.oldRootPem = this.o.ca.currentMaterial.rootsPem.join('');
      this.oldSigner = this.o.ca.currentMaterial;
      this.next = undefined;
      this.steps = ORDER.map((name) => ({ name, title: TITLES[name], state: 'pending' }));
    }
    this.state = 'running';
    delete this.error;
    void this.run();
    return this.status();
  }

  private async run(): Promise<void> {
    for (const step of this.steps) {
      if (step.state === 'done') continue;
      step.state = 'running';
      delete step.detail;
      try {
        step.detail = await this.do(step.name, (d) => (step.detail = d));
        // Saved before the step counts as done, so a restart comes back in a phase the mesh confirmed.
        if (step.name === 'generate') await saveNextCa(this.o.caDir, this.next!);
        if (step.name === 'persist') await clearRotation(this.o.caDir);
        else await saveProgress(this.o.caDir, [...this.steps.filter((x) => x.state === 'done').map((x) => x.name), step.name]);
        step.state = 'done';
        this.log.info('root rotation step done', { step: step.name, detail: step.detail });
      } catch (e) {
        step.state = 'failed';
        this.state = 'failed';
        this.error = `${step.name}: ${(e as Error).message}`;
        this.log.error('root rotation step failed; the mesh stays in the last confirmed phase', { step: step.name, error: e as Error });
        return;
      }
    }
    this.state = 'done';
  }

  private async do(step: RotationStepName, progress: (d: string) => void): Promise<string> {
    const ca = this.o.ca;
    switch (step) {
      case 'generate': {
        this.next = await generateCa({ trustDomain: this.o.trustDomain, intermediate: this.oldSigner.intermediatesPem.length > 0, clock: this.clock });
        const info = rootInfo(this.next.material.rootsPem[0]!);
        return `new root ${info.fingerprint.slice(0, 16)}… valid until ${info.notAfter.slice(0, 10)}`;
      }
      case 'overlap':
        ca.replaceMaterial(this.oldSigner);
        ca.setAdditionalTrustedRoots(this.next!.material.rootsPem);
        return `trust bundle old+new ${await this.propagate(progress)}`;
      case 'switch':
        ca.replaceMaterial(this.next!.material);
        ca.setAdditionalTrustedRoots(this.oldSigner.rootsPem);
        return `signing with the new root; trust bundle new+old ${await this.propagate(progress)}`;
      case 'reissue':
        return this.waitReissued(progress);
      case 'drop-old':
        ca.setAdditionalTrustedRoots([]);
        return `trust bundle new ${await this.propagate(progress)}`;
      case 'persist': {
        // Sidecars started before the rotation trust only the old root for the control-plane connection:
        // the old root vouches for the new one there (cross-sign.ts) once the control plane restarts under it.
        const cross = await this.crossSign();
        const retired = await persistNewCa(this.o.caDir, this.next!, this.clock.now());
        if (cross) await writeFile(join(this.o.caDir, CROSS_SIGNED_ROOT_FILE), cross, { mode: 0o644 });
        // Sidecars verify the control plane's own serving certificate (issued at its start, by the root it
        // started with) with this file: that root stays in it until the control plane restarts.
        if (this.o.rootCertFile) await writeFile(this.o.rootCertFile, mergeBundles(this.next!.material.rootsPem.join(''), this.servingRootPem), { mode: 0o644 });
        return `new CA files in ${this.o.caDir}, the old ones in ${retired}`;
      }
    }
  }

  /** Pushes the CA's current bundle and waits until every connected proxy ACKed it. */
  private async propagate(progress: (d: string) => void): Promise<string> {
    const bundle = this.o.ca.trustBundlePem;
    const started = this.clock.now();
    const deadline = started + (this.stepTimeoutMs ?? this.o.propagationTimeoutMs ?? 60_000);
    this.o.republish();
    for (;;) {
      const r = bundleReceipt(bundle, this.o.proxies(), this.o.published);
      if (r.nacked.length) throw new Error(`${r.nacked.length} prox${r.nacked.length === 1 ? 'y' : 'ies'} refused the trust bundle: ${r.nacked.join('; ')}`);
      const skipped = r.skipped.length ? ` (${r.skipped.length} connected without config from this control plane: ${r.skipped.slice(0, 3).join(', ')})` : '';
      if (!r.pending.length) return `reached ${r.reached}/${r.total} proxies in ${this.clock.now() - started} ms${skipped}`;
      progress(`reached ${r.reached}/${r.total} proxies, waiting for ${r.pending.slice(0, 5).join(', ')}`);
      if (this.clock.now() > deadline) throw new Error(`the trust bundle did not reach ${r.pending.length}/${r.total} proxies within ${(deadline - started) / 1000} s: ${r.pending.join(', ')}`);
      await this.sleep(100);
    }
  }

  private async waitReissued(progress: (d: string) => void): Promise<string> {
    const signer = new X509Certificate(this.next!.material.signingCert.toString('pem'));
    const started = this.clock.now();
    const deadline = started + (this.stepTimeoutMs ?? this.o.reissueTimeoutMs ?? 5 * 60_000);
    // A workload seen with a new-root certificate stays done (a restarted one gets one from the new CA too),
    // so each round probes only the rest, PROBE_CONCURRENCY handshakes at a time.
    const confirmed = new Set<string>();
    for (;;) {
      const workloads = this.o.workloads();
      const todo = workloads.filter((w) => !confirmed.has(w.nodeId));
      const old: string[] = [];
      for (let i = 0; i < todo.length; i += PROBE_CONCURRENCY) {
        await Promise.all(
          todo.slice(i, i + PROBE_CONCURRENCY).map(async (w) => {
            try {
              if (issuedBy(await presentedCertificate(w.inboundAddress, w.inboundPort), signer)) confirmed.add(w.nodeId);
              else old.push(w.nodeId);
            } catch (e) {
              old.push(`${w.nodeId} (${(e as Error).message})`);
            }
          }),
        );
      }
      const n = workloads.length - old.length;
      if (!old.length) return `${n}/${workloads.length} workloads present certificates from the new root (${this.clock.now() - started} ms)`;
      progress(`${n}/${workloads.length} workloads re-issued, waiting for ${old.slice(0, 5).join(', ')}`);
      if (this.clock.now() > deadline) {
        throw new Error(`${old.length} workloads still present old-root certificates after ${(deadline - started) / 1000} s: ${old.join(', ')} (both roots stay trusted; run rotate-root again to resume)`);
      }
      await this.sleep(250);
    }
  }

  /** The new root signed by the old root's key, when the CA dir has that key (a rotation of our own CA). */
  private async crossSign(): Promise<string | undefined> {
    const oldKey = await readFile(join(this.o.caDir, CA_FILES.rootKey), 'utf8').catch(() => undefined);
    const oldRoot = await readFile(join(this.o.caDir, CA_FILES.rootCert), 'utf8').catch(() => undefined);
    if (!oldKey || !oldRoot || bundleFingerprints(oldRoot)[0] !== bundleFingerprints(this.oldRootPem)[0]) return undefined;
    return crossSignRoot({ newRootPem: this.next!.material.rootsPem[0]!, oldRootPem: oldRoot, oldRootKeyPem: oldKey, now: this.clock.now() });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.clock.setTimeout(r, ms));
  }
}

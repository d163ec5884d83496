// The canary controller run by the control plane: an applied Canary starts a
// run (a changed spec updates a progressing one), a deleted one stops it, and
// runs saved in the state dir resume after a restart. The analysis reads the
// metrics of every connected sidecar at the admin address it reported.

import { systemClock, type Clock } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { join } from 'node:path';
import type { ProxyStatusSource } from '../admin/types.js';
import type { CanarySpec } from '../policy/types.js';
import type { RegistryView } from '../registry/types.js';
import type { PolicyStore } from '../store/types.js';
import { CanaryController, type CanaryRun } from './controller.js';
import { CANARY_RUNS_FILE, loadRuns, RunFileWriter } from './run-file.js';
import { SidecarAdmins } from './sidecar-admins.js';
import { storePolicyPort, waitForReceipt } from './store-port.js';

export interface CanaryHostOptions {
  store: PolicyStore;
  registry: RegistryView;
  status: ProxyStatusSource;
  stateDir: string;
  clock?: Clock;
  log?: Logger;
}

export class CanaryHost {
  readonly controller: CanaryController;
  readonly sidecars = new SidecarAdmins();
  private readonly file: RunFileWriter;
  private readonly log: Logger;
  private unsubscribe?: () => void;
  private syncing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: CanaryHostOptions) {
    const clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.file = new RunFileWriter(join(opts.stateDir, CANARY_RUNS_FILE), this.log);
    this.controller = new CanaryController({
      policies: storePolicyPort(opts.store, opts.registry),
      scrapeTargets: (need) => this.sidecars.urls(need.callers ? undefined : need.service),
      clock,
      log: this.log,
      receipt: (version, maxWaitMs) => waitForReceipt(opts.status, clock, version, maxWaitMs),
      onChange: (runs) => {
        if (!this.closed) void this.file.save(runs);
      },
      onEvent: (run, ev) => this.log.info('canary step', { canary: `${run.namespace}/${run.name}`, phase: ev.phase, weight: ev.weight, reason: ev.reason }),
    });
  }

  /** Resumes the saved runs whose Canary is unchanged, then follows the store. */
  async start(): Promise<void> {
    for (const saved of await loadRuns(join(this.opts.stateDir, CANARY_RUNS_FILE), this.log)) {
      const c = this.opts.store.get({ kind: 'Canary', namespace: saved.namespace, name: saved.name });
      if (!c || c.resourceVersion !== saved.generation) continue;
      await this.controller.resume({ ...saved, spec: c.spec as CanarySpec }).catch((e) => this.log.warn('canary not resumed', { canary: saved.name, error: (e as Error).message }));
    }
    this.unsubscribe = this.opts.store.onChange(() => void this.sync());
    await this.sync();
  }

  /** Starts a new run of a Canary (one that finished, or failed to start); a progressing one is left running. */
  async startRun(name: string, namespace: string): Promise<{ started: boolean; run: CanaryRun }> {
    await this.syncing;
    const run = this.controller.status(name, namespace);
    if (run?.state.phase === 'Progressing') return { started: false, run };
    await this.controller.start(name, namespace);
    return { started: true, run: this.controller.status(name, namespace)! };
  }

  nodeConnected(nodeId: string, service: string, metadata: Record<string, string>, peerHost?: string): void {
    this.sidecars.connected(nodeId, metadata, peerHost, service);
  }

  nodeDisconnected(nodeId: string): void {
    this.sidecars.disconnected(nodeId);
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.controller.stop();
    await this.syncing;
    await this.file.save(this.controller.list());
    this.closed = true;
  }

  private sync(): Promise<void> {
    this.syncing = this.syncing.then(() => this.reconcile()).catch((e) => this.log.error('canary: reconcile failed', { error: e as Error }));
    return this.syncing;
  }

  /** New or changed Canary resources start (or update) runs; deleted ones stop theirs. */
  private async reconcile(): Promise<void> {
    if (this.closed) return;
    const present = new Set<string>();
    for (const c of this.opts.store.list('Canary')) {
      const { name, namespace } = c.metadata;
      present.add(`${namespace}/${name}`);
      const run = this.controller.status(name, namespace);
      if (run && run.generation === c.resourceVersion) continue;
      if (run?.state.phase === 'Progressing') {
        this.controller.respec(name, namespace, c.spec as CanarySpec, c.resourceVersion);
        continue;
      }
      await this.controller.start(name, namespace, { generation: c.resourceVersion }).catch((e) => this.log.warn('canary did not start', { canary: `${namespace}/${name}`, error: (e as Error).message }));
    }
    for (const r of this.controller.list()) if (!present.has(`${r.namespace}/${r.name}`)) this.controller.forget(r.name, r.namespace);
  }
}

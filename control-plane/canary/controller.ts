// Drives Canary resources: every interval it scrapes the sidecars' metrics,
// asks decide() what to do, and writes the new weights (or the mirror) into
// the target route through the policy apply path (validated, versioned,
// pushed over xDS). Each step is an event in the run's log. Timing runs on
// the injectable Clock.

import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { MeshError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { ApplyOutcome } from '../policy/apply.js';
import type { CanarySpec, PolicyRef } from '../policy/types.js';
import type { StoredPolicy } from '../store/types.js';
import { decide, initialState, manual, weightSchedule, type CanaryAction, type CanaryAnalysis, type CanaryEvent, type CanaryState } from './decide.js';
import { analyzeWindow, canaryCounters, mirrorWindow, type CanaryCounters } from './metrics.js';
import { liveWeight, writeRoute } from './route-writer.js';
import { scrapeAll } from './scrape.js';

/** The policy operations the controller needs: the control plane's store (in process) or the admin API. */
export interface CanaryPolicyPort {
  get(ref: PolicyRef): Promise<StoredPolicy>;
  getYaml(ref: PolicyRef): Promise<string>;
  apply(yaml: string, opts?: { dryRun?: boolean; file?: string }): Promise<ApplyOutcome>;
}

export interface CanaryControllerOptions {
  policies: CanaryPolicyPort;
  /**
   * Base URLs of sidecar admin listeners to scrape (`/stats/prometheus`): those of `service` (their
   * inbound metrics judge the versions) and, with `callers`, every sidecar (the mirror comparisons).
   */
  scrapeTargets: (need: { service: string; callers: boolean }) => string[] | Promise<string[]>;
  clock?: Clock;
  log?: Logger;
  /** Every step of every canary (start, advance, hold, rollback, promotion). */
  onEvent?: (run: CanaryRun, ev: CanaryEvent) => void;
  /** After any run changed (persist them). */
  onChange?: (runs: CanaryRun[]) => void;
  /** Waits (bounded) until the proxies reached a store version; a one-line receipt. */
  receipt?: (version: number, maxWaitMs: number) => Promise<string | undefined>;
  /** Overrides the spec's interval (tests, demos). */
  intervalMs?: number;
}

export interface CanaryRun {
  name: string;
  namespace: string;
  spec: CanarySpec;
  /** The Canary's resourceVersion this run follows. */
  generation?: number;
  startedAt: number;
  state: CanaryState;
  lastAnalysis?: CanaryAnalysis;
}

interface LiveRun extends CanaryRun {
  timer?: Timer;
  baseline?: CanaryCounters;
  busy?: Promise<void>;
  done: Promise<CanaryRun>;
  resolve: (r: CanaryRun) => void;
  seq: number;
}

export class CanaryController {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly runs = new Map<string, LiveRun>();
  private waiters: (() => void)[] = [];

  constructor(private readonly opts: CanaryControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
  }

  /** Starts the Canary resource `namespace/name`; resolves once the first step is live, with `done`: the final run. */
  async start(name: string, namespace = 'default', o: { generation?: number } = {}): Promise<{ done: Promise<CanaryRun> }> {
    const key = `${namespace}/${name}`;
    const existing = this.runs.get(key);
    if (existing?.state.phase === 'Progressing') throw new MeshError('MESH_CANARY_RUNNING', `canary ${key} is already progressing (${existing.state.mirrorUntil !== undefined ? 'mirroring' : `weight ${existing.state.weight}%`})`);
    const policy = await this.opts.policies.get({ kind: 'Canary', namespace, name });
    const spec = policy.spec as CanarySpec;
    const run = this.newRun({ name, namespace, spec, generation: o.generation ?? policy.resourceVersion, startedAt: this.clock.now(), state: initialState() });
    existing?.timer?.cancel();
    this.runs.set(key, run);
    const t0 = this.clock.now();
    try {
      run.baseline = await this.scrape(spec, !!spec.mirror);
      await this.act(run, decide(spec, run.state, undefined, this.clock.now()));
    } catch (err) {
      this.finish(run, 'Aborted', run.state.weight, `could not start: ${(err as Error).message}`);
      throw err;
    }
    this.schedule(run, this.clock.now() - t0);
    return { done: run.done };
  }

  /** Takes over a run saved before a control-plane restart; a progressing one continues from where it stood. */
  async resume(saved: CanaryRun): Promise<void> {
    const run = this.newRun(saved);
    run.seq = saved.state.events.reduce((m, e) => Math.max(m, e.seq ?? 0), 0);
    this.runs.set(`${saved.namespace}/${saved.name}`, run);
    if (run.state.phase !== 'Progressing') return run.resolve(this.snapshot(run));
    // A restart between a step's route change and its save leaves the route one step ahead: take the route's word.
    const live = await liveWeight(this.opts.policies, run.spec, run.namespace).catch(() => undefined);
    if (live !== undefined && live !== run.state.weight && (live === 0 || weightSchedule(run.spec).includes(live))) {
      const { mirrorUntil, ...rest } = run.state;
      run.state = { ...rest, weight: live, ...(live === 0 && mirrorUntil !== undefined ? { mirrorUntil } : {}) };
    }
    run.baseline = await this.scrape(run.spec, run.state.mirrorUntil !== undefined);
    const where = run.state.mirrorUntil !== undefined ? 'mirroring' : `at ${run.state.weight}%`;
    this.record(run, [{ at: this.clock.now(), phase: 'Progressing', weight: run.state.weight, reason: `resumed ${where} after a control-plane restart`, ...(run.state.mirrorUntil !== undefined ? { mirroring: true } : {}) }]);
    this.schedule(run);
  }

  /** The Canary was re-applied with a new spec while progressing: later steps follow it. */
  respec(name: string, namespace: string, spec: CanarySpec, generation: number): void {
    const run = this.runs.get(`${namespace}/${name}`);
    if (!run) return;
    run.spec = spec;
    run.generation = generation;
    this.changed();
  }

  /** The Canary was deleted: stop driving it; the route keeps the weights it has. */
  forget(name: string, namespace: string): void {
    const key = `${namespace}/${name}`;
    const run = this.runs.get(key);
    if (!run) return;
    run.timer?.cancel();
    if (run.state.phase === 'Progressing') this.finish(run, 'Aborted', run.state.weight, `Canary deleted; the route keeps its weights (${run.spec.canaryBackend.name} at ${run.state.weight}%)`);
    this.runs.delete(key);
    this.changed();
  }

  status(name: string, namespace = 'default'): CanaryRun | undefined {
    const r = this.runs.get(`${namespace}/${name}`);
    return r && this.snapshot(r);
  }

  list(): CanaryRun[] {
    return [...this.runs.values()].map((r) => this.snapshot(r));
  }

  /** Events of one run after `since` (their seq), oldest first. */
  events(name: string, namespace: string, since = 0): CanaryEvent[] | undefined {
    return this.runs.get(`${namespace}/${name}`)?.state.events.filter((e) => (e.seq ?? 0) > since);
  }

  /** Resolves at the next event of any run (long polls); `cancel` when giving up waiting. */
  nextEvent(): { wait: Promise<void>; cancel: () => void } {
    let resolve!: () => void;
    const wait = new Promise<void>((r) => (resolve = r));
    this.waiters.push(resolve);
    return { wait, cancel: () => (this.waiters = this.waiters.filter((w) => w !== resolve)) };
  }

  async promote(name: string, namespace = 'default'): Promise<CanaryRun> {
    return this.operator(name, namespace, 'promote');
  }

  async abort(name: string, namespace = 'default'): Promise<CanaryRun> {
    return this.operator(name, namespace, 'abort');
  }

  /** Cancels every timer; resolves once steps in flight are done. */
  async stop(): Promise<void> {
    for (const r of this.runs.values()) r.timer?.cancel();
    for (const w of this.waiters.splice(0)) w();
    await Promise.all([...this.runs.values()].map((r) => r.busy));
  }

  private newRun(r: CanaryRun): LiveRun {
    let resolve!: (r: CanaryRun) => void;
    const done = new Promise<CanaryRun>((res) => (resolve = res));
    return { ...r, done, resolve, seq: 0 };
  }

  private snapshot(r: LiveRun): CanaryRun {
    return { name: r.name, namespace: r.namespace, spec: r.spec, ...(r.generation !== undefined ? { generation: r.generation } : {}), startedAt: r.startedAt, state: r.state, ...(r.lastAnalysis ? { lastAnalysis: r.lastAnalysis } : {}) };
  }

  private async operator(name: string, namespace: string, kind: 'promote' | 'abort'): Promise<CanaryRun> {
    const key = `${namespace}/${name}`;
    const run = this.runs.get(key);
    if (!run) throw new MeshError('MESH_NOT_FOUND', `canary ${key} not found`);
    await run.busy;
    if (run.state.phase !== 'Progressing') throw new MeshError('MESH_CANARY_FINISHED', `canary ${key} already finished (${run.state.phase}); nothing to ${kind}`);
    run.timer?.cancel();
    await this.act(run, manual(run.state, kind, this.clock.now(), run.spec.canaryBackend.name));
    return this.snapshot(run);
  }

  /** The next analysis one interval after the last one began: waiting for a receipt does not stretch the cadence. */
  private schedule(run: LiveRun, elapsed = 0): void {
    if (run.state.phase !== 'Progressing') return;
    run.timer = this.clock.setTimeout(() => {
      run.busy = this.tick(run);
    }, Math.max(0, (this.opts.intervalMs ?? run.spec.interval) - elapsed));
  }

  private async tick(run: LiveRun): Promise<void> {
    if (run.state.phase !== 'Progressing' || this.runs.get(`${run.namespace}/${run.name}`) !== run) return;
    const t0 = this.clock.now();
    try {
      const now = await this.scrape(run.spec, run.state.mirrorUntil !== undefined);
      const analysis = analyzeWindow(run.baseline?.canary, now.canary);
      const stable = analyzeWindow(run.baseline?.stable, now.stable);
      analysis.stable = { requests: stable.requests, ...(stable.successRate !== undefined ? { successRate: stable.successRate } : {}), ...(stable.p99Ms !== undefined ? { p99Ms: stable.p99Ms } : {}) };
      if (run.state.mirrorUntil !== undefined) analysis.mirror = mirrorWindow(run.baseline?.mirror, now.mirror, run.spec.mirror?.compareBody === true);
      run.baseline = now;
      run.lastAnalysis = analysis;
      await this.act(run, decide(run.spec, run.state, analysis, this.clock.now()), analysis);
    } catch (err) {
      this.log.warn('canary: step failed', { canary: run.name, error: (err as Error).message });
      this.record(run, [{ at: this.clock.now(), phase: 'Progressing', weight: run.state.weight, reason: `step failed: ${(err as Error).message}; retrying next interval` }]);
    }
    this.schedule(run, this.clock.now() - t0);
  }

  private async act(run: LiveRun, next: { state: CanaryState; action: CanaryAction }, analysis?: CanaryAnalysis): Promise<void> {
    const prev = new Set(run.state.events);
    const { action } = next;
    let applied: CanaryEvent['applied'];
    if (action.kind !== 'none') {
      const progressing = next.state.phase === 'Progressing';
      const weight = action.kind === 'setWeight' ? action.weight : action.kind === 'promote' ? 100 : 0;
      const w = await writeRoute(this.opts.policies, run.spec, run.namespace, { weight, expected: run.state.weight, mirror: action.kind === 'mirror', testers: progressing });
      if (w.outside !== undefined) {
        // Someone else (an apply, another tool) changed the split: their word is final.
        return this.finish(run, w.outside === 100 ? 'Promoted' : 'Aborted', w.outside, `route weights changed outside the canary (canary at ${w.outside}%); stopping`);
      }
      if (w.version !== undefined) applied = { version: w.version, ...(await this.receiptFor(w.version, run)) };
    }
    // decide() appends the step's event; it is numbered and completed (analysis, receipt) here.
    const added = next.state.events.filter((e) => !prev.has(e)).map((e, i, all) => ({ ...e, ...(analysis ? { analysis } : {}), ...(applied && i === all.length - 1 ? { applied } : {}) }));
    run.state = { ...next.state, events: next.state.events.filter((e) => prev.has(e)) };
    this.record(run, added);
    if (run.state.phase !== 'Progressing') run.resolve(this.snapshot(run));
  }

  private async receiptFor(version: number, run: LiveRun): Promise<{ receipt?: string }> {
    if (!this.opts.receipt) return {};
    const r = await this.opts.receipt(version, Math.min(2000, (this.opts.intervalMs ?? run.spec.interval) / 2)).catch(() => undefined);
    return r ? { receipt: r } : {};
  }

  private finish(run: LiveRun, phase: CanaryState['phase'], weight: number, reason: string): void {
    const { mirrorUntil: _m, ...rest } = run.state;
    run.state = { ...rest, phase, weight };
    this.record(run, [{ at: this.clock.now(), phase, weight, reason }]);
    run.resolve(this.snapshot(run));
  }

  /** Appends events (numbered), tells the listeners and the long polls. */
  private record(run: LiveRun, events: CanaryEvent[]): void {
    if (!events.length) return;
    const numbered = events.map((e) => ({ ...e, seq: ++run.seq }));
    const all = [...run.state.events, ...numbered];
    run.state = { ...run.state, events: all.length > 200 ? all.slice(-200) : all };
    for (const ev of numbered) this.opts.onEvent?.(this.snapshot(run), ev);
    this.changed();
  }

  private changed(): void {
    this.opts.onChange?.(this.list());
    for (const w of this.waiters.splice(0)) w();
  }

  private async scrape(spec: CanarySpec, callers: boolean): Promise<CanaryCounters> {
    const texts = await scrapeAll(await this.opts.scrapeTargets({ service: spec.service, callers }), this.log);
    return canaryCounters(texts, { service: spec.service, canaryVersion: versionOf(spec.service, spec.canaryBackend.name), stableVersion: versionOf(spec.service, spec.stableBackend.name) });
  }
}

/** `api-v2` of service `api` → `v2` (the subset naming the translator uses). */
export function versionOf(service: string, backend: string): string {
  return backend.startsWith(`${service}-`) ? backend.slice(service.length + 1) : backend;
}

// Drives Canary resources: every interval it scrapes the sidecars' metrics,
// asks decide() what to do, and writes the new weights into the target route
// through the admin API's apply path (atomic and versioned, as meshctl's
// applies are). Timing runs on the injectable Clock.

import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { MeshError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { ApplyOutcome } from '../policy/apply.js';
import type { CanarySpec, PolicyKind, PolicyRef } from '../policy/types.js';
import type { StoredPolicy } from '../store/types.js';
import { decide, initialState, manual, type CanaryAction, type CanaryAnalysis, type CanaryEvent, type CanaryState } from './decide.js';
import { analyzeWindow, countersFor, type VersionCounters } from './metrics.js';
import { currentCanaryWeight, setCanaryWeight, setTesterRule } from './route-weights.js';

/** The part of AdminClient the controller uses. */
export interface CanaryPolicyPort {
  get(ref: PolicyRef): Promise<StoredPolicy>;
  getYaml(ref: PolicyRef): Promise<string>;
  apply(yaml: string, opts?: { dryRun?: boolean; file?: string }): Promise<ApplyOutcome>;
}

export interface CanaryControllerOptions {
  policies: CanaryPolicyPort;
  /** Base URLs of sidecar admin listeners to scrape (`/stats/prometheus`). */
  scrapeTargets: () => string[] | Promise<string[]>;
  clock?: Clock;
  log?: Logger;
  /** Every step of every canary (start, advance, hold, rollback, promotion). */
  onEvent?: (canary: string, ev: CanaryEvent, analysis?: CanaryAnalysis) => void;
  /** Overrides the spec's interval (tests, demos). */
  intervalMs?: number;
}

export interface CanaryRun {
  name: string;
  namespace: string;
  spec: CanarySpec;
  state: CanaryState;
  lastAnalysis?: CanaryAnalysis;
}

const SCRAPE_TIMEOUT_MS = 2000;
const MAX_SCRAPE_BYTES = 16 * 1024 * 1024;

export class CanaryController {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly runs = new Map<string, CanaryRun & { timer?: Timer; baseline?: VersionCounters; busy?: Promise<void>; done: Promise<CanaryRun>; resolve: (r: CanaryRun) => void }>();

  constructor(private readonly opts: CanaryControllerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
  }

  /** Starts the Canary resource `namespace/name`; resolves once the first weight is live, with `done`: the final run. */
  async start(name: string, namespace = 'default'): Promise<{ done: Promise<CanaryRun> }> {
    const key = `${namespace}/${name}`;
    const existing = this.runs.get(key);
    if (existing && existing.state.phase === 'Progressing') throw new MeshError('MESH_CANARY_RUNNING', `canary ${key} is already progressing (weight ${existing.state.weight}%)`);
    const policy = await this.opts.policies.get({ kind: 'Canary', namespace, name });
    const spec = policy.spec as CanarySpec;
    if (spec.mirror) throw new MeshError('MESH_CANARY_UNSUPPORTED', `canary ${key}: the mirroring phase (spec.mirror) is not supported by this controller yet; remove spec.mirror (and analysis.mismatchRate) to run it`);
    let resolve!: (r: CanaryRun) => void;
    const done = new Promise<CanaryRun>((r) => (resolve = r));
    const run: CanaryRun & { baseline?: VersionCounters; done: Promise<CanaryRun>; resolve: (r: CanaryRun) => void } = { name, namespace, spec, state: initialState(), done, resolve };
    this.runs.set(key, run);
    run.baseline = await this.scrape(spec);
    await this.act(run, decide(spec, run.state, undefined, this.clock.now()));
    this.schedule(run);
    return { done };
  }

  status(name: string, namespace = 'default'): CanaryRun | undefined {
    const r = this.runs.get(`${namespace}/${name}`);
    return r && { name: r.name, namespace: r.namespace, spec: r.spec, state: r.state, ...(r.lastAnalysis ? { lastAnalysis: r.lastAnalysis } : {}) };
  }

  list(): CanaryRun[] {
    return [...this.runs.values()].map((r) => this.status(r.name, r.namespace)!);
  }

  async promote(name: string, namespace = 'default'): Promise<void> {
    await this.operator(name, namespace, 'promote');
  }

  async abort(name: string, namespace = 'default'): Promise<void> {
    await this.operator(name, namespace, 'abort');
  }

  stop(): void {
    for (const r of this.runs.values()) r.timer?.cancel();
  }

  private async operator(name: string, namespace: string, kind: 'promote' | 'abort'): Promise<void> {
    const run = this.runs.get(`${namespace}/${name}`);
    if (!run) throw new MeshError('MESH_NOT_FOUND', `canary ${namespace}/${name} is not running`);
    await run.busy;
    run.timer?.cancel();
    await this.act(run, manual(run.state, kind, this.clock.now(), run.spec.canaryBackend.name));
  }

  private schedule(run: CanaryRun & { timer?: Timer }): void {
    if (run.state.phase !== 'Progressing') return;
    run.timer = this.clock.setTimeout(() => {
      const r = this.runs.get(`${run.namespace}/${run.name}`)!;
      r.busy = this.tick(r).catch((err) => this.log.error('canary: tick failed', { canary: run.name, err }));
    }, this.opts.intervalMs ?? run.spec.interval);
  }

  private async tick(run: CanaryRun & { baseline?: VersionCounters }): Promise<void> {
    if (run.state.phase !== 'Progressing') return;
    const now = await this.scrape(run.spec);
    const analysis = analyzeWindow(run.baseline, now);
    run.baseline = now;
    run.lastAnalysis = analysis;
    await this.act(run, decide(run.spec, run.state, analysis, this.clock.now()), analysis);
    this.schedule(run);
  }

  private async act(run: CanaryRun & { resolve?: (r: CanaryRun) => void }, next: { state: CanaryState; action: CanaryAction }, analysis?: CanaryAnalysis): Promise<void> {
    const before = run.state.events.length;
    const { action } = next;
    const weight = action.kind === 'setWeight' ? action.weight : action.kind === 'promote' ? 100 : action.kind === 'rollback' ? 0 : undefined;
    if (weight !== undefined) {
      const outside = await this.writeWeight(run.spec, run.namespace, weight, run.state.weight, next.state.phase === 'Progressing');
      if (outside !== undefined) {
        // Someone else (meshctl canary promote/abort, an apply) changed the split: their word is final.
        const phase = outside === 100 ? 'Promoted' : 'Aborted';
        const at = this.clock.now();
        const ev: CanaryEvent = { at, phase, weight: outside, reason: `route weights changed outside the canary (canary at ${outside}%); stopping` };
        run.state = { ...run.state, phase, weight: outside, events: [...run.state.events, ev] };
        this.opts.onEvent?.(run.name, ev, analysis);
        run.resolve?.(this.status(run.name, run.namespace)!);
        return;
      }
    }
    run.state = next.state;
    for (const ev of run.state.events.slice(before)) this.opts.onEvent?.(run.name, ev, analysis);
    if (run.state.phase !== 'Progressing') run.resolve?.(this.status(run.name, run.namespace)!);
  }

  /** Writes the split; returns the live weight instead when it is not the one this run last wrote (changed outside). */
  private async writeWeight(spec: CanarySpec, namespace: string, weight: number, expected: number, progressing: boolean): Promise<number | undefined> {
    const ref: PolicyRef = { kind: spec.targetRef.kind as PolicyKind, namespace, name: spec.targetRef.name };
    const yaml = await this.opts.policies.getYaml(ref);
    const live = currentCanaryWeight(yaml, spec.stableBackend.name, spec.canaryBackend.name) ?? 0;
    if (live !== expected) return live;
    let next = setCanaryWeight(yaml, spec.stableBackend, spec.canaryBackend, weight);
    // Testers' header match routes to the canary while it progresses; it goes away with promotion or rollback.
    if (spec.match?.length) next = setTesterRule(next, spec.stableBackend.name, spec.canaryBackend, spec.match, progressing);
    await this.opts.policies.apply(next, { file: `canary:${spec.targetRef.name}` });
    return undefined;
  }

  private async scrape(spec: CanarySpec): Promise<VersionCounters> {
    const version = versionOf(spec.service, spec.canaryBackend.name);
    const targets = await this.opts.scrapeTargets();
    const texts = await Promise.all(
      targets.map(async (base) => {
        try {
          const res = await fetch(new URL('/stats/prometheus', base), { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
          const text = res.ok ? await res.text() : '';
          return text.length > MAX_SCRAPE_BYTES ? '' : text;
        } catch (err) {
          this.log.warn('canary: scrape failed', { target: base, err: (err as Error).message });
          return '';
        }
      }),
    );
    return countersFor(texts, spec.service, version);
  }
}

/** `api-v2` of service `api` → `v2` (the subset naming the translator uses). */
export function versionOf(service: string, backend: string): string {
  return backend.startsWith(`${service}-`) ? backend.slice(service.length + 1) : backend;
}

// The canary's decision logic, pure: given the Canary spec, where the rollout
// stands and the last analysis window, what happens next. No I/O, no clock
// reads: `now` comes in, so fixtures can replay any rollout.

import type { CanarySpec } from '../policy/types.js';

export type CanaryPhase = 'Progressing' | 'Promoted' | 'RolledBack' | 'Aborted';

export interface CanaryEvent {
  at: number; // epoch ms
  phase: CanaryPhase;
  weight: number;
  reason: string;
  /** Position in the run's event log (1, 2, …), set by the controller. */
  seq?: number;
  /** Set while traffic is mirrored to the canary (before any live weight). */
  mirroring?: boolean;
  /** The analysis window the decision was taken on. */
  analysis?: CanaryAnalysis;
  /** The route change this step made: store version and how far it reached ("reached 5/5 proxies in 84 ms"). */
  applied?: { version: number; receipt?: string };
}

export interface CanaryState {
  phase: CanaryPhase;
  /** Live weight (0–100) of the canary backend. */
  weight: number;
  /** Analyses in a row that breached a threshold. */
  failedChecks: number;
  /** Windows in a row without a single request to the canary. */
  idleChecks?: number;
  /** Mirroring phase: traffic is copied to the canary (weight 0) until this time (epoch ms). */
  mirrorUntil?: number;
  events: CanaryEvent[];
}

/** One analysis window of the canary backend, from mesh metrics. */
export interface CanaryAnalysis {
  requests: number;
  /** Percent of non-5xx responses; undefined without requests. */
  successRate?: number;
  p99Ms?: number;
  /** The stable backend over the same window (shown beside the canary's; not judged). */
  stable?: { requests: number; successRate?: number; p99Ms?: number };
  /** Mirroring phase: shadow responses compared with the primary's. */
  mirror?: { compared: number; mismatches: number; errors: number; mismatchRate?: number };
}

export type CanaryAction = { kind: 'mirror' } | { kind: 'setWeight'; weight: number } | { kind: 'rollback' } | { kind: 'promote' } | { kind: 'none' };

const MAX_EVENTS = 200;
/** Empty analysis windows in a row before they count as a failed check. */
export const MAX_IDLE_CHECKS = 5;

/** The weights the canary walks through, in order. */
export function weightSchedule(spec: Pick<CanarySpec, 'steps' | 'stepWeight' | 'maxWeight'>): number[] {
  if (spec.steps?.length) return [...spec.steps];
  const step = spec.stepWeight ?? 10;
  const max = Math.min(spec.maxWeight ?? 100, 100);
  const out: number[] = [];
  for (let w = step; w <= max; w += step) out.push(w);
  if (out.at(-1) !== max) out.push(max);
  return out;
}

export function initialState(): CanaryState {
  return { phase: 'Progressing', weight: 0, failedChecks: 0, events: [] };
}

/** Why an analysis window fails the spec's thresholds; empty when it passes. */
export function breaches(spec: CanarySpec, a: CanaryAnalysis): string[] {
  const out: string[] = [];
  const { successRate, p99 } = spec.analysis;
  if (successRate !== undefined && a.successRate !== undefined && a.successRate < successRate) out.push(`success rate ${fmt(a.successRate)}% < ${successRate}%`);
  if (p99 !== undefined && a.p99Ms !== undefined && a.p99Ms > p99) out.push(`p99 ${Math.round(a.p99Ms)}ms > ${p99}ms`);
  const mm = spec.analysis.mismatchRate;
  if (mm !== undefined && a.mirror?.mismatchRate !== undefined && a.mirror.mismatchRate > mm) out.push(`mirror mismatch ${fmt(a.mirror.mismatchRate)}% > ${mm}%`);
  return out;
}

/**
 * The next step after one interval. `analysis` is the window that just ended
 * at the current weight (undefined at the very start, before any live weight).
 */
export function decide(spec: CanarySpec, state: CanaryState, analysis: CanaryAnalysis | undefined, now: number): { state: CanaryState; action: CanaryAction } {
  if (state.phase !== 'Progressing') return { state, action: { kind: 'none' } };
  const schedule = weightSchedule(spec);
  if (analysis === undefined) {
    if (spec.mirror) {
      const s = { ...withEvent(state, now, 0, `start: mirroring traffic to ${spec.canaryBackend.name} for ${Math.round(spec.mirror.duration / 1000)}s (no live weight)`), mirrorUntil: now + spec.mirror.duration };
      s.events.at(-1)!.mirroring = true;
      return { state: s, action: { kind: 'mirror' } };
    }
    return step(state, schedule[0]!, now, `start: ${schedule[0]}% of traffic to ${spec.canaryBackend.name}`);
  }
  const mirroring = state.mirrorUntil !== undefined;

  if (analysis.requests === 0) {
    // No traffic, no verdict: hold (the new split may still be propagating), but a canary nobody calls is never promoted.
    const idle = (state.idleChecks ?? 0) + 1;
    if (idle < MAX_IDLE_CHECKS) return { state: { ...withEvent(state, now, state.weight, `no requests reached ${spec.canaryBackend.name} in the last interval; holding ${mirroring ? 'the mirror' : `at ${state.weight}%`}`, mirroring), idleChecks: idle }, action: { kind: 'none' } };
  }
  if (analysis.requests > 0) state = { ...state, idleChecks: 0 };
  const why = analysis.requests === 0 ? [`no requests reached ${spec.canaryBackend.name} for ${MAX_IDLE_CHECKS} intervals`] : breaches(spec, analysis);
  if (why.length) {
    const failed = state.failedChecks + 1;
    if (failed >= spec.analysis.failureLimit) {
      const { mirrorUntil: _m, ...rest } = state;
      const s = { ...withEvent(rest, now, 0, `rolled back: ${why.join(', ')} (${failed}/${spec.analysis.failureLimit} failed checks); ${mirroring ? 'mirror removed, ' : ''}all traffic to ${spec.stableBackend.name}`), phase: 'RolledBack' as const, weight: 0, failedChecks: failed };
      s.events.at(-1)!.phase = 'RolledBack';
      return { state: s, action: { kind: 'rollback' } };
    }
    return { state: { ...withEvent(state, now, state.weight, `analysis failed: ${why.join(', ')} (${failed}/${spec.analysis.failureLimit}); holding ${mirroring ? 'the mirror' : `at ${state.weight}%`}`, mirroring), failedChecks: failed }, action: { kind: 'none' } };
  }
  const m = analysis.mirror;
  const passed = `success ${fmt(analysis.successRate ?? 100)}%, p99 ${Math.round(analysis.p99Ms ?? 0)}ms, ${analysis.requests} requests${m ? `, mirror mismatch ${fmt(m.mismatchRate ?? 0)}% of ${m.compared}` : ''}`;
  if (mirroring) {
    if (now < state.mirrorUntil!) {
      const left = Math.ceil((state.mirrorUntil! - now) / 1000);
      return { state: { ...withEvent(state, now, 0, `mirroring: ${passed}; ${left}s of mirroring left`, true), failedChecks: 0 }, action: { kind: 'none' } };
    }
    const { mirrorUntil: _done, ...rest } = state;
    return step({ ...rest, failedChecks: 0 }, schedule[0]!, now, `mirror passed (${passed}); ${schedule[0]}% of traffic to ${spec.canaryBackend.name}`);
  }
  const next = schedule.find((w) => w > state.weight);
  if (next === undefined) {
    const s = { ...withEvent(state, now, 100, `promoted: ${passed}; all traffic to ${spec.canaryBackend.name}`), phase: 'Promoted' as const, weight: 100, failedChecks: 0 };
    s.events.at(-1)!.phase = 'Promoted';
    return { state: s, action: { kind: 'promote' } };
  }
  return step({ ...state, failedChecks: 0 }, next, now, `advanced to ${next}%: ${passed}`);
}

/** Manual promotion or abort (meshctl canary promote|abort). */
export function manual(state: CanaryState, kind: 'promote' | 'abort', now: number, backend: string): { state: CanaryState; action: CanaryAction } {
  if (state.phase !== 'Progressing') return { state, action: { kind: 'none' } };
  const { mirrorUntil: _m, ...rest } = state;
  state = rest;
  if (kind === 'promote') {
    const s = { ...withEvent(state, now, 100, `promoted by the operator; all traffic to ${backend}`), phase: 'Promoted' as const, weight: 100 };
    s.events.at(-1)!.phase = 'Promoted';
    return { state: s, action: { kind: 'promote' } };
  }
  const s = { ...withEvent(state, now, 0, 'aborted by the operator; all traffic back to stable'), phase: 'Aborted' as const, weight: 0 };
  s.events.at(-1)!.phase = 'Aborted';
  return { state: s, action: { kind: 'rollback' } };
}

function step(state: CanaryState, weight: number, now: number, reason: string): { state: CanaryState; action: CanaryAction } {
  return { state: { ...withEvent(state, now, weight, reason), weight }, action: { kind: 'setWeight', weight } };
}

function withEvent(state: CanaryState, at: number, weight: number, reason: string, mirroring = false): CanaryState {
  const events: CanaryEvent[] = [...state.events, { at, phase: state.phase, weight, reason, ...(mirroring ? { mirroring } : {}) }];
  return { ...state, events: events.length > MAX_EVENTS ? events.slice(-MAX_EVENTS) : events };
}

export function fmt(n: number): string {
  return n.toFixed(n >= 99.95 || n === Math.trunc(n) ? 0 : 1);
}

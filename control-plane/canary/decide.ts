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
}

export interface CanaryState {
  phase: CanaryPhase;
  /** Live weight (0–100) of the canary backend. */
  weight: number;
  /** Analyses in a row that breached a threshold. */
  failedChecks: number;
  /** Windows in a row without a single request to the canary. */
  idleChecks?: number;
  events: CanaryEvent[];
}

/** One analysis window of the canary backend, from mesh metrics. */
export interface CanaryAnalysis {
  requests: number;
  /** Percent of non-5xx responses; undefined without requests. */
  successRate?: number;
  p99Ms?: number;
}

export type CanaryAction = { kind: 'setWeight'; weight: number } | { kind: 'rollback' } | { kind: 'promote' } | { kind: 'none' };

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
  return out;
}

/**
 * The next step after one interval. `analysis` is the window that just ended
 * at the current weight (undefined at the very start, before any live weight).
 */
export function decide(spec: CanarySpec, state: CanaryState, analysis: CanaryAnalysis | undefined, now: number): { state: CanaryState; action: CanaryAction } {
  if (state.phase !== 'Progressing') return { state, action: { kind: 'none' } };
  const schedule = weightSchedule(spec);
  if (analysis === undefined) return step(state, schedule[0]!, now, `start: ${schedule[0]}% of traffic to ${spec.canaryBackend.name}`);

  if (analysis.requests === 0) {
    // No traffic, no verdict: hold (the new split may still be propagating), but a canary nobody calls is never promoted.
    const idle = (state.idleChecks ?? 0) + 1;
    if (idle < MAX_IDLE_CHECKS) return { state: { ...withEvent(state, now, state.weight, `no requests reached ${spec.canaryBackend.name} in the last interval; holding at ${state.weight}%`), idleChecks: idle }, action: { kind: 'none' } };
  }
  if (analysis.requests > 0) state = { ...state, idleChecks: 0 };
  const why = analysis.requests === 0 ? [`no requests reached ${spec.canaryBackend.name} for ${MAX_IDLE_CHECKS} intervals`] : breaches(spec, analysis);
  if (why.length) {
    const failed = state.failedChecks + 1;
    if (failed >= spec.analysis.failureLimit) {
      const s = { ...withEvent(state, now, 0, `rolled back: ${why.join(', ')} (${failed}/${spec.analysis.failureLimit} failed checks); all traffic to ${spec.stableBackend.name}`), phase: 'RolledBack' as const, weight: 0, failedChecks: failed };
      s.events.at(-1)!.phase = 'RolledBack';
      return { state: s, action: { kind: 'rollback' } };
    }
    return { state: { ...withEvent(state, now, state.weight, `analysis failed: ${why.join(', ')} (${failed}/${spec.analysis.failureLimit}); holding at ${state.weight}%`), failedChecks: failed }, action: { kind: 'none' } };
  }
  const passed = `success ${fmt(analysis.successRate ?? 100)}%, p99 ${Math.round(analysis.p99Ms ?? 0)}ms, ${analysis.requests} requests`;
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

function withEvent(state: CanaryState, at: number, weight: number, reason: string): CanaryState {
  const events = [...state.events, { at, phase: state.phase, weight, reason }];
  return { ...state, events: events.length > MAX_EVENTS ? events.slice(-MAX_EVENTS) : events };
}

function fmt(n: number): string {
  return n.toFixed(n >= 99.95 || n === Math.trunc(n) ? 0 : 1);
}

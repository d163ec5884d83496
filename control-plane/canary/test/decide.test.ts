import { describe, expect, it } from 'vitest';
import { decide, initialState, manual, weightSchedule, type CanaryAnalysis, type CanaryState } from '../decide.js';
import type { CanarySpec } from '../../policy/types.js';

const spec: CanarySpec = {
  targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api' },
  service: 'api',
  stableBackend: { name: 'api-v1', port: 9080 },
  canaryBackend: { name: 'api-v2', port: 9080 },
  steps: [10, 50, 100],
  interval: 30_000,
  analysis: { successRate: 99, p99: 500, failureLimit: 2 },
};
const good: CanaryAnalysis = { requests: 200, successRate: 100, p99Ms: 40 };
const slow: CanaryAnalysis = { requests: 200, successRate: 100, p99Ms: 900 };

/** Replays analyses through decide(), one interval (30 s) apart. */
function replay(s: CanarySpec, windows: (CanaryAnalysis | undefined)[]): { state: CanaryState; actions: string[] } {
  let state = initialState();
  const actions: string[] = [];
  windows.forEach((w, i) => {
    const r = decide(s, state, w, 1_000_000 + i * 30_000);
    state = r.state;
    actions.push(r.action.kind === 'setWeight' ? `weight ${r.action.weight}` : r.action.kind);
  });
  return { state, actions };
}

describe('canary decisions', () => {
  it('walks the steps while analysis passes, then promotes', () => {
    const { state, actions } = replay(spec, [undefined, good, good, good]);
    expect(actions).toEqual(['weight 10', 'weight 50', 'weight 100', 'promote']);
    expect(state.phase).toBe('Promoted');
    expect(state.events.map((e) => [e.at, e.weight])).toEqual([[1_000_000, 10], [1_030_000, 50], [1_060_000, 100], [1_090_000, 100]]);
    expect(state.events[1]!.reason).toBe('advanced to 50%: success 100%, p99 40ms, 200 requests');
  });

  it('holds on a breach and rolls back at the failure limit, naming the threshold', () => {
    const { state, actions } = replay(spec, [undefined, good, slow, { requests: 100, successRate: 80, p99Ms: 30 }]);
    expect(actions).toEqual(['weight 10', 'weight 50', 'none', 'rollback']);
    expect(state.phase).toBe('RolledBack');
    expect(state.weight).toBe(0);
    expect(state.events[2]!.reason).toBe('analysis failed: p99 900ms > 500ms (1/2); holding at 50%');
    expect(state.events.at(-1)!.reason).toBe('rolled back: success rate 80% < 99% (2/2 failed checks); all traffic to api-v1');
  });

  it('a passing window resets the failure count', () => {
    const { state, actions } = replay(spec, [undefined, slow, good, slow, good]);
    expect(actions).toEqual(['weight 10', 'none', 'weight 50', 'none', 'weight 100']);
    expect(state.phase).toBe('Progressing');
  });

  it('windows without requests hold the weight; only a canary nobody calls for 5 intervals is a failed check', () => {
    const { state, actions } = replay(spec, [undefined, { requests: 0 }, good, { requests: 0 }, { requests: 0 }, { requests: 0 }, { requests: 0 }, { requests: 0 }]);
    expect(actions).toEqual(['weight 10', 'none', 'weight 50', 'none', 'none', 'none', 'none', 'none']);
    expect(state.failedChecks).toBe(1);
    expect(state.events.at(-1)!.reason).toBe('analysis failed: no requests reached api-v2 for 5 intervals (1/2); holding at 50%');
  });

  it('stepWeight/maxWeight schedules end at maxWeight', () => {
    expect(weightSchedule({ stepWeight: 20, maxWeight: 50 })).toEqual([20, 40, 50]);
    expect(weightSchedule({ stepWeight: 25 })).toEqual([25, 50, 75, 100]);
  });

  it('operator promote and abort end the rollout; later windows change nothing', () => {
    const started = decide(spec, initialState(), undefined, 0).state;
    const aborted = manual(started, 'abort', 5, 'api-v2');
    expect(aborted.action.kind).toBe('rollback');
    expect(aborted.state.phase).toBe('Aborted');
    expect(decide(spec, aborted.state, good, 10).action.kind).toBe('none');
    expect(manual(started, 'promote', 5, 'api-v2').state.phase).toBe('Promoted');
  });

  it('mirror phase: mirrors first, holds while it passes until the duration is over, then takes the first live weight', () => {
    const m: CanarySpec = { ...spec, mirror: { duration: 60_000, compareBody: false }, analysis: { ...spec.analysis, mismatchRate: 5 } };
    const agree = { ...good, mirror: { compared: 200, mismatches: 2, errors: 0, mismatchRate: 1 } };
    const { state, actions } = replay(m, [undefined, agree, agree, good, good, good]);
    expect(actions).toEqual(['mirror', 'none', 'weight 10', 'weight 50', 'weight 100', 'promote']);
    expect(state.events.map((e) => [e.weight, e.mirroring ?? false])).toEqual([[0, true], [0, true], [10, false], [50, false], [100, false], [100, false]]);
    expect(state.events[1]!.reason).toBe('mirroring: success 100%, p99 40ms, 200 requests, mirror mismatch 1% of 200; 30s of mirroring left');
    expect(state.events[2]!.reason).toBe('mirror passed (success 100%, p99 40ms, 200 requests, mirror mismatch 1% of 200); 10% of traffic to api-v2');
    expect(state.mirrorUntil).toBeUndefined();
  });

  it('mirror phase: mismatches beyond the threshold count as failed checks; at the limit the canary is rolled back before any live weight', () => {
    const m: CanarySpec = { ...spec, mirror: { duration: 600_000, compareBody: false }, analysis: { ...spec.analysis, mismatchRate: 5 } };
    const differ = { ...good, mirror: { compared: 100, mismatches: 40, errors: 3, mismatchRate: 40 } };
    const { state, actions } = replay(m, [undefined, differ, differ]);
    expect(actions).toEqual(['mirror', 'none', 'rollback']);
    expect(state).toMatchObject({ phase: 'RolledBack', weight: 0 });
    expect(state.mirrorUntil).toBeUndefined();
    expect(state.events.at(-1)!.reason).toBe('rolled back: mirror mismatch 40% > 5% (2/2 failed checks); mirror removed, all traffic to api-v1');
  });

  it('an operator promotion during the mirror phase ends it', () => {
    const m: CanarySpec = { ...spec, mirror: { duration: 600_000, compareBody: false } };
    const started = decide(m, initialState(), undefined, 0).state;
    const r = manual(started, 'promote', 1000, 'api-v2');
    expect(r.action.kind).toBe('promote');
    expect(r.state).toMatchObject({ phase: 'Promoted', weight: 100 });
    expect(r.state.mirrorUntil).toBeUndefined();
  });
});

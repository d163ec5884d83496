// One canary step written into the target route: the split, the mirror and
// the testers' header rule, as one apply (validated and versioned like any
// other). It refuses to overwrite a split it did not write.

import type { CanarySpec, PolicyKind, PolicyRef } from '../policy/types.js';
import type { CanaryPolicyPort } from './controller.js';
import { currentCanaryWeight, setCanaryWeight, setMirror, setTesterRule } from './route-weights.js';

export interface RouteStep {
  weight: number;
  /** The canary's weight the run last wrote; anything else on the route means someone else changed it. */
  expected: number;
  /** Mirror the stable rules' traffic to the canary (the mirroring phase). */
  mirror: boolean;
  /** The testers' header rule (spec.match) while the canary progresses. */
  testers: boolean;
}

/** The canary backend's weight on the route now. */
export async function liveWeight(policies: CanaryPolicyPort, spec: CanarySpec, namespace: string): Promise<number> {
  const yaml = await policies.getYaml({ kind: spec.targetRef.kind as PolicyKind, namespace, name: spec.targetRef.name });
  return currentCanaryWeight(yaml, spec.stableBackend.name, spec.canaryBackend.name) ?? 0;
}

/** `outside`: the live weight, when it is not the one expected (nothing written); `version`: the store version written. */
export async function writeRoute(policies: CanaryPolicyPort, spec: CanarySpec, namespace: string, step: RouteStep): Promise<{ outside?: number; version?: number }> {
  const ref: PolicyRef = { kind: spec.targetRef.kind as PolicyKind, namespace, name: spec.targetRef.name };
  const yaml = await policies.getYaml(ref);
  const live = currentCanaryWeight(yaml, spec.stableBackend.name, spec.canaryBackend.name) ?? 0;
  if (live !== step.expected) return { outside: live };
  let next = setCanaryWeight(yaml, spec.stableBackend, spec.canaryBackend, step.weight);
  next = setMirror(next, spec.stableBackend.name, spec.canaryBackend, step.mirror);
  // Testers' header match routes to the canary while it progresses; it goes away with promotion or rollback.
  if (spec.match?.length) next = setTesterRule(next, spec.stableBackend.name, spec.canaryBackend, spec.match, step.testers);
  const out = await policies.apply(next, { file: `canary:${spec.targetRef.name}` });
  return out.changes.some((c) => c.action !== 'unchanged') ? { version: out.version } : {};
}

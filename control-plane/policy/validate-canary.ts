// Canary (tsmesh.io/v1alpha1): validation. The control plane runs an applied
// Canary (control-plane/canary/host.ts).

import type { Reader } from '../../common/reader.js';
import { readName, readNameValueMatches, readObjectRef, readPort } from './common-fields.js';
import type { CanarySpec } from './types.js';

function readBackend(r: Reader): { name: string; port?: number } {
  r.object(true);
  r.onlyKeys(['name', 'port']);
  return { name: readName(r.field('name')), port: readPort(r.field('port')) };
}

export function readCanarySpec(r: Reader): CanarySpec {
  r.object(true);
  r.onlyKeys(['targetRef', 'service', 'stableBackend', 'canaryBackend', 'steps', 'stepWeight', 'maxWeight', 'interval', 'analysis', 'mirror', 'match']);
  const t = readObjectRef(r.field('targetRef'), { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }, ['HTTPRoute', 'GRPCRoute']);
  const spec: CanarySpec = {
    targetRef: { group: t.group, kind: t.kind, name: t.name },
    service: readName(r.field('service')),
    stableBackend: readBackend(r.field('stableBackend')),
    canaryBackend: readBackend(r.field('canaryBackend')),
    interval: r.field('interval').duration({ required: true, min: 1000, max: 24 * 3_600_000 }) ?? 60_000,
    analysis: { failureLimit: 1 },
  };
  if (spec.stableBackend.name && spec.stableBackend.name === spec.canaryBackend.name) r.field('canaryBackend').field('name').fail('must differ from stableBackend.name');
  const steps = r.field('steps');
  if (steps.present) {
    spec.steps = steps.array().flatMap((s) => {
      const n = s.number({ required: true, integer: true, min: 0, max: 100 });
      return n === undefined ? [] : [n];
    });
    if (!spec.steps.length) steps.fail('must list at least one weight');
    if (spec.steps.length > 100) steps.fail('must have at most 100 entries');
    const items = steps.array();
    for (let i = 1; i < spec.steps.length && i < items.length; i++) {
      if (spec.steps[i]! <= spec.steps[i - 1]!) {
        items[i]!.fail(`weights must increase; ${spec.steps[i]} follows ${spec.steps[i - 1]}`);
        break;
      }
    }
  }
  spec.stepWeight = r.field('stepWeight').number({ integer: true, min: 1, max: 100 });
  spec.maxWeight = r.field('maxWeight').number({ integer: true, min: 1, max: 100 });
  if (spec.steps && (spec.stepWeight !== undefined || spec.maxWeight !== undefined)) r.fail('set either steps or stepWeight/maxWeight, not both');
  if (!spec.steps && spec.stepWeight === undefined) r.field('steps').fail('is required (or set stepWeight and maxWeight)');
  if (spec.stepWeight !== undefined && spec.maxWeight !== undefined && spec.maxWeight < spec.stepWeight) r.field('maxWeight').fail(`must be ≥ stepWeight (${spec.stepWeight})`);

  const a = r.field('analysis');
  if (a.object(true)) {
    a.onlyKeys(['successRate', 'p99', 'failureLimit', 'mismatchRate']);
    spec.analysis = {
      successRate: a.field('successRate').number({ min: 0, max: 100 }),
      p99: a.field('p99').duration({ min: 1 }),
      failureLimit: a.field('failureLimit').number({ integer: true, min: 1, max: 100 }) ?? 1,
      mismatchRate: a.field('mismatchRate').number({ min: 0, max: 100 }),
    };
    if (spec.analysis.successRate === undefined && spec.analysis.p99 === undefined) a.fail('must set successRate or p99');
  }
  const m = r.field('mirror');
  if (m.object()) {
    m.onlyKeys(['duration', 'compareBody']);
    spec.mirror = { duration: m.field('duration').duration({ required: true, min: 1000, max: 24 * 3_600_000 }) ?? 60_000, compareBody: m.field('compareBody').boolean() ?? false };
    // The sidecars compare status codes; hashing the primary's body would cost every mirrored response on the hot path.
  } else if (spec.analysis.mismatchRate !== undefined) a.field('mismatchRate').fail('needs a mirror phase (spec.mirror)');
  if (r.field('match').present) spec.match = readNameValueMatches(r.field('match'), 'header');
  return spec;
}

// FaultPolicy and RateLimitPolicy (tsmesh.io/v1alpha1): the sidecar's fault
// injection and local rate limit, attached by targetRef (Gateway API policy
// attachment) to routes or to a Service.

import type { Reader } from '../../common/reader.js';
import { readName, readNameValueMatches } from './common-fields.js';
import type { FaultPolicySpec, RateLimitPolicySpec } from './types.js';

const ROUTE_GROUP = 'gateway.networking.k8s.io';

function readTargetRef<K extends string>(r: Reader, kinds: readonly K[], sectionName: boolean): { group: string; kind: K; name: string; sectionName?: string } {
  r.object(true);
  r.onlyKeys(sectionName ? ['group', 'kind', 'name', 'sectionName'] : ['group', 'kind', 'name']);
  const kind = (r.field('kind').string({ required: true, enum: kinds }) ?? kinds[0]!) as K;
  const group = r.field('group').string() ?? (kind === 'Service' ? '' : ROUTE_GROUP);
  const want = kind === 'Service' ? ['', 'core'] : [ROUTE_GROUP];
  if (!want.includes(group)) r.field('group').fail(`a ${kind} is in group "${want[0]}"; got "${group}"`);
  const out: { group: string; kind: K; name: string; sectionName?: string } = { group, kind, name: readName(r.field('name')) };
  if (r.field('sectionName').present) {
    if (kind === 'Service') r.field('sectionName').fail('names a route rule; it applies to HTTPRoute and GRPCRoute targets only');
    else out.sectionName = readName(r.field('sectionName'));
  }
  return out;
}

function readPercentage(r: Reader): number {
  return r.number({ min: 0, max: 100 }) ?? 100;
}

export function readFaultPolicySpec(r: Reader): FaultPolicySpec {
  r.object(true);
  r.onlyKeys(['targetRef', 'delay', 'abort', 'headers']);
  const spec: FaultPolicySpec = {
    targetRef: readTargetRef(r.field('targetRef'), ['HTTPRoute', 'GRPCRoute', 'Service'] as const, true),
    headers: readNameValueMatches(r.field('headers'), 'header'),
  };
  const d = r.field('delay');
  if (d.object()) {
    d.onlyKeys(['fixedDelay', 'percentage']);
    const fixedDelay = d.field('fixedDelay').duration({ required: true, min: 1, max: 3_600_000 });
    if (fixedDelay !== undefined) spec.delay = { fixedDelay, percentage: readPercentage(d.field('percentage')) };
  }
  const a = r.field('abort');
  if (a.object()) {
    a.onlyKeys(['httpStatus', 'grpcStatus', 'percentage']);
    const httpStatus = a.field('httpStatus').number({ integer: true, min: 200, max: 599 });
    const grpcStatus = a.field('grpcStatus').number({ integer: true, min: 0, max: 16 });
    const percentage = readPercentage(a.field('percentage'));
    if (!a.field('httpStatus').present && !a.field('grpcStatus').present) a.fail('must set httpStatus or grpcStatus');
    spec.abort = { percentage, ...(httpStatus !== undefined ? { httpStatus } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}) };
  }
  if (!d.present && !a.present) r.fail('must set delay or abort');
  return spec;
}

export function readRateLimitPolicySpec(r: Reader): RateLimitPolicySpec {
  r.object(true);
  r.onlyKeys(['targetRef', 'local']);
  const targetRef = readTargetRef(r.field('targetRef'), ['Service'] as const, false);
  const l = r.field('local');
  l.object(true);
  l.onlyKeys(['requests', 'unit', 'burst']);
  const requests = l.field('requests').number({ required: true, integer: true, min: 1, max: 1_000_000_000 }) ?? 1;
  const unit = (l.field('unit').string({ enum: ['Second', 'Minute', 'Hour'] }) ?? 'Second') as RateLimitPolicySpec['local']['unit'];
  const burst = l.field('burst').number({ integer: true, min: 1, max: 1_000_000_000 });
  if (burst !== undefined && burst < requests) l.field('burst').fail(`must be at least requests (${requests}): it is the bucket's size`);
  return { targetRef, local: { requests, unit, ...(burst !== undefined ? { burst } : {}) } };
}

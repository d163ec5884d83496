// GRPCRoute (gateway.networking.k8s.io/v1) for mesh traffic: method and
// header matches, weighted backends, header modifiers and mirrors.

import type { Reader } from '../../common/reader.js';
import { checkRegex, readNameValueMatches, readStringList } from './common-fields.js';
import { BACKEND_FILTERS, readBackendRefs, readFilters, readParentRefs, readRuleName } from './validate-route.js';
import type { GrpcRouteMatch, GrpcRouteRule, GrpcRouteSpec } from './types.js';

const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GRPC_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'] as const;

function readGrpcMatch(r: Reader): GrpcRouteMatch {
  r.object(true);
  r.onlyKeys(['method', 'headers']);
  const m: GrpcRouteMatch = { headers: readNameValueMatches(r.field('headers'), 'header') };
  const mm = r.field('method');
  if (mm.object()) {
    mm.onlyKeys(['type', 'service', 'method']);
    const type = (mm.field('type').string({ enum: ['Exact', 'RegularExpression'] }) ?? 'Exact') as 'Exact' | 'RegularExpression';
    const service = mm.field('service').string({ maxLength: 1024 });
    const method = mm.field('method').string({ maxLength: 1024 });
    if (!service && !method) mm.fail('must set service or method');
    if (type === 'RegularExpression') {
      checkRegex(mm.field('service'), service);
      checkRegex(mm.field('method'), method);
    } else {
      if (service !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/.test(service)) mm.field('service').fail(`"${service}" is not a gRPC service name`);
      if (method !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*$/.test(method)) mm.field('method').fail(`"${method}" is not a gRPC method name`);
    }
    m.method = { type, service, method };
  }
  return m;
}

export function readGrpcRouteSpec(r: Reader): GrpcRouteSpec {
  r.object(true);
  r.onlyKeys(['parentRefs', 'hostnames', 'rules']);
  const rules = r.field('rules').array();
  if (rules.length > 16) r.field('rules').fail('must have at most 16 entries (Gateway API limit)');
  return {
    parentRefs: readParentRefs(r.field('parentRefs')),
    hostnames: readStringList(r.field('hostnames'), { pattern: HOSTNAME, patternHint: 'a DNS host name', max: 16 }),
    rules: rules.map((rr): GrpcRouteRule => {
      rr.object(true);
      rr.onlyKeys(['name', 'matches', 'filters', 'backendRefs']);
      return {
        name: readRuleName(rr.field('name')),
        matches: rr.field('matches').array().map(readGrpcMatch),
        filters: readFilters(rr.field('filters'), GRPC_FILTERS),
        backendRefs: readBackendRefs(rr.field('backendRefs'), BACKEND_FILTERS),
      };
    }),
  };
}

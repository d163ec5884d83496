// Shared pieces of the bootstrap readers: strict objects, matchers, header
// mutations, socket addresses. Each reader records issues on the Reader and
// returns a best-effort value; the caller throws once at the end.

import type { Reader } from '../../common/reader.js';
import type {
  HeaderMatcher,
  HeaderMutations,
  HeaderValueOption,
  QueryParameterMatcher,
  SocketAddress,
  StringMatcher,
} from './resources.js';

/** True when `r` is an object with only `allowed` keys (unknown keys are recorded as issues). */
export function strict(r: Reader, allowed: readonly string[], required = false): boolean {
  if (!r.object(required)) return false;
  r.onlyKeys(allowed);
  return true;
}

export function str(r: Reader, required = false): string {
  return r.string({ required }) ?? '';
}

export function stringList(r: Reader): string[] {
  return r.array().map((x) => x.string({ required: true }) ?? '');
}

export function socketAddress(r: Reader, required = true): SocketAddress {
  strict(r, ['address', 'port'], required);
  return {
    address: r.field('address').string({ required: r.present }) ?? '',
    port: r.field('port').number({ required: r.present, integer: true, min: 0, max: 65535 }) ?? 0,
  };
}

const STRING_MATCH_KEYS = ['exact', 'prefix', 'suffix', 'contains', 'safeRegex'] as const;

export function stringMatcher(r: Reader): StringMatcher {
  strict(r, [...STRING_MATCH_KEYS, 'ignoreCase'], true);
  const m: StringMatcher = {};
  for (const k of STRING_MATCH_KEYS) {
    const v = r.field(k).string();
    if (v !== undefined) m[k] = v;
  }
  const ic = r.field('ignoreCase').boolean();
  if (ic !== undefined) m.ignoreCase = ic;
  return m;
}

export function headerMatcher(r: Reader): HeaderMatcher {
  strict(r, ['name', 'stringMatch', 'presentMatch', 'invertMatch'], true);
  const h: HeaderMatcher = { name: (r.field('name').string({ required: true }) ?? '').toLowerCase() };
  if (r.field('stringMatch').present) h.stringMatch = stringMatcher(r.field('stringMatch'));
  const p = r.field('presentMatch').boolean();
  if (p !== undefined) h.presentMatch = p;
  const inv = r.field('invertMatch').boolean();
  if (inv !== undefined) h.invertMatch = inv;
  return h;
}

export function queryMatcher(r: Reader): QueryParameterMatcher {
  strict(r, ['name', 'stringMatch', 'presentMatch'], true);
  const q: QueryParameterMatcher = { name: r.field('name').string({ required: true }) ?? '' };
  if (r.field('stringMatch').present) q.stringMatch = stringMatcher(r.field('stringMatch'));
  const p = r.field('presentMatch').boolean();
  if (p !== undefined) q.presentMatch = p;
  return q;
}

export const HEADER_MUTATION_KEYS = [
  'requestHeadersToAdd',
  'requestHeadersToRemove',
  'responseHeadersToAdd',
  'responseHeadersToRemove',
] as const;

const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD'] as const;

function headerValueOption(r: Reader): HeaderValueOption {
  strict(r, ['header', 'appendAction'], true);
  const h = r.field('header');
  strict(h, ['key', 'value'], true);
  return {
    header: {
      key: (h.field('key').string({ required: true, pattern: /^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, patternHint: 'an HTTP header name' }) ?? '').toLowerCase(),
      value: h.field('value').string({ required: false }) ?? '',
    },
    appendAction:
      (r.field('appendAction').string({ enum: APPEND_ACTIONS }) as HeaderValueOption['appendAction'] | undefined) ??
      'APPEND_IF_EXISTS_OR_ADD',
  };
}

export function headerMutations(r: Reader): HeaderMutations {
  return {
    requestHeadersToAdd: r.field('requestHeadersToAdd').array().map(headerValueOption),
    requestHeadersToRemove: stringList(r.field('requestHeadersToRemove')).map((s) => s.toLowerCase()),
    responseHeadersToAdd: r.field('responseHeadersToAdd').array().map(headerValueOption),
    responseHeadersToRemove: stringList(r.field('responseHeadersToRemove')).map((s) => s.toLowerCase()),
  };
}

export function metadataMap(r: Reader): Record<string, string> {
  const out: Record<string, string> = {};
  if (!r.object()) return out;
  for (const [k, v] of r.entries()) out[k] = v.string({ required: true }) ?? '';
  return out;
}

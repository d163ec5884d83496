// Field readers shared by several policy kinds (metadata, refs, matches,
// header modifiers). Each records issues on the Reader and returns a value
// even when parts are invalid, so one pass reports every problem.

import type { Reader } from '../../common/reader.js';
import type { HeaderModifier, NameValueMatch, ObjectMeta } from './types.js';

/** RFC 1123 label-ish names as Kubernetes requires for most objects. */
export const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_HINT = 'lower-case letters, digits, "-" and "."; must start and end with a letter or digit';
/** HTTP header names (RFC 9110 token). */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export function readName(r: Reader, required = true): string {
  return r.string({ required, pattern: DNS_NAME, patternHint: DNS_HINT, maxLength: 253 }) ?? '';
}

export function readMetadata(r: Reader): ObjectMeta {
  r.object(true);
  r.onlyKeys(['name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'generation', 'creationTimestamp']);
  return {
    name: readName(r.field('name')),
    namespace: r.field('namespace').present ? readName(r.field('namespace')) : 'default',
    labels: readStringMap(r.field('labels')),
    annotations: readStringMap(r.field('annotations')),
  };
}

export function readStringMap(r: Reader): Record<string, string> {
  const out: Record<string, string> = {};
  if (!r.object()) return out;
  for (const [k, v] of r.entries()) {
    const s = v.string({ required: true, maxLength: 4096 });
    if (s !== undefined) out[k] = s;
  }
  return out;
}

export function readStringList(r: Reader, opts: { pattern?: RegExp; patternHint?: string; max?: number } = {}): string[] {
  const items = r.array();
  if (opts.max !== undefined && items.length > opts.max) r.fail(`must have at most ${opts.max} entries`);
  const out: string[] = [];
  for (const it of items) {
    const s = it.string({ required: true, maxLength: 1024, pattern: opts.pattern, patternHint: opts.patternHint });
    if (s !== undefined) out.push(s);
  }
  return out;
}

/** A Gateway API-style object reference {group, kind, name, namespace?}. */
export function readObjectRef(
  r: Reader,
  defaults: { group: string; kind: string },
  allowedKinds: readonly string[],
): { group: string; kind: string; name: string; namespace?: string } {
  r.object(true);
  r.onlyKeys(['group', 'kind', 'name', 'namespace']);
  const kind = r.field('kind').string({ enum: allowedKinds }) ?? defaults.kind;
  return {
    group: r.field('group').string() ?? defaults.group,
    kind,
    name: readName(r.field('name')),
    namespace: r.field('namespace').present ? readName(r.field('namespace')) : undefined,
  };
}

export function readPort(r: Reader, required = false): number | undefined {
  return r.number({ required, integer: true, min: 1, max: 65535 });
}

export function checkRegex(r: Reader, value: string | undefined): void {
  if (value === undefined) return;
  if (value.length > 1024) {
    r.fail('regular expression is longer than 1024 characters');
    return;
  }
  try {
    new RegExp(value);
  } catch (e) {
    r.fail(`invalid regular expression: ${(e as Error).message}`);
  }
}

/** HTTPHeaderMatch / HTTPQueryParamMatch / GRPCHeaderMatch. */
export function readNameValueMatches(r: Reader, what: 'header' | 'query'): NameValueMatch[] {
  const out: NameValueMatch[] = [];
  const items = r.array();
  if (items.length > 16) r.fail('must have at most 16 entries (Gateway API limit)');
  for (const it of items) {
    if (!it.object(true)) continue;
    it.onlyKeys(['type', 'name', 'value']);
    const type = (it.field('type').string({ enum: ['Exact', 'RegularExpression'] }) ?? 'Exact') as NameValueMatch['type'];
    const name = it.field('name').string({
      required: true,
      maxLength: 256,
      pattern: what === 'header' ? HEADER_NAME : /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/,
      patternHint: what === 'header' ? 'an HTTP header name' : 'a query parameter name',
    });
    const value = it.field('value').string({ required: true, maxLength: 4096 });
    if (type === 'RegularExpression') checkRegex(it.field('value'), value);
    if (name !== undefined && value !== undefined) out.push({ type, name: what === 'header' ? name.toLowerCase() : name, value });
  }
  const seen = new Set<string>();
  out.forEach((m, i) => {
    if (seen.has(m.name)) items[i]!.field('name').fail(`duplicate ${what} match "${m.name}"`);
    seen.add(m.name);
  });
  return out;
}

/** HTTPHeaderFilter: set / add / remove. */
export function readHeaderModifier(r: Reader): HeaderModifier {
  r.object(true);
  r.onlyKeys(['set', 'add', 'remove']);
  const pairs = (pr: Reader) =>
    pr.array().flatMap((it) => {
      if (!it.object(true)) return [];
      it.onlyKeys(['name', 'value']);
      const name = it.field('name').string({ required: true, pattern: HEADER_NAME, patternHint: 'an HTTP header name', maxLength: 256 });
      const value = it.field('value').string({ required: true, maxLength: 4096 });
      return name !== undefined && value !== undefined ? [{ name: name.toLowerCase(), value }] : [];
    });
  const mod = {
    set: pairs(r.field('set')),
    add: pairs(r.field('add')),
    remove: readStringList(r.field('remove'), { pattern: HEADER_NAME, patternHint: 'an HTTP header name', max: 16 }).map((s) => s.toLowerCase()),
  };
  if (!mod.set.length && !mod.add.length && !mod.remove.length) r.fail('must set at least one of set, add, remove');
  return mod;
}

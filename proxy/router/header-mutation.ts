// Header add/set/remove compiled per route (weighted cluster → route →
// virtual host → route configuration, Envoy's default order) into flat lists
// applied in one pass over a request or response.

import type { HeaderMutations, HeaderValueOption } from '../config/resources.js';

export interface HeaderOps {
  /** Lower-case names to drop. */
  remove: ReadonlySet<string>;
  add: readonly { name: string; value: string; action: HeaderValueOption['appendAction'] }[];
  empty: boolean;
}

export const NO_HEADER_OPS: HeaderOps = { remove: new Set(), add: [], empty: true };

export function compileHeaderOps(levels: readonly (HeaderMutations | undefined)[], side: 'request' | 'response'): HeaderOps {
  const remove = new Set<string>();
  const add: { name: string; value: string; action: HeaderValueOption['appendAction'] }[] = [];
  for (const l of levels) {
    if (!l) continue;
    for (const n of side === 'request' ? l.requestHeadersToRemove : l.responseHeadersToRemove) remove.add(n);
    for (const o of side === 'request' ? l.requestHeadersToAdd : l.responseHeadersToAdd) add.push({ name: o.header.key, value: o.header.value, action: o.appendAction });
  }
  return remove.size === 0 && add.length === 0 ? NO_HEADER_OPS : { remove, add, empty: false };
}

/** Applies ops to a flat [name, value, name, value…] list of lower-case names, in place. */
export function applyHeaderOps(ops: HeaderOps, flat: string[]): string[] {
  if (ops.empty) return flat;
  let out = flat;
  if (ops.remove.size) {
    out = [];
    for (let i = 0; i < flat.length; i += 2) if (!ops.remove.has(flat[i]!)) out.push(flat[i]!, flat[i + 1]!);
  }
  for (const a of ops.add) {
    if (a.action === 'APPEND_IF_EXISTS_OR_ADD') {
      out.push(a.name, a.value);
      continue;
    }
    let found = -1;
    for (let i = 0; i < out.length; i += 2) if (out[i] === a.name) { found = i; break; }
    if (a.action === 'ADD_IF_ABSENT') {
      if (found < 0) out.push(a.name, a.value);
      continue;
    }
    // OVERWRITE_IF_EXISTS_OR_ADD: drop every existing value, then add one.
    if (found >= 0) {
      const kept: string[] = [];
      for (let i = 0; i < out.length; i += 2) if (out[i] !== a.name) kept.push(out[i]!, out[i + 1]!);
      out = kept;
    }
    out.push(a.name, a.value);
  }
  return out;
}

// Envoy HeaderMatcher / StringMatcher compiled once (regexes built at config
// time) into a predicate over Node's lower-case header record. Used by fault
// injection's header conditions. Pseudo-headers (`:method`, `:path`…) must be
// present in the record the request path passes.

import type { HeaderMatcher, StringMatcher } from '../config/resources.js';

export type HeaderRecord = Readonly<Record<string, string | string[] | undefined>>;
export type HeaderPredicate = (headers: HeaderRecord) => boolean;

export function compileStringMatcher(m: StringMatcher): (value: string) => boolean {
  const ic = m.ignoreCase === true;
  const norm = (s: string) => (ic ? s.toLowerCase() : s);
  if (m.exact !== undefined) {
    const e = norm(m.exact);
    return (v) => norm(v) === e;
  }
  if (m.prefix !== undefined) {
    const p = norm(m.prefix);
    return (v) => norm(v).startsWith(p);
  }
  if (m.suffix !== undefined) {
    const s = norm(m.suffix);
    return (v) => norm(v).endsWith(s);
  }
  if (m.contains !== undefined) {
    const c = norm(m.contains);
    return (v) => norm(v).includes(c);
  }
  if (m.safeRegex !== undefined) {
    const re = new RegExp(`^(?:${m.safeRegex})$`, ic ? 'i' : '');
    return (v) => re.test(v);
  }
  return () => true;
}

export function compileHeaderMatcher(m: HeaderMatcher): HeaderPredicate {
  const name = m.name.toLowerCase();
  const value = m.stringMatch ? compileStringMatcher(m.stringMatch) : undefined;
  const invert = m.invertMatch === true;
  return (headers) => {
    const raw = headers[name];
    let ok: boolean;
    if (raw === undefined) ok = m.presentMatch === false;
    else if (value === undefined) ok = m.presentMatch !== false;
    else ok = value(typeof raw === 'string' ? raw : raw.join(','));
    return ok !== invert;
  };
}

/** All matchers must match (Envoy's semantics for a list of header matchers). */
export function compileHeaderMatchers(ms: readonly HeaderMatcher[]): HeaderPredicate | undefined {
  if (ms.length === 0) return undefined;
  const ps = ms.map(compileHeaderMatcher);
  return (headers) => {
    for (let i = 0; i < ps.length; i++) if (!ps[i]!(headers)) return false;
    return true;
  };
}

// Compiles Envoy StringMatchers and HeaderMatchers into plain predicates once
// per configuration, so matching a request never builds a regex.

import type { HeaderMatcher, StringMatcher } from '../config/resources.js';

export type StringPredicate = (value: string) => boolean;

export function compileStringMatcher(m: StringMatcher): StringPredicate {
  const ic = m.ignoreCase === true;
  const norm = (s: string) => (ic ? s.toLowerCase() : s);
  if (m.exact !== undefined) {
    const want = norm(m.exact);
    return ic ? (v) => v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = norm(m.prefix);
    return (v) => norm(v).startsWith(want);
  }
  if (m.suffix !== undefined) {
    const want = norm(m.suffix);
    return (v) => norm(v).endsWith(want);
  }
  if (m.contains !== undefined) {
    const want = norm(m.contains);
    return (v) => norm(v).includes(want);
  }
  if (m.safeRegex !== undefined) {
    // Envoy matches the whole value against the regex.
    const re = new RegExp(`^(?:${m.safeRegex})$`, ic ? 'iu' : 'u');
    return (v) => re.test(v);
  }
  return () => false;
}

/** Reads a request header (or pseudo-header) by lower-case name; undefined when absent. */
export interface HeaderGetter {
  header(name: string): string | undefined;
}

export type HeaderPredicate = (get: HeaderGetter) => boolean;

export function compileHeaderMatcher(h: HeaderMatcher): HeaderPredicate {
  const name = h.name;
  const invert = h.invertMatch === true;
  if (h.stringMatch) {
    const test = compileStringMatcher(h.stringMatch);
    return (get) => {
      const v = get.header(name);
      return v === undefined ? false : test(v) !== invert;
    };
  }
  const wantPresent = h.presentMatch !== false;
  return (get) => (get.header(name) !== undefined) === wantPresent !== invert;
}

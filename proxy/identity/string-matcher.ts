// Envoy StringMatcher compiled once into a predicate (no per-call regex
// compilation or lowercasing of the pattern).
import type { StringMatcher } from '../config/resources.js';

export type StringPredicate = (value: string) => boolean;

export function compileStringMatcher(m: StringMatcher): StringPredicate {
  const ic = m.ignoreCase === true;
  if (m.exact !== undefined) {
    const want = ic ? m.exact.toLowerCase() : m.exact;
    return ic ? (v) => v.length === want.length && v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = ic ? m.prefix.toLowerCase() : m.prefix;
    return ic ? (v) => v.slice(0, want.length).toLowerCase() === want : (v) => v.startsWith(want);
  }
  if (m.suffix !== undefined) {
    const want = ic ? m.suffix.toLowerCase() : m.suffix;
    return ic ? (v) => v.length >= want.length && v.slice(v.length - want.length).toLowerCase() === want : (v) => v.endsWith(want);
  }
  if (m.contains !== undefined) {
    const want = ic ? m.contains.toLowerCase() : m.contains;
    return ic ? (v) => v.toLowerCase().includes(want) : (v) => v.includes(want);
  }
  if (m.safeRegex !== undefined) {
    // RE2 full-match semantics; JS RegExp is a superset for the patterns config validation admits.
    const re = new RegExp(`^(?:${m.safeRegex})$`, 'u');
    return (v) => re.test(v);
  }
  throw new Error('StringMatcher has no match field (exact, prefix, suffix, contains or safeRegex)');
}

/** Any of `matchers` matches; an empty list matches everything (Envoy's match_subject_alt_names). */
export function compileAnyOf(matchers: readonly StringMatcher[]): StringPredicate {
  if (matchers.length === 0) return () => true;
  const preds = matchers.map(compileStringMatcher);
  if (preds.length === 1) return preds[0]!;
  return (v) => {
    for (let i = 0; i < preds.length; i++) if (preds[i]!(v)) return true;
    return false;
  };
}

// One normalisation of the request path, used for BOTH authorization
// matching and forwarding (so a policy can never see a different path than
// the upstream). Follows Envoy's normalize_path + merge_slashes +
// path_with_escaped_slashes_action:
//   1. percent-encodings validated; unreserved characters (ALPHA DIGIT - . _ ~)
//      decoded, the rest upper-cased (RFC 3986 §6.2.2); so %2e%2e is "..";
//   2. %2F / %5C (encoded / and \): rejected (default) or decoded to "/";
//   3. "\" becomes "/" (as Envoy's canonicalisation does);
//   4. repeated slashes merged;
//   5. dot segments removed (RFC 3986 §5.2.4).
// The query is kept for forwarding and stripped for matching.

export type EscapedSlashesAction = 'reject' | 'unescape' | 'keep';

export interface NormalizeOptions {
  mergeSlashes?: boolean; // default true
  escapedSlashes?: EscapedSlashesAction; // default 'reject'
  maxLength?: number; // default 8192
}

export type NormalizedPath =
  | { ok: true; /** path without query: what policies match */ path: string; /** path + query: what is forwarded */ forward: string }
  | { ok: false; reason: string };

const HEX = /^[0-9A-Fa-f]{2}$/;

function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

function fail(reason: string): NormalizedPath {
  return { ok: false, reason };
}

export function normalizePath(raw: string, opts: NormalizeOptions = {}): NormalizedPath {
  if (raw.length > (opts.maxLength ?? 8192)) return fail('path too long');
  if (raw.length === 0 || raw.charCodeAt(0) !== 0x2f) return fail('path must start with "/"');
  const q = raw.indexOf('?');
  let p = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q);
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) return fail('path contains a control, space, non-ASCII or "#" character');
  }
  // Fast path: nothing to normalise.
  if (p.indexOf('%') < 0 && p.indexOf('\\') < 0 && p.indexOf('//') < 0 && p.indexOf('/.') < 0) {
    return { ok: true, path: p, forward: raw };
  }
  if (p.indexOf('%') >= 0) {
    const r = decodePercents(p, opts.escapedSlashes ?? 'reject');
    if (typeof r !== 'string') return r;
    p = r;
  }
  if (p.indexOf('\\') >= 0) p = p.replace(/\\/g, '/');
  if (opts.mergeSlashes ?? true) p = p.replace(/\/{2,}/g, '/');
  p = removeDotSegments(p);
  return { ok: true, path: p, forward: p + query };
}

function decodePercents(p: string, action: EscapedSlashesAction): string | NormalizedPath {
  let out = '';
  let last = 0;
  for (let i = p.indexOf('%'); i >= 0; i = p.indexOf('%', i + 1)) {
    const hex = p.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return fail(`invalid percent-encoding at offset ${i}`);
    const code = parseInt(hex, 16);
    let rep: string;
    if (isUnreserved(code)) rep = String.fromCharCode(code);
    else if (code === 0x2f || code === 0x5c) {
      if (action === 'reject') return fail(`encoded slash %${hex.toUpperCase()} is not allowed`);
      rep = action === 'unescape' ? '/' : `%${hex.toUpperCase()}`;
    } else if (code < 0x20 || code === 0x7f || code === 0) return fail(`encoded control character %${hex.toUpperCase()}`);
    else rep = `%${hex.toUpperCase()}`;
    out += p.slice(last, i) + rep;
    last = i + 3;
    i += 2;
  }
  return out + p.slice(last);
}

/** RFC 3986 §5.2.4 for an absolute path. */
export function removeDotSegments(path: string): string {
  if (path.indexOf('/.') < 0) return path;
  const segs = path.split('/');
  const out: string[] = [];
  const n = segs.length;
  for (let i = 1; i < n; i++) {
    const s = segs[i]!;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (i === n - 1) out.push('');
    } else out.push(s);
  }
  return '/' + out.join('/');
}

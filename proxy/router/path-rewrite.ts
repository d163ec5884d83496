// Envoy's path rewrites, shared by forwarding (RouteAction) and redirects
// (RedirectAction): prefix_rewrite replaces the part of the path the route's
// prefix matched; regex_rewrite replaces every match of a pattern. Envoy's
// substitution strings use RE2's syntax (`\1` is capture group 1, `\\` a
// backslash), not JavaScript's `$1`: they are compiled into a replacer here, so
// a `$` in a substitution is a literal dollar as it is in Envoy.

export type Replacer = (match: string, ...rest: unknown[]) => string;

export interface CompiledPathRewrite {
  readonly prefix: string | undefined;
  readonly regex: { readonly re: RegExp; readonly replace: Replacer } | undefined;
}

/** What is wrong with an RE2 substitution string, or undefined when it is valid for `groups` capture groups. */
export function substitutionProblem(substitution: string, groups: number): string | undefined {
  for (let i = 0; i < substitution.length; i++) {
    if (substitution[i] !== '\\') continue;
    const next = substitution[++i];
    if (next === '\\') continue;
    if (next === undefined || next < '0' || next > '9') return `"\\${next ?? ''}" is not a valid escape (use \\0–\\9 for capture groups, \\\\ for a backslash)`;
    if (Number(next) > groups) return `\\${next} names capture group ${next}, but the pattern has ${groups}`;
  }
  return undefined;
}

/** The number of capture groups in a (valid) JavaScript pattern. */
export function captureGroups(pattern: string): number {
  return new RegExp(`(?:${pattern})|`, 'u').exec('')!.length - 1;
}

/** RE2 substitution → replacer; expects a string that substitutionProblem accepted. */
export function compileSubstitution(substitution: string): Replacer {
  if (!substitution.includes('\\')) return () => substitution;
  const parts: (string | number)[] = [];
  let lit = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i]!;
    if (c !== '\\') {
      lit += c;
      continue;
    }
    const next = substitution[++i] ?? '';
    if (next >= '0' && next <= '9') {
      parts.push(lit, Number(next));
      lit = '';
    } else lit += next;
  }
  parts.push(lit);
  return (match, ...rest) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p === 0 ? match : ((rest[p - 1] as string | undefined) ?? '');
    return out;
  };
}

export function compilePathRewrite(prefixRewrite: string | undefined, regexRewrite: { pattern: string; substitution: string } | undefined): CompiledPathRewrite {
  return {
    prefix: prefixRewrite,
    regex: regexRewrite ? { re: new RegExp(regexRewrite.pattern, 'gu'), replace: compileSubstitution(regexRewrite.substitution) } : undefined,
  };
}

/** The rewritten path (no query); `matchedLength` is how much of it the route's prefix matched. */
export function rewritePathOnly(rw: CompiledPathRewrite, path: string, matchedLength: number): string {
  let p = path;
  if (rw.prefix !== undefined) p = rw.prefix + path.slice(matchedLength);
  else if (rw.regex) p = path.replace(rw.regex.re, rw.regex.replace);
  // A request line needs a path: a rewrite that removes everything leaves "/".
  return p === '' ? '/' : p;
}

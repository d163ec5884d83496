import { describe, expect, it } from 'vitest';
import { captureGroups, compilePathRewrite, compileSubstitution, rewritePathOnly, substitutionProblem } from '../path-rewrite.js';

describe('RE2 substitutions (Envoy regex_rewrite)', () => {
  it('replaces \\N with capture group N, \\0 with the whole match, and keeps $ literal', () => {
    const sub = (pattern: string, substitution: string, path: string) => path.replace(new RegExp(pattern, 'gu'), compileSubstitution(substitution));
    expect(sub('^/pkg\\.Service/(.*)$', '/\\1', '/pkg.Service/Get')).toBe('/Get');
    expect(sub('/(a)(b)?', '[\\0|\\2|\\1]', '/a')).toBe('[/a||a]');
    expect(sub('x', '$1$&\\\\', 'axb')).toBe('a$1$&\\b');
    expect(sub('o', '0', '/foo/boo')).toBe('/f00/b00'); // every match, as Envoy's GlobalReplace
  });

  it('names what is wrong with a substitution', () => {
    expect(substitutionProblem('/\\1', 1)).toBeUndefined();
    expect(substitutionProblem('/\\2', 1)).toBe('\\2 names capture group 2, but the pattern has 1');
    expect(substitutionProblem('/\\x', 3)).toMatch(/"\\x" is not a valid escape/);
    expect(substitutionProblem('/end\\', 0)).toMatch(/not a valid escape/);
    expect(captureGroups('^/(a)/(?:b)/(c)')).toBe(2);
  });
});

describe('path rewrites', () => {
  it('prefix_rewrite replaces what the prefix matched; an emptied path becomes /', () => {
    expect(rewritePathOnly(compilePathRewrite('/v2', undefined), '/v1/users', 3)).toBe('/v2/users');
    expect(rewritePathOnly(compilePathRewrite('', undefined), '/api', 4)).toBe('/');
    expect(rewritePathOnly(compilePathRewrite(undefined, { pattern: '^/strip(/.*)?$', substitution: '\\1' }), '/strip', 0)).toBe('/');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RbacRules } from '../../config/resources.js';
import { compileRbac, type RbacRequest } from '../authz.js';
import { normalizePath, removeDotSegments } from '../normalize-path.js';

const TD = 'spiffe://cluster.local';
function req(path: string, method = 'GET', principal?: string, headers: Record<string, string> = {}): RbacRequest {
  return { path, method, principal, header: (n) => headers[n] };
}

describe('compileRbac (Envoy RBAC semantics)', () => {
  const allowFrontend: RbacRules = {
    action: 'ALLOW',
    policies: {
      'frontend-reads': {
        principals: [{ authenticated: { prefix: `${TD}/ns/web/` } }],
        permissions: [{ andRules: [{ urlPath: { prefix: '/api/' } }, { header: { name: ':method', stringMatch: { exact: 'GET' } } }] }],
      },
    },
  };
  const denyAdmin: RbacRules = {
    action: 'DENY',
    policies: { 'no-admin': { principals: [{ any: true }], permissions: [{ urlPath: { prefix: '/api/admin' } }] } },
  };

  it('allows what an ALLOW policy matches and default-denies the rest', () => {
    const e = compileRbac([allowFrontend]);
    expect(e.evaluate(req('/api/items', 'GET', `${TD}/ns/web/sa/frontend`))).toEqual({ allowed: true });
    expect(e.evaluate(req('/api/items', 'POST', `${TD}/ns/web/sa/frontend`))).toEqual({ allowed: false, policy: undefined, reason: 'no ALLOW policy matched' });
    expect(e.evaluate(req('/api/items', 'GET', `${TD}/ns/other/sa/x`)).allowed).toBe(false);
    expect(e.evaluate(req('/api/items', 'GET', undefined)).allowed).toBe(false); // plaintext has no principal
  });

  it('checks DENY before ALLOW, whatever the filter order', () => {
    const e = compileRbac([allowFrontend, denyAdmin]);
    expect(e.evaluate(req('/api/admin/users', 'GET', `${TD}/ns/web/sa/frontend`))).toEqual({
      allowed: false,
      policy: 'no-admin',
      reason: 'denied by policy no-admin',
    });
    expect(e.evaluate(req('/api/items', 'GET', `${TD}/ns/web/sa/frontend`)).allowed).toBe(true);
  });

  it('an empty ALLOW set denies everything (default-deny); no rules allow everything', () => {
    expect(compileRbac([{ action: 'ALLOW', policies: {} }]).evaluate(req('/', 'GET', `${TD}/ns/a/sa/b`)).allowed).toBe(false);
    expect(compileRbac([]).evaluate(req('/')).allowed).toBe(true);
    expect(compileRbac([denyAdmin]).evaluate(req('/x')).allowed).toBe(true);
  });

  it('supports not/or, header presence and inversion, and any-authenticated', () => {
    const rules: RbacRules = {
      action: 'ALLOW',
      policies: {
        p: {
          principals: [{ andIds: [{ authenticated: {} }, { notId: { authenticated: { exact: `${TD}/ns/a/sa/banned` } } }] }],
          permissions: [
            { orRules: [{ urlPath: { exact: '/health' } }, { header: { name: 'x-debug', presentMatch: true } }] },
            { andRules: [{ urlPath: { suffix: '.json' } }, { header: { name: 'x-env', stringMatch: { exact: 'prod' }, invertMatch: true } }] },
          ],
        },
      },
    };
    const e = compileRbac([rules]);
    const ok = `${TD}/ns/a/sa/ok`;
    expect(e.evaluate(req('/health', 'GET', ok)).allowed).toBe(true);
    expect(e.evaluate(req('/health', 'GET', `${TD}/ns/a/sa/banned`)).allowed).toBe(false);
    expect(e.evaluate(req('/health', 'GET', undefined)).allowed).toBe(false);
    expect(e.evaluate(req('/x', 'GET', ok, { 'x-debug': '1' })).allowed).toBe(true);
    expect(e.evaluate(req('/x', 'GET', ok)).allowed).toBe(false);
    expect(e.evaluate(req('/a.json', 'GET', ok, { 'x-env': 'dev' })).allowed).toBe(true);
    expect(e.evaluate(req('/a.json', 'GET', ok)).allowed).toBe(true); // absent header, inverted → match
    expect(e.evaluate(req('/a.json', 'GET', ok, { 'x-env': 'prod' })).allowed).toBe(false);
  });

  it('a deny on /admin cannot be bypassed with dot segments, encodings or slashes once the path is normalised', () => {
    const e = compileRbac([{ action: 'DENY', policies: { d: { principals: [{ any: true }], permissions: [{ urlPath: { prefix: '/admin' } }] } } }]);
    for (const raw of ['/public/../admin', '/%61dmin', '//admin', '/./admin', '/public/%2e%2e/admin', '/x/..\\admin']) {
      const n = normalizePath(raw);
      expect(n.ok, raw).toBe(true);
      if (n.ok) expect(e.evaluate(req(n.path)).allowed, raw).toBe(false);
    }
    expect(normalizePath('/x%2F..%2Fadmin')).toEqual({ ok: false, reason: 'encoded slash %2F is not allowed' });
  });
});

describe('normalizePath', () => {
  it('normalises like Envoy (normalize_path + merge_slashes)', () => {
    const cases: [string, string][] = [
      ['/a/b/../c', '/a/c'],
      ['/a/./b/.', '/a/b/'],
      ['/../..', '/'],
      ['/a//b///c', '/a/b/c'],
      ['/%7euser/%41%2d', '/~user/A-'],
      ['/a%20b', '/a%20b'],
      ['/a%3fb', '/a%3Fb'],
      ['/a\\b', '/a/b'],
    ];
    for (const [raw, want] of cases) expect(normalizePath(raw), raw).toEqual({ ok: true, path: want, forward: want });
    expect(normalizePath('/a/../b?x=/../y')).toEqual({ ok: true, path: '/b', forward: '/b?x=/../y' });
    expect(normalizePath('/plain?q=1')).toEqual({ ok: true, path: '/plain', forward: '/plain?q=1' });
  });

  it('handles encoded slashes per the configured action', () => {
    expect(normalizePath('/a%5Cb').ok).toBe(false);
    expect(normalizePath('/a%2fb/..', { escapedSlashes: 'unescape' })).toEqual({ ok: true, path: '/a/', forward: '/a/' });
    expect(normalizePath('/a%2fb', { escapedSlashes: 'keep' })).toEqual({ ok: true, path: '/a%2Fb', forward: '/a%2Fb' });
  });

  it('rejects malformed input', () => {
    for (const raw of ['', 'a/b', '/a%zz', '/a%2', '/a b', '/a#frag', '/\u00e9', '/a%00', '/' + 'a'.repeat(9000)]) {
      expect(normalizePath(raw).ok, JSON.stringify(raw.slice(0, 20))).toBe(false);
    }
  });

  it('fuzz: never throws; output is canonical, idempotent and has no dot segments or empty segments', () => {
    const chars = fc.constantFrom('/', '.', 'a', 'B', '%', '2', 'e', 'E', 'f', 'F', '5', 'c', '\\', '?', '~', '-', '0');
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 40 }), (tail) => {
        const raw = '/' + tail;
        const n = normalizePath(raw, { escapedSlashes: 'unescape' });
        if (!n.ok) return;
        expect(n.path.startsWith('/')).toBe(true);
        expect(n.path).not.toMatch(/\/\.\.?(\/|$)/);
        expect(n.path).not.toContain('//');
        expect(n.path).not.toContain('\\');
        expect(n.path).not.toContain('?');
        expect(normalizePath(n.path, { escapedSlashes: 'unescape' })).toMatchObject({ ok: true, path: n.path });
        expect(n.forward.startsWith(n.path)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('removeDotSegments matches RFC 3986 §5.4 examples', () => {
    expect(removeDotSegments('/a/b/c/./../../g')).toBe('/a/g');
    expect(removeDotSegments('/b/c/d;p/../../../g')).toBe('/g');
    expect(removeDotSegments('/a/b/..')).toBe('/a/');
  });
});

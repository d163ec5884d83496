import { describe, expect, it } from 'vitest';
import { redirectLocation, type RedirectRequest } from '../redirect.js';
import type { CompiledRedirect } from '../route-table.js';
import { compilePathRewrite } from '../path-rewrite.js';

const redirect = (over: Partial<CompiledRedirect>): CompiledRedirect => ({
  scheme: undefined,
  host: undefined,
  port: undefined,
  path: undefined,
  pathRewrite: undefined,
  status: 302,
  stripQuery: false,
  ...over,
});
const req = (over: Partial<RedirectRequest> = {}): RedirectRequest => ({ authority: 'api:8080', path: '/old/x', query: 'a=1', scheme: 'http', matchedLength: 4, ...over });

describe('redirect Location (Envoy RedirectAction semantics)', () => {
  it('keeps every part the route does not replace', () => {
    expect(redirectLocation(redirect({}), req())).toBe('http://api:8080/old/x?a=1');
    expect(redirectLocation(redirect({ host: 'new.example.com' }), req())).toBe('http://new.example.com/old/x?a=1');
    expect(redirectLocation(redirect({ stripQuery: true }), req())).toBe('http://api:8080/old/x');
  });

  it('replaces the path whole, or the matched prefix, and a query in the new path wins', () => {
    expect(redirectLocation(redirect({ path: '/new' }), req())).toBe('http://api:8080/new?a=1');
    expect(redirectLocation(redirect({ path: '/new?b=2' }), req())).toBe('http://api:8080/new?b=2');
    expect(redirectLocation(redirect({ pathRewrite: compilePathRewrite('/v2', undefined) }), req())).toBe('http://api:8080/v2/x?a=1');
  });

  it('ports: a redirected port replaces the request one, and a scheme default is left out', () => {
    expect(redirectLocation(redirect({ port: 9090 }), req())).toBe('http://api:9090/old/x?a=1');
    expect(redirectLocation(redirect({ port: 80 }), req())).toBe('http://api/old/x?a=1');
    expect(redirectLocation(redirect({ scheme: 'https', port: 443 }), req())).toBe('https://api/old/x?a=1');
    expect(redirectLocation(redirect({ scheme: 'https', port: 8443 }), req({ authority: 'api' }))).toBe('https://api:8443/old/x?a=1');
  });

  it("a scheme change drops the old scheme's default port and keeps any other", () => {
    expect(redirectLocation(redirect({ scheme: 'https' }), req({ authority: 'api:80' }))).toBe('https://api/old/x?a=1');
    expect(redirectLocation(redirect({ scheme: 'https' }), req({ authority: 'api:8080' }))).toBe('https://api:8080/old/x?a=1');
    expect(redirectLocation(redirect({ scheme: 'http' }), req({ authority: 'api:443', scheme: 'https' }))).toBe('http://api/old/x?a=1');
  });

  it('IPv6 authorities keep their brackets', () => {
    expect(redirectLocation(redirect({ port: 81 }), req({ authority: '[::1]:8080' }))).toBe('http://[::1]:81/old/x?a=1');
    expect(redirectLocation(redirect({}), req({ authority: '[::1]' }))).toBe('http://[::1]/old/x?a=1');
  });
});

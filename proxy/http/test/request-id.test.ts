import { describe, expect, it } from 'vitest';
import { isHopByHop, isProxySet } from '../headers.js';
import { newRequestId } from '../request-id.js';

describe('newRequestId', () => {
  it('makes version-4 UUIDs, all different, across several refills of its random buffer', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const id = newRequestId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2_000);
  });

  it('returns a string that later ids do not change (the buffer it is written in is reused)', () => {
    const a = newRequestId();
    const copy = `${a}`;
    newRequestId();
    expect(a).toBe(copy);
  });
});

describe('hop-by-hop and proxy-set header names', () => {
  it('knows exactly the connection-specific names (RFC 9110 §7.6.1, plus host and expect)', () => {
    const hop = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings', 'host', 'expect'];
    for (const n of hop) expect(isHopByHop(n)).toBe(true);
    for (const n of ['content-type', 'content-length', 'tf', 'hosts', 'trailers', 'upgrades', 'x-request-id', 'accept', 'cookie', '']) expect(isHopByHop(n)).toBe(false);
    expect(isProxySet('x-envoy-attempt-count')).toBe(true);
    expect(isProxySet('x-forwarded-client-cert')).toBe(true);
    expect(isProxySet('x-forwarded-for')).toBe(false);
    expect(isProxySet('x-envoy-attempt-counts')).toBe(false);
  });
});

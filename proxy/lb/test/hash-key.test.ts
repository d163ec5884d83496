import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HashPolicy } from '../../config/resources.js';
import { affinityCookie, computeHashKey, cookieValue, MAX_HASH_INPUT, queryValue } from '../hash-key.js';
import { RingHashBalancer } from '../ring-hash.js';
import { hosts } from './helpers.js';

describe('computeHashKey', () => {
  const req = {
    headers: { 'x-user': 'alice', cookie: 'a=1; session="s-42"; b=2', 'x-multi': ['p', 'q'] },
    path: '/cart?item=7&user=bob&flag',
    sourceIp: '10.1.2.3',
  };

  it('takes the value of a header, cookie, query parameter or the source IP', () => {
    expect(computeHashKey([{ header: { headerName: 'x-user' } }], req)).toBe('alice');
    expect(computeHashKey([{ header: { headerName: 'x-multi' } }], req)).toBe('p,q');
    expect(computeHashKey([{ cookie: { name: 'session' } }], req)).toBe('s-42');
    expect(computeHashKey([{ queryParameter: { name: 'user' } }], req)).toBe('bob');
    expect(computeHashKey([{ queryParameter: { name: 'flag' } }], req)).toBe('');
    expect(computeHashKey([{ connectionProperties: { sourceIp: true } }], req)).toBe('10.1.2.3');
  });

  it('skips policies without a value, combines the rest, and stops at a terminal policy', () => {
    const ps: HashPolicy[] = [
      { header: { headerName: 'x-missing' } },
      { header: { headerName: 'x-user' }, terminal: true },
      { connectionProperties: { sourceIp: true } },
    ];
    expect(computeHashKey(ps, req)).toBe('alice');
    expect(computeHashKey([{ header: { headerName: 'x-user' } }, { cookie: { name: 'a' } }], req)).toBe('alice\u00001');
    expect(computeHashKey([{ header: { headerName: 'x-missing' } }], req)).toBeUndefined();
    expect(computeHashKey([], req)).toBeUndefined();
  });

  it('bounds the length of untrusted values', () => {
    const long = 'x'.repeat(100_000);
    expect(computeHashKey([{ header: { headerName: 'h' } }], { headers: { h: long }, path: '/' })!.length).toBe(MAX_HASH_INPUT);
  });

  it('asks to set an affinity cookie when a cookie policy has a ttl and the request has none', () => {
    const ps: HashPolicy[] = [{ cookie: { name: 'affinity', ttl: 3_600_000, path: '/' } }];
    expect(affinityCookie(ps, { headers: {}, path: '/' }, 'abc')).toBe('affinity="abc"; Max-Age=3600; Path=/; HttpOnly');
    expect(affinityCookie(ps, { headers: { cookie: 'affinity=abc' }, path: '/' }, 'abc')).toBeUndefined();
    expect(affinityCookie([{ cookie: { name: 'affinity' } }], { headers: {}, path: '/' }, 'abc')).toBeUndefined();
  });
});

describe('cookie and query parsing at the trust boundary (property)', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
  const value = fc.stringMatching(/^[A-Za-z0-9_.-]{0,20}$/);

  it('finds every cookie of a well-formed header, and never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(token, value), { selector: (t) => t[0], maxLength: 8 }), (pairs) => {
        const header = pairs.map(([k, v]) => `${k}=${v}`).join('; ');
        for (const [k, v] of pairs) expect(cookieValue(header, k)).toBe(v);
        expect(cookieValue(header, 'not-there-zz')).toBeUndefined();
      }),
    );
    fc.assert(
      fc.property(fc.string(), fc.string(), (h, n) => {
        const v = cookieValue(h, n);
        expect(v === undefined || h.includes(v)).toBe(true);
      }),
    );
  });

  it('finds every query parameter of a well-formed path, and never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(token, value), { selector: (t) => t[0], maxLength: 8 }), (pairs) => {
        const path = `/p?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`;
        for (const [k, v] of pairs) expect(queryValue(path, k)).toBe(v);
      }),
    );
    fc.assert(fc.property(fc.string(), fc.string(), (p, n) => void queryValue(p, n)));
  });
});

describe('ring hash stability (property)', () => {
  // Holds whenever the ring's points per unit weight (a power of two ≥ minimumRingSize / total
  // weight) is the same before and after, e.g. 5→4 … 7→6 and 10→9 … 15→14 hosts at the default
  // minimum of 1024; across such a boundary the remaining hosts gain points and some keys move.
  it('removing any one host moves only that host’s keys', () => {
    fc.assert(
      fc.property(fc.constantFrom(5, 6, 7, 10, 11, 12, 13, 14, 15), fc.nat(), fc.array(fc.string(), { minLength: 1, maxLength: 50 }), (n, r, keys) => {
        const hs = hosts(n);
        const gone = r % n;
        const full = new RingHashBalancer(hs);
        const less = new RingHashBalancer(hs.filter((_, i) => i !== gone));
        for (const k of keys) {
          const before = full.pick({ hashKey: k })!;
          if (before !== hs[gone]) expect(less.pick({ hashKey: k })).toBe(before);
        }
      }),
      { numRuns: 60 },
    );
  });
});

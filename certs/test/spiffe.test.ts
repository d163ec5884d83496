import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatWorkloadId, InvalidSpiffeIdError, isValidSpiffeId, parseSpiffeId, parseWorkloadId } from '../spiffe.js';

describe('SPIFFE IDs', () => {
  it('parses and formats workload IDs', () => {
    expect(parseWorkloadId('spiffe://cluster.local/ns/default/sa/web')).toEqual({
      uri: 'spiffe://cluster.local/ns/default/sa/web',
      trustDomain: 'cluster.local',
      path: '/ns/default/sa/web',
      namespace: 'default',
      serviceAccount: 'web',
    });
    expect(formatWorkloadId('example.org', 'shop', 'cart')).toBe('spiffe://example.org/ns/shop/sa/cart');
    expect(parseSpiffeId('spiffe://example.org')).toMatchObject({ trustDomain: 'example.org', path: '' });
  });

  it('rejects invalid IDs with a reason', () => {
    const bad: [string, RegExp][] = [
      ['SPIFFE://td/ns/a/sa/b', /scheme/],
      ['spiffe://TD/ns/a/sa/b', /lowercase/],
      ['spiffe:///ns/a/sa/b', /trust domain is empty/],
      ['spiffe://td//ns', /empty segment/],
      ['spiffe://td/ns/', /trailing slash|empty/],
      ['spiffe://td/ns/../sa', /"\." or "\.\."/],
      ['spiffe://td/a b', /path segments/],
      ['spiffe://td:8080/x', /trust domain/],
      ['spiffe://user@td/x', /trust domain/],
      ['spiffe://td/x?q', /path segments/],
      ['spiffe://td/x#f', /path segments/],
      ['spiffe://' + 'a'.repeat(256), /longer than 255/],
      ['spiffe://td/' + 'a'.repeat(2100), /longer than 2048/],
    ];
    for (const [id, why] of bad) {
      expect(() => parseSpiffeId(id), id).toThrow(InvalidSpiffeIdError);
      expect(() => parseSpiffeId(id), id).toThrow(why);
    }
    expect(() => parseWorkloadId('spiffe://td/ns/a')).toThrow(/\/ns\/<namespace>\/sa\/<service-account>/);
    expect(() => formatWorkloadId('td', 'a/b', 'c')).toThrow(InvalidSpiffeIdError);
  });

  it('fuzz: never throws anything but InvalidSpiffeIdError; accepted IDs round-trip and obey the rules', () => {
    const unit = fc.constantFrom('s', 'p', 'i', 'f', 'e', ':', '/', '.', 'A', 'a', '-', '_', '%', ' ', '@', '9');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit, maxLength: 40 }).map((s) => 'spiffe://' + s), fc.string({ maxLength: 60 })), (input) => {
        let id;
        try {
          id = parseSpiffeId(input);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidSpiffeIdError);
          return;
        }
        expect(id.uri).toBe(input);
        expect(id.trustDomain).toMatch(/^[a-z0-9._-]+$/);
        expect(`spiffe://${id.trustDomain}${id.path}`).toBe(input);
        for (const seg of id.path.split('/').slice(1)) {
          expect(seg).not.toBe('');
          expect(['.', '..']).not.toContain(seg);
        }
        expect(isValidSpiffeId(input)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

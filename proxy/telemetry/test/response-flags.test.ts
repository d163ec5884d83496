import { describe, expect, it } from 'vitest';
import { FLAG_BIT, responseFlagsOf, responseFlagsText } from '../response-flags.js';

describe('response flags', () => {
  it('a bitset reads back in Envoy order, comma-joined as %RESPONSE_FLAGS% prints it', () => {
    const bits = FLAG_BIT.URX | FLAG_BIT.UF;
    expect(responseFlagsOf(bits)).toEqual(['UF', 'URX']);
    expect(responseFlagsText(responseFlagsOf(bits))).toBe('UF,URX');
    expect(responseFlagsText(responseFlagsOf(FLAG_BIT.DI | FLAG_BIT.UT))).toBe('UT,DI');
    expect(responseFlagsText(responseFlagsOf(FLAG_BIT.UO))).toBe('UO');
    expect(responseFlagsText(responseFlagsOf(0))).toBe('-');
  });

  it('every flag has its own bit, and a flag set twice is recorded once', () => {
    const bits = Object.values(FLAG_BIT);
    expect(new Set(bits).size).toBe(bits.length);
    expect(responseFlagsOf(FLAG_BIT.DC | FLAG_BIT.DC)).toEqual(['DC']);
  });

  it('the list for a bitset is built once and shared (no allocation per request)', () => {
    const a = responseFlagsOf(FLAG_BIT.UT | FLAG_BIT.URX);
    expect(responseFlagsOf(FLAG_BIT.UT | FLAG_BIT.URX)).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(responseFlagsOf(0)).toBe(responseFlagsOf(0));
  });
});

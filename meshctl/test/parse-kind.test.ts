import { describe, expect, it } from 'vitest';
import { parseKind } from '../commands/policies.js';

describe('meshctl kind names', () => {
  it("takes a kind in any case, its plural as kubectl spells it, or Istio's short name", () => {
    expect(parseKind('httproute')).toBe('HTTPRoute');
    expect(parseKind('HTTPRoutes')).toBe('HTTPRoute');
    expect(parseKind('faultpolicies')).toBe('FaultPolicy');
    expect(parseKind('RateLimitPolicy')).toBe('RateLimitPolicy');
    expect(parseKind('canaries')).toBe('Canary');
    expect(parseKind('serviceentries')).toBe('ServiceEntry');
    expect(parseKind('se')).toBe('ServiceEntry');
    expect(() => parseKind('virtualservices')).toThrow(/unknown kind "virtualservices"; kinds: HTTPRoute, GRPCRoute, DestinationPolicy/);
  });
});

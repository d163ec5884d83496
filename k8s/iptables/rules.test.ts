import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../common/errors.js';
import { buildRedirectRules, parseRedirectArgs, redirectArgs, renderIptablesRestore } from './rules.js';

describe('redirect rules', () => {
  it('default rule set (as istio-init writes it, with tsmesh chain names)', () => {
    expect(renderIptablesRestore()).toBe(`*nat
:TSMESH_INBOUND - [0:0]
:TSMESH_IN_REDIRECT - [0:0]
:TSMESH_OUTPUT - [0:0]
:TSMESH_REDIRECT - [0:0]
-A TSMESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A TSMESH_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A PREROUTING -p tcp -j TSMESH_INBOUND
-A TSMESH_INBOUND -p tcp --dport 22 -j RETURN
-A TSMESH_INBOUND -p tcp --dport 15000 -j RETURN
-A TSMESH_INBOUND -p tcp --dport 15021 -j RETURN
-A TSMESH_INBOUND -p tcp --dport 15090 -j RETURN
-A TSMESH_INBOUND -p tcp -j TSMESH_IN_REDIRECT
-A OUTPUT -p tcp -j TSMESH_OUTPUT
-A TSMESH_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
-A TSMESH_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner 1337 -j TSMESH_IN_REDIRECT
-A TSMESH_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A TSMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A TSMESH_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner 1337 -j TSMESH_IN_REDIRECT
-A TSMESH_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A TSMESH_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A TSMESH_OUTPUT -d 127.0.0.1/32 -j RETURN
-A TSMESH_OUTPUT -j TSMESH_REDIRECT
COMMIT
`);
  });

  it('port and CIDR exclusions, include lists', () => {
    const r = buildRedirectRules({
      includeInboundPorts: [9080, 15021],
      excludeInboundPorts: [15021],
      excludeOutboundPorts: [6379, 5432],
      excludeOutboundCidrs: ['169.254.169.254/32'],
      includeOutboundCidrs: ['10.0.0.0/8'],
    });
    expect(r).toContain('-A TSMESH_INBOUND -p tcp --dport 9080 -j TSMESH_IN_REDIRECT');
    expect(r.filter((l) => l.includes('15021'))).toEqual([]);
    expect(r.filter((l) => l.startsWith('-A TSMESH_INBOUND')).length).toBe(1);
    const out = r.filter((l) => l.startsWith('-A TSMESH_OUTPUT')).slice(-4);
    expect(out).toEqual([
      '-A TSMESH_OUTPUT -p tcp --dport 5432 -j RETURN',
      '-A TSMESH_OUTPUT -p tcp --dport 6379 -j RETURN',
      '-A TSMESH_OUTPUT -d 169.254.169.254/32 -j RETURN',
      '-A TSMESH_OUTPUT -d 10.0.0.0/8 -j TSMESH_REDIRECT',
    ]);
  });

  it('no inbound chain hookup when no inbound port is included', () => {
    expect(buildRedirectRules({ includeInboundPorts: [] }).some((l) => l.startsWith('-A PREROUTING'))).toBe(false);
  });

  it('round-trips through the init container arguments', () => {
    const cfg = parseRedirectArgs(redirectArgs({ outboundPort: 16001, excludeOutboundPorts: [53], excludeOutboundCidrs: ['10.96.0.10/32'], includeInboundPorts: '*' }));
    expect(cfg.outboundPort).toBe(16001);
    expect(cfg.excludeOutboundPorts).toEqual([53]);
    expect(cfg.excludeOutboundCidrs).toEqual(['10.96.0.10/32']);
  });

  it('rejects bad ports, CIDRs, root UID and unknown flags with the field', () => {
    expect(() => buildRedirectRules({ outboundPort: 70000 })).toThrow(/outboundPort: 70000 is not a port/);
    expect(() => buildRedirectRules({ excludeOutboundCidrs: ['10.0.0.0/33'] })).toThrow(/excludeOutboundCidrs\[0\]/);
    expect(() => buildRedirectRules({ proxyUid: 0 })).toThrow(/proxyUid/);
    expect(() => parseRedirectArgs(['--bogus=1'])).toThrow(ValidationError);
    expect(() => parseRedirectArgs(['--exclude-outbound-ports=80,x'])).toThrow(/excludeOutboundPorts\[1\]/);
  });
});

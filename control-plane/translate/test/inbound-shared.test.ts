// Under a round memo, a proxy whose inbound listener did not change keeps
// last round's object (so nothing per proxy is serialized again), and any
// change — an authorization policy that now applies, a new address — gives
// it a new listener equal to what a translation without the memo gives.
import { describe, expect, it } from 'vitest';
import type { ResourceMaps } from '../../../proxy/config/resources.js';
import { parsePolicies } from '../../policy/parse.js';
import { DEFAULT_MESH_CONFIG, type Policy } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate, TranslateMemo } from '../index.js';

const registry = new EmbeddedRegistry();
registry.registerFromNode({ id: 'api-0', cluster: 'api', metadata: { inboundAddress: '10.0.0.1', inboundPort: 15006, appPort: 8080 } });
registry.registerFromNode({ id: 'api-1', cluster: 'api', metadata: { inboundAddress: '10.0.0.2', inboundPort: 15006, appPort: 8080 } });
const nodeAt = (address: string) => readNodeRegistration({ id: 'api-0', cluster: 'api', metadata: { inboundAddress: address, inboundPort: 15006, appPort: 8080 } });
const deps = new Set<string>();
const input = (policies: Policy[], address = '10.0.0.1') => ({ policies, registry, mesh: DEFAULT_MESH_CONFIG, node: nodeAt(address), dependencies: deps });
const inbound = (r: ResourceMaps) => r.listener.get('virtualInbound')!;

const allowWeb = parsePolicies(
  `apiVersion: tsmesh.io/v1alpha1
kind: AuthorizationPolicy
metadata: { name: api-callers }
spec:
  targetRef: { kind: Service, name: api }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/web] } }]
`,
  'authz.yaml',
).map((b) => b.policy);

describe('inbound listener under a round memo', () => {
  it('is kept while unchanged and rebuilt (equal to an unmemoized translation) when its policies or address change', () => {
    const first = translate(input([])); // a proxy's first config: computed without a memo
    const round1 = translate(input([]), new TranslateMemo(), first);
    expect(inbound(round1)).toBe(inbound(first));
    const round2 = translate(input([]), new TranslateMemo(), round1);
    expect(inbound(round2)).toBe(inbound(first));

    const withPolicy = translate(input(allowWeb), new TranslateMemo(), round2);
    expect(inbound(withPolicy)).not.toBe(inbound(first));
    expect(withPolicy).toEqual(translate(input(allowWeb)));
    expect(JSON.stringify(inbound(withPolicy))).toContain('tsmesh.rbac.allow');
    expect(inbound(translate(input(allowWeb), new TranslateMemo(), withPolicy))).toBe(inbound(withPolicy));

    const moved = translate(input(allowWeb, '10.0.0.9'), new TranslateMemo(), withPolicy);
    expect(inbound(moved)).not.toBe(inbound(withPolicy));
    expect(inbound(moved).address).toEqual({ address: '10.0.0.9', port: 15006 });
    expect(moved).toEqual(translate(input(allowWeb, '10.0.0.9')));
  });
});

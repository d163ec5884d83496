// The protocol one sidecar speaks to the next: the caller's own to an HTTP/1.1
// service (HTTP/1.1 only with h2UpgradePolicy: DO_NOT_UPGRADE, see hopProtocol),
// HTTP/2 to gRPC and HTTP/2 services, DestinationPolicy's h2UpgradePolicy /
// useClientProtocol to change it; the hop's TLS offers exactly the protocols the
// cluster may speak.
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../../proxy/config/resources.js';
import { parsePolicies } from '../../policy/parse.js';
import { DEFAULT_MESH_CONFIG } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate } from '../index.js';

const registry = new EmbeddedRegistry();
const meta = (address: string, protocol: string) => ({ inboundAddress: address, inboundPort: 15006, appPort: 8080, protocol });
registry.registerFromNode({ id: 'web-0', cluster: 'web', metadata: meta('10.0.0.1', 'http') });
registry.registerFromNode({ id: 'api-0', cluster: 'api', metadata: meta('10.0.0.2', 'http') });
registry.registerFromNode({ id: 'store-0', cluster: 'store', metadata: meta('10.0.0.3', 'grpc') });
const web = readNodeRegistration({ id: 'web-0', cluster: 'web', metadata: meta('10.0.0.1', 'http') });

function clusters(policyYaml: string): { api: Cluster; store: Cluster } {
  const policies = policyYaml ? parsePolicies(policyYaml, 'p.yaml').map((b) => b.policy) : [];
  const out = translate({ policies, registry, mesh: DEFAULT_MESH_CONFIG, node: web, dependencies: new Set(['default/api', 'default/store']) });
  const find = (svc: string) => [...out.cluster.values()].find((c) => c.name.startsWith('outbound|') && c.name.endsWith(`|${svc}.default.svc.cluster.local`))!;
  return { api: find('api'), store: find('store') };
}

const policy = (connectionPool: string, service = 'api') => `apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: ${service} }
spec:
  targetRef: { kind: Service, name: ${service} }
  connectionPool: ${connectionPool}
`;

const hop = (c: Cluster) => [c.upstreamProtocol, c.transportSocket?.alpnProtocols];

describe('the protocol between sidecars', () => {
  it("is the client's protocol to an HTTP/1.1 service and HTTP/2 to a gRPC one by default", () => {
    const { api, store } = clusters('');
    expect(hop(api)).toEqual(['downstream', ['h2', 'http/1.1']]);
    expect(hop(clusters(policy('{ h2UpgradePolicy: DEFAULT }')).api)).toEqual(['downstream', ['h2', 'http/1.1']]);
    expect(hop(store)).toEqual(['http2', ['h2']]);
  });

  it('follows h2UpgradePolicy and useClientProtocol (which wins, as in Istio)', () => {
    expect(hop(clusters(policy('{ h2UpgradePolicy: UPGRADE }')).api)).toEqual(['http2', ['h2']]);
    expect(hop(clusters(policy('{ h2UpgradePolicy: DO_NOT_UPGRADE }')).api)).toEqual(['http1', ['http/1.1']]);
    expect(hop(clusters(policy('{ useClientProtocol: true }')).api)).toEqual(['downstream', ['h2', 'http/1.1']]);
    expect(hop(clusters(policy('{ useClientProtocol: true, h2UpgradePolicy: UPGRADE }')).api)).toEqual(['downstream', ['h2', 'http/1.1']]);
    // A gRPC service is HTTP/2 whatever the policy says.
    expect(hop(clusters(policy('{ h2UpgradePolicy: DO_NOT_UPGRADE, useClientProtocol: true }', 'store')).store)).toEqual(['http2', ['h2']]);
  });

  it('refuses a policy with a wrong value, saying where', () => {
    expect(() => parsePolicies(policy('{ h2UpgradePolicy: ALWAYS, useClientProtocol: "yes" }'), 'p.yaml')).toThrow(
      /p\.yaml:6: spec\.connectionPool\.h2UpgradePolicy: must be one of DEFAULT, DO_NOT_UPGRADE, UPGRADE; got "ALWAYS"[\s\S]*p\.yaml:6: spec\.connectionPool\.useClientProtocol: /,
    );
  });
});

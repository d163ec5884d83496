// PeerAuthentication: which inbound chains a workload gets (the plaintext one
// only where its mode is PERMISSIVE), with Istio's precedence — the
// workload's own policy over its namespace's over MeshConfig — and per app port.

import { describe, expect, it } from 'vitest';
import { parsePolicies } from '../../policy/parse.js';
import { refusalLines } from '../../policy/test/refusal.js';
import { DEFAULT_MESH_CONFIG } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate } from '../index.js';

const STRICT_MESH = { ...DEFAULT_MESH_CONFIG, mtls: { mode: 'STRICT' as const } };

const policies = parsePolicies(
  `apiVersion: tsmesh.io/v1alpha1
kind: PeerAuthentication
metadata: { name: legacy-ns, namespace: legacy }
spec:
  mtls: { mode: PERMISSIVE }
---
apiVersion: tsmesh.io/v1alpha1
kind: PeerAuthentication
metadata: { name: core, namespace: legacy }
spec:
  selector: { matchLabels: { app: core } }
  mtls: { mode: STRICT }
  portLevelMtls:
    9090: { mode: PERMISSIVE }
`,
  'pa.yaml',
).map((s) => s.policy);

/** The inbound chain names of a workload in `ns` labelled app=`app`, serving `ports` (intercepted when several). */
function inboundChains(ns: string, app: string, ports: number[] = [8080]): string[] {
  const registry = new EmbeddedRegistry();
  const metadata = {
    namespace: ns,
    inboundAddress: '10.0.0.5',
    inboundPort: 15006,
    appPort: ports[0]!,
    protocol: 'http',
    labels: { app },
    ...(ports.length > 1 ? { INTERCEPTION_MODE: 'REDIRECT' } : {}),
  };
  // Each further port: a Service of its own selecting the same pod (how an intercepted pod gets several app ports).
  const extra = ports.slice(1).map((p) => `  - { name: ${app}-${p}, namespace: ${ns}, ports: [{ port: ${p}, protocol: http }], endpoints: [{ address: 10.0.0.5, inboundPort: 15006, appPort: ${p}, serviceAccount: ${app} }] }`);
  if (extra.length) registry.setStaticEntries(parseServicesFile(`services:\n${extra.join('\n')}\n`, 'extra.yaml'));
  const node = readNodeRegistration({ id: `${app}-0`, cluster: app, metadata });
  registry.registerFromNode({ id: `${app}-0`, cluster: app, metadata });
  const out = translate({ policies, registry, mesh: STRICT_MESH, node, dependencies: new Set() });
  return out.listener.get('virtualInbound')!.filterChains.map((c) => c.name ?? '');
}

describe('PeerAuthentication', () => {
  it('MeshConfig STRICT: a workload no policy names gets the mTLS chain only', () => {
    expect(inboundChains('shop', 'api')).toEqual(['inbound-mtls']);
  });

  it("a namespace's policy makes its workloads PERMISSIVE; a workload's own policy wins over it", () => {
    expect(inboundChains('legacy', 'old')).toEqual(['inbound-mtls', 'inbound-plaintext']);
    expect(inboundChains('legacy', 'core')).toEqual(['inbound-mtls']);
  });

  it('portLevelMtls sets the mode of one app port', () => {
    // core serves 8080 (STRICT, its own policy) and 9090 (PERMISSIVE, port level).
    expect(inboundChains('legacy', 'core', [8080, 9090]).filter((n) => !n.includes('passthrough'))).toEqual(['inbound-mtls-8080', 'inbound-mtls-9090', 'inbound-plaintext-9090']);
  });

  it('refuses DISABLE, and port-level modes without a selector, by line and field', () => {
    expect(
      refusalLines(
        `apiVersion: tsmesh.io/v1alpha1
kind: PeerAuthentication
metadata: { name: p }
spec:
  mtls: { mode: DISABLE }
  portLevelMtls:
    http: { mode: STRICT }
    8080: { mode: PERMISSIVE }
`,
        'bad.yaml',
      ),
    ).toEqual([
      'bad.yaml:5: spec.mtls.mode: DISABLE is not supported: callers in the mesh always use mTLS; PERMISSIVE also accepts plaintext',
      'bad.yaml:7: spec.portLevelMtls.http: "http" is not a port number (1–65535)',
      'bad.yaml:6: spec.portLevelMtls: needs a selector: ports are those of the selected workloads',
    ]);
  });
});

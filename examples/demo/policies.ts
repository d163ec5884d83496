// The demo's policies: the route the canaries drive and the two Canary
// resources (api v2: the good release, api v3: the bad one).

export function routeYaml(): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
spec:
  parentRefs: [{ group: "", kind: Service, name: api, port: 9080 }]
  rules:
    - backendRefs:
        - { name: api-v1, port: 9080, weight: 100 }
`;
}

/**
 * A canary; with `testerHeader`, requests carrying `x-canary: <value>` reach the canary at any weight;
 * with `mirror`, traffic is first mirrored to the canary for that long and its answers compared (mismatch ≤ `mismatchRate`%).
 */
export function canaryYaml(name: string, stable: string, canary: string, interval: string, steps: number[], o: { testerHeader?: string; mirror?: string; mismatchRate?: number } = {}): string {
  return `apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata:
  name: ${name}
spec:
  targetRef: { kind: HTTPRoute, name: api }
  service: api
  stableBackend: { name: ${stable}, port: 9080 }
  canaryBackend: { name: ${canary}, port: 9080 }
  steps: [${steps.join(', ')}]
  interval: ${interval}
  analysis:
    successRate: 95
    p99: 250ms
    failureLimit: 2
${o.mismatchRate !== undefined ? `    mismatchRate: ${o.mismatchRate}\n` : ''}${o.mirror ? `  mirror: { duration: ${o.mirror} }\n` : ''}${o.testerHeader ? `  match:\n    - { name: x-canary, value: ${o.testerHeader} }\n` : ''}`;
}

/**
 * Who may call whom (Istio semantics, enforced by the destination's sidecar
 * on the caller's SPIFFE identity). Naming the caller also tells the control
 * plane which services each sidecar needs config for.
 */
export function authorizationYaml(): string {
  const allow = (target: string, caller: string) => `apiVersion: tsmesh.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: ${target}-callers
spec:
  targetRef: { kind: Service, name: ${target} }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/${caller}] } }]
`;
  return [allow('api', 'web'), allow('db', 'api')].join('---\n');
}

/** The mesh's settings: every sidecar traces `percent` of the requests that come without a caller's decision. */
export function meshConfigYaml(percent: number): string {
  return `apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata:
  name: mesh
spec:
  tracing: { randomSamplingPercentage: ${percent} }
`;
}

// The Kubernetes demo manifests stay valid: they inject cleanly, and the
// policies pass the same validation the CRD store applies.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parsePolicies } from '../control-plane/policy/parse.js';
import { injectManifests, type InjectOutcome } from './inject/inject.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'k8s');

describe('examples/k8s', () => {
  it('demo.yaml: every workload gets a sidecar, everything else is untouched', () => {
    const outcomes: InjectOutcome[] = [];
    const out = injectManifests(readFileSync(join(dir, 'demo.yaml'), 'utf8'), {}, 'demo.yaml', outcomes);
    expect(outcomes.filter((o) => o.action === 'injected').map((o) => `${o.kind}/${o.name}`)).toEqual(['Deployment/api-v1', 'Deployment/api-v2', 'Deployment/web', 'Job/smoke']);
    const docs = parseAllDocuments(out).map((d) => (d as any).toJS());
    expect(docs.find((d) => d.kind === 'Namespace').metadata.labels['tsmesh.io/injection']).toBe('enabled');
    const job = docs.find((d) => d.kind === 'Job');
    expect(job.spec.template.spec.initContainers.find((c: any) => c.name === 'tsmesh-proxy').restartPolicy).toBe('Always');
  });

  it('policies.yaml validates', () => {
    const policies = parsePolicies(readFileSync(join(dir, 'policies.yaml'), 'utf8'), 'policies.yaml');
    expect(policies.map((p) => p.policy.kind)).toEqual(['MeshConfig', 'HTTPRoute', 'DestinationPolicy', 'AuthorizationPolicy', 'Canary']);
  });
});

// Every sample in examples/policies validates, alone and applied together
// against the sample services file, and translates for a proxy.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePolicies, type SourcedPolicy } from '../parse.js';
import { crossCheck } from '../cross-check.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { translate } from '../../translate/index.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import type { MeshConfig } from '../types.js';
import { policyToYaml } from '../apply.js';

const dir = join(import.meta.dirname, '../../../examples/policies');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'services.yaml').sort();

describe('examples/policies', () => {
  const registry = new EmbeddedRegistry();
  registry.setStaticEntries(parseServicesFile(readFileSync(join(dir, 'services.yaml'), 'utf8'), 'services.yaml', 'cluster.local'));
  const all: SourcedPolicy[] = [];

  it('has the samples the README promises', () => {
    expect(files).toEqual(['authorization-policy.yaml', 'canary-90-10.yaml', 'canary.yaml', 'destination-policy.yaml', 'fault-and-rate-limit.yaml', 'mesh-config.yaml', 'mirror.yaml', 'peer-authentication.yaml', 'redirect-rewrite.yaml', 'retries-timeouts.yaml', 'service-entry.yaml']);
  });

  for (const f of files) {
    it(`${f} validates`, () => {
      const batch = parsePolicies(readFileSync(join(dir, f), 'utf8'), f);
      expect(batch.length).toBeGreaterThan(0);
      all.push(...batch);
    });
  }

  it('round-trip: a policy rendered as YAML (durations as "3s") parses back to the same policy', () => {
    for (const sp of all) {
      const text = policyToYaml(sp.policy);
      expect(parsePolicies(text, 'rendered.yaml')[0]!.policy).toEqual(sp.policy);
    }
    expect(policyToYaml(all.find((s) => s.policy.kind === 'MeshConfig')!.policy)).toContain('certificateTtl: 86400s');
  });

  it('all of them apply together and translate', () => {
    expect(crossCheck(all, [], registry)).toEqual([]);
    const policies = all.map((s) => s.policy);
    const mesh = policies.find((p): p is MeshConfig => p.kind === 'MeshConfig')!.spec;
    const node = readNodeRegistration({ id: 'web-1', cluster: 'web', metadata: { serviceAccount: 'web', inboundAddress: '127.0.0.1', inboundPort: 15106, appPort: 8080 } });
    const out = translate({ policies, registry, mesh, node, dependencies: new Set() });
    // api's ALLOW policy names web, so web gets api (and its subsets) without asking; ServiceEntries go to everyone.
    expect([...out.cluster.keys()]).toEqual([
      'inbound|8080||',
      // The ServiceEntries' HTTP host (their HTTPS and TCP ports need interception, which web lacks).
      'outbound|80||api.weather.example.org',
      'outbound|9080||api.default.svc.cluster.local',
      'outbound|9080|v1|api.default.svc.cluster.local',
      'outbound|9080|v2|api.default.svc.cluster.local',
      'outbound|9080|v3|api.default.svc.cluster.local',
    ]);
    expect(out.listener.get('virtualInbound')!.filterChains.map((c) => c.name)).toEqual(['inbound-mtls']); // STRICT
  });
});

// Golden files: fixtures/<case>/{case.yaml,policies.yaml} + fixtures/registry.yaml
// → translate() → fixtures/<case>/expected.json. Refresh with UPDATE_GOLDEN=1.

import { readFileSync, readdirSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicies } from '../../policy/parse.js';
import { crossCheck } from '../../policy/cross-check.js';
import { DEFAULT_MESH_CONFIG, type MeshConfig } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { hostToServiceKey } from '../scope.js';
import { translate, resourceMapsToJson } from '../index.js';
import { checkSnapshot } from '../../../proxy/config/check.js';
import { decodeResource, encodeResource } from '../../../proxy/xds/codec/index.js';
import type { ResourceKind, ResourceMaps } from '../../../proxy/config/resources.js';

const dir = join(import.meta.dirname, 'fixtures');
const cases = readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory());

function runCase(name: string) {
  const c = parse(readFileSync(join(dir, name, 'case.yaml'), 'utf8')) as { node: { id: string; cluster: string; metadata: unknown }; dependencies: string[]; trustBundle?: string };
  const policies = parsePolicies(readFileSync(join(dir, name, 'policies.yaml'), 'utf8'), `${name}/policies.yaml`).map((s) => s.policy);
  const mc = policies.find((p): p is MeshConfig => p.kind === 'MeshConfig');
  const mesh = mc?.spec ?? DEFAULT_MESH_CONFIG;
  const registry = new EmbeddedRegistry({ trustDomain: mesh.trustDomain });
  registry.setStaticEntries(parseServicesFile(readFileSync(join(dir, 'registry.yaml'), 'utf8'), 'registry.yaml', mesh.trustDomain));
  const issues = crossCheck(policies.map((policy) => ({ policy })), [], registry);
  expect(issues).toEqual([]);
  const node = readNodeRegistration(c.node);
  const dependencies = new Set(c.dependencies.map((h) => hostToServiceKey(registry, h, node.namespace)!));
  return translate({ policies, registry, mesh, node, dependencies, trustBundle: c.trustBundle });
}

describe('translator golden files', () => {
  for (const name of cases) {
    it(name, () => {
      const resources = runCase(name);
      // The proxy's own config checker accepts it, and it survives the xDS wire encoding unchanged.
      const versions = { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' };
      expect(checkSnapshot({ resources, versions })).toEqual([]);
      for (const [kind, map] of Object.entries(resources) as [ResourceKind, ResourceMaps[ResourceKind]][]) {
        for (const [rname, value] of map) {
          const back = decodeResource(kind, encodeResource(kind, value as never), `${kind}[${rname}]`);
          expect(JSON.parse(JSON.stringify(back)), `${kind} ${rname} after encode/decode`).toEqual(JSON.parse(JSON.stringify(value)));
        }
      }
      const actual = JSON.parse(JSON.stringify(resourceMapsToJson(resources)));
      const file = join(dir, name, 'expected.json');
      if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, JSON.stringify(actual, null, 2) + '\n');
      expect(actual).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});

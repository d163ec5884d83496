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

const dir = join(import.meta.dirname, 'fixtures');
const cases = readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory());

function runCase(name: string) {
  const c = parse(readFileSync(join(dir, name, 'case.yaml'), 'utf8')) as { node: { id: string; cluster: string; metadata: unknown }; dependencies: string[]; trustBundle?: string };
  const policies = parsePolicies(readFileSync(join(dir, name, 'policies.yaml'), 'utf8'), `${name}/policies.yaml`).map((s) => s.policy);
  const mc = policies.find((p): p is MeshConfig => p.kind === 'MeshConfig');
  const mesh = mc?.spec ?? DEFAULT_MESH_CONFIG;
  const registry = new EmbeddedRegistry({ trustDomain: () => mesh.trustDomain });
  registry.setStaticEntries(parseServicesFile(readFileSync(join(dir, 'registry.yaml'), 'utf8'), 'registry.yaml', mesh.trustDomain));
  const issues = crossCheck(policies.map((policy) => ({ policy })), [], registry);
  expect(issues).toEqual([]);
  const node = readNodeRegistration(c.node);
  const dependencies = new Set(c.dependencies.map((h) => hostToServiceKey(registry, h, node.namespace)!));
  return resourceMapsToJson(translate({ policies, registry, mesh, node, dependencies, trustBundle: c.trustBundle }));
}

describe('translator golden files', () => {
  for (const name of cases) {
    it(name, () => {
      const actual = JSON.parse(JSON.stringify(runCase(name)));
      const file = join(dir, name, 'expected.json');
      if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, JSON.stringify(actual, null, 2) + '\n');
      expect(actual).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});

// The API server prunes fields a CRD schema does not declare — silently. So
// every field of every example policy must be declared, with a compatible
// type, or users would lose settings on `kubectl apply`. This walks the
// examples against the rendered schemas (a small structural check, not a full
// OpenAPI validator).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { crdManifests } from './crds.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = [
  ...readdirSync(join(root, 'examples', 'policies')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'examples', 'policies', f)),
  join(root, 'examples', 'k8s', 'policies.yaml'),
];
const schemas = new Map(crdManifests().map((c: any) => [c.spec.names.kind, c.spec.versions[0].schema.openAPIV3Schema]));

function check(value: unknown, schema: any, path: string, problems: string[]): void {
  const t = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;
  const ok = schema.type === t || (schema.type === 'number' && t === 'integer');
  if (!ok) return void problems.push(`${path}: ${t} where the schema says ${schema.type}`);
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${path}: "${value}" does not match ${schema.pattern}`);
  if (typeof value === 'number' && ((schema.minimum !== undefined && value < schema.minimum) || (schema.maximum !== undefined && value > schema.maximum))) problems.push(`${path}: ${value} out of range`);
  if (t === 'array') (value as unknown[]).forEach((v, i) => check(v, schema.items, `${path}[${i}]`, problems));
  if (t === 'object' && (schema.properties || schema.additionalProperties)) {
    for (const [k, v] of Object.entries(value as object)) {
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      if (!sub) problems.push(`${path}.${k}: not declared (the API server would prune it)`);
      else check(v, sub, `${path}.${k}`, problems);
    }
  }
}

describe('CRD schemas cover the example policies', () => {
  it('every field of every tsmesh example is declared with a compatible type', () => {
    let checked = 0;
    const problems: string[] = [];
    for (const f of files) {
      for (const d of parseAllDocuments(readFileSync(f, 'utf8'))) {
        const doc = (d as any).toJS();
        const schema = doc && schemas.get(doc.kind);
        if (!schema) continue;
        checked++;
        check(doc.spec ?? {}, schema.properties.spec, `${f.slice(root.length + 1)} ${doc.kind}/${doc.metadata.name}: spec`, problems);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(8);
  });
});

// Untrusted policy input never crashes the parser: anything it refuses is a
// ValidationError with at least one issue.

import fc from 'fast-check';
import { fuzzOptions } from '../../../common/test/fuzz-options.js';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ValidationError } from '../../../common/errors.js';
import { parsePolicies } from '../parse.js';

const kinds = fc.constantFrom('HTTPRoute', 'GRPCRoute', 'DestinationPolicy', 'AuthorizationPolicy', 'MeshConfig', 'Canary', 'Other');
const doc = fc.record({
  apiVersion: fc.constantFrom('gateway.networking.k8s.io/v1', 'tsmesh.io/v1alpha1', 'x'),
  kind: kinds,
  metadata: fc.oneof(fc.record({ name: fc.constantFrom('a', 'b-1', 'Bad') }), fc.anything()),
  spec: fc.anything({ maxDepth: 4 }),
});

function parsesOrRefuses(text: string) {
  try {
    parsePolicies(text, 'fuzz.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).issues.length).toBeGreaterThan(0);
  }
}

describe('policy parser fuzzing', () => {
  it('structured documents', () => {
    fc.assert(fc.property(fc.array(doc, { minLength: 1, maxLength: 3 }), (docs) => parsesOrRefuses(docs.map((d) => stringify(d)).join('---\n'))), fuzzOptions(300));
  });
  it('arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), parsesOrRefuses), fuzzOptions(300));
  });
});

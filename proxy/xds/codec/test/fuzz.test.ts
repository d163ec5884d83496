// Decoding is a trust boundary (bytes from a control plane): whatever arrives,
// the decoder returns a domain object or throws ValidationError — nothing else.

import fc from 'fast-check';
import { fuzzOptions } from '../../../../common/test/fuzz-options.js';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../common/errors.js';
import type { ResourceKind } from '../../../config/resources.js';
import { decodeResource, encodeResource } from '../index.js';
import * as fx from './fixtures.js';

const kinds: ResourceKind[] = ['listener', 'routeConfiguration', 'cluster', 'clusterLoadAssignment', 'secret'];
const samples: Record<ResourceKind, Uint8Array> = {
  listener: encodeResource('listener', fx.listener),
  routeConfiguration: encodeResource('routeConfiguration', fx.routeConfiguration),
  cluster: encodeResource('cluster', fx.cluster),
  clusterLoadAssignment: encodeResource('clusterLoadAssignment', fx.clusterLoadAssignment),
  secret: encodeResource('secret', fx.certSecret),
};

function decodesOrRefuses(kind: ResourceKind, bytes: Uint8Array): void {
  try {
    decodeResource(kind, bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
  }
}

describe('xDS decode fuzzing', () => {
  it('random bytes: a domain object or a ValidationError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.uint8Array({ maxLength: 512 }), (kind, bytes) => decodesOrRefuses(kind, bytes)),
      fuzzOptions(500),
    );
  });

  it('mutated valid resources: a domain object or a ValidationError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (kind, edits) => {
        const bytes = Uint8Array.from(samples[kind]);
        for (const [pos, val] of edits) bytes[pos % bytes.length] = val;
        decodesOrRefuses(kind, bytes);
      }),
      fuzzOptions(500),
    );
  });
});

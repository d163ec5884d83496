// The webhook's review handling sits at a trust boundary (anything the API
// server — or anyone reaching the port — sends). Whatever arrives, it must
// either refuse the envelope with BadReviewError or answer allowed: true,
// never throw anything else, and never emit a patch that does not apply.
import fc from 'fast-check';
import { fuzzOptions } from '../../common/test/fuzz-options.js';
import fjp from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { BadReviewError, readReview, reviewPod } from './review.js';

const podLike = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record({ name: fc.string(), annotations: fc.dictionary(fc.oneof(fc.constant('sidecar.tsmesh.io/inject'), fc.constant('sidecar.tsmesh.io/proxyCPU'), fc.constant('sidecar.tsmesh.io/excludeOutboundPorts'), fc.string()), fc.string()) }, { requiredKeys: [] }),
    spec: fc.oneof(
      fc.record({ containers: fc.array(fc.record({ name: fc.string(), image: fc.string() }), { maxLength: 3 }), volumes: fc.array(fc.anything(), { maxLength: 2 }), hostNetwork: fc.boolean() }, { requiredKeys: [] }),
      fc.anything(),
    ),
  },
  { requiredKeys: ['kind'] },
);

describe('AdmissionReview handling (property-based)', () => {
  it('arbitrary JSON bodies: BadReviewError or a valid response', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ apiVersion: fc.constant('admission.k8s.io/v1'), kind: fc.constant('AdmissionReview'), request: fc.anything() })), (generated) => {
        const body = JSON.parse(JSON.stringify(generated ?? null));
        try {
          const { uid, request } = readReview(body);
          const out = reviewPod(uid, request, {});
          expect(out.response.allowed).toBe(true);
          expect(out.response.uid).toBe(uid);
        } catch (err) {
          expect(err).toBeInstanceOf(BadReviewError);
        }
      }),
      fuzzOptions(300),
    );
  });

  it('pod-shaped objects: allowed, and any patch applies cleanly to the original', () => {
    fc.assert(
      fc.property(podLike, (generated) => {
        const pod = JSON.parse(JSON.stringify(generated)); // what arrives on the wire
        const out = reviewPod('u', { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: pod }, {});
        expect(out.response.allowed).toBe(true);
        if (out.response.patch) {
          const ops = JSON.parse(Buffer.from(out.response.patch, 'base64').toString());
          const patched = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument as any;
          const names = [...(patched.spec.initContainers ?? []), ...(patched.spec.containers ?? [])].map((c: any) => c.name);
          expect(names).toContain('tsmesh-proxy');
        }
      }),
      fuzzOptions(300),
    );
  });
});

// AdmissionReview (admission.k8s.io/v1) handling, independent of HTTP: decode
// a review, inject the Pod, answer with an RFC 6902 patch. We always allow;
// whether a webhook failure blocks pod creation is the cluster's choice
// (failurePolicy), so problems are reported as warnings.

import fjp from 'fast-json-patch';
import { injectObject, type InjectOutcome } from '../inject/inject.js';
import type { InjectOptions } from '../inject/options.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class BadReviewError extends Error {
  readonly code = 'MESH_BAD_ADMISSION_REVIEW';
}

/** Validate the envelope; throws BadReviewError (→ HTTP 400) when it is not an AdmissionReview v1 request. */
export function readReview(body: unknown): { uid: string; request: Obj } {
  if (!isObj(body)) throw new BadReviewError('body is not a JSON object');
  if (body.apiVersion !== ADMISSION_API_VERSION) throw new BadReviewError(`apiVersion: expected ${ADMISSION_API_VERSION}, got ${JSON.stringify(body.apiVersion)}`);
  if (body.kind !== 'AdmissionReview') throw new BadReviewError(`kind: expected AdmissionReview, got ${JSON.stringify(body.kind)}`);
  const request = body.request;
  if (!isObj(request)) throw new BadReviewError('request: missing');
  if (typeof request.uid !== 'string' || request.uid === '') throw new BadReviewError('request.uid: missing');
  return { uid: request.uid, request };
}

/** The response to one admission request: a patch adding the sidecar, or nothing. */
export function reviewPod(uid: string, request: Obj, options: Partial<InjectOptions>, outcomes: InjectOutcome[] = []): AdmissionReviewResponse {
  const respond = (r: Omit<AdmissionResponse, 'uid' | 'allowed'> = {}): AdmissionReviewResponse => ({
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid, allowed: true, ...r },
  });
  const kind = isObj(request.kind) ? request.kind : {};
  if (kind.kind !== 'Pod' || (kind.group ?? '') !== '' || request.operation !== 'CREATE') return respond();
  const pod = request.object;
  if (!isObj(pod)) return respond({ warnings: ['tsmesh: request.object is not a Pod; sidecar not injected'] });
  try {
    const injected = injectObject(pod, options, outcomes) as Obj;
    if (injected === pod) return respond();
    const patch = fjp.compare(pod, injected);
    return respond({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  } catch (err) {
    return respond({ warnings: [`tsmesh: sidecar not injected: ${(err as Error).message}`] });
  }
}

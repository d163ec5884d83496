import https from 'node:https';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fjp from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { injectObject } from '../inject/inject.js';
import { createServingCert } from './serving-cert.js';
import { startWebhookServer, WEBHOOK_PATH, type WebhookServer } from './server.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const review = JSON.parse(readFileSync(join(dir, 'admission-review-pod.json'), 'utf8'));
const goldenPath = join(dir, 'injected-pod.golden.json');

let server: WebhookServer;
let ca: string;

function post(body: string | object, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: server.port, path: WEBHOOK_PATH, method: 'POST', ca, servername: 'tsmesh-control-plane.tsmesh-system.svc', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

function withObject(mutate: (review: any) => void): any {
  const r = structuredClone(review);
  mutate(r);
  return r;
}

const applyPatch = (obj: unknown, b64: string) => fjp.applyPatch(structuredClone(obj), JSON.parse(Buffer.from(b64, 'base64').toString()), true, false).newDocument;

beforeAll(async () => {
  const cert = await createServingCert({ dnsNames: ['tsmesh-control-plane.tsmesh-system.svc'], ipAddresses: ['127.0.0.1'] });
  ca = cert.certPem;
  server = await startWebhookServer({ certPem: cert.certPem, keyPem: cert.keyPem, host: '127.0.0.1', maxBodyBytes: 256 * 1024 });
});
afterAll(() => server?.close());

describe('admission webhook over HTTPS', () => {
  it('answers a real AdmissionReview with a JSON patch that yields the golden injected pod', async () => {
    const { status, json } = await post(review);
    expect(status).toBe(200);
    expect(json.apiVersion).toBe('admission.k8s.io/v1');
    expect(json.kind).toBe('AdmissionReview');
    expect(json.response.uid).toBe(review.request.uid);
    expect(json.response.allowed).toBe(true);
    expect(json.response.patchType).toBe('JSONPatch');
    const patched = applyPatch(review.request.object, json.response.patch);
    if (process.env.UPDATE_GOLDEN === '1' || !existsSync(goldenPath)) writeFileSync(goldenPath, JSON.stringify(patched, null, 2) + '\n');
    expect(patched).toEqual(JSON.parse(readFileSync(goldenPath, 'utf8')));
    // the same transformation `meshctl inject` applies
    expect(patched).toEqual(injectObject(review.request.object));
    // what a user sees: native sidecar first, app untouched, identity volume added
    expect(patched.spec.initContainers.map((c: any) => c.name)).toEqual(['tsmesh-init', 'tsmesh-proxy']);
    expect(patched.spec.containers).toEqual(review.request.object.spec.containers);
    expect(patched.spec.volumes.map((v: any) => v.name)).toContain('tsmesh-token');
  });

  it('does not patch an already-injected pod (re-invocation is idempotent)', async () => {
    const first = await post(review);
    const injected = applyPatch(review.request.object, first.json.response.patch);
    const { json } = await post(withObject((r) => (r.request.object = injected)));
    expect(json.response).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('honours the pod opt-out annotation', async () => {
    const { json } = await post(withObject((r) => (r.request.object.metadata.annotations = { 'sidecar.tsmesh.io/inject': 'false' })));
    expect(json.response).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('leaves non-Pod and non-CREATE requests alone', async () => {
    const upd = await post(withObject((r) => (r.request.operation = 'UPDATE')));
    expect(upd.json.response.patch).toBeUndefined();
    const svc = await post(withObject((r) => (r.request.kind = { group: '', version: 'v1', kind: 'Service' })));
    expect(svc.json.response.patch).toBeUndefined();
  });

  it('allows with a warning when the pod has bad sidecar annotations', async () => {
    const { json } = await post(withObject((r) => (r.request.object.metadata.annotations = { 'sidecar.tsmesh.io/proxyCPU': 'lots' })));
    expect(json.response.allowed).toBe(true);
    expect(json.response.patch).toBeUndefined();
    expect(json.response.warnings[0]).toMatch(/sidecar not injected.*proxyCPU.*"lots" is not a resource quantity/s);
  });

  it('rejects malformed requests with 4xx and a reason', async () => {
    expect((await post('{not json')).status).toBe(400);
    const wrongVersion = await post(withObject((r) => (r.apiVersion = 'admission.k8s.io/v1beta1')));
    expect(wrongVersion.status).toBe(400);
    expect(wrongVersion.json.error).toMatch(/apiVersion/);
    expect((await post(withObject((r) => delete r.request.uid))).json.error).toMatch(/request\.uid/);
    expect((await post(review, { 'content-type': 'text/plain' })).status).toBe(415);
    const huge = withObject((r) => (r.request.object.metadata.annotations = { big: 'x'.repeat(300 * 1024) }));
    expect((await post(huge)).status).toBe(413);
  });
});

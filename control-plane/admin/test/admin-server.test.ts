import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceMaps } from '../../../proxy/config/resources.js';
import { AdminServer } from '../server.js';
import { loadOrCreateToken } from '../token.js';
import type { PropagationReceipt, ProxyStatus, ProxyStatusSource } from '../types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { EmbeddedPolicyStore } from '../../store/embedded-store.js';
import { MeshController, type PublishMeta } from '../../controller.js';

/** Stands in for the xDS server's receipts: every published snapshot counts as ACKed. */
class PublishedProxies implements ProxyStatusSource {
  readonly snapshots = new Map<string, { resources: ResourceMaps; meta: PublishMeta }>();
  proxies(): ProxyStatus[] {
    return [...this.snapshots.entries()].map(([nodeId, s]) => ({
      nodeId,
      service: 'productpage',
      namespace: 'default',
      connectedAt: 1,
      types: { cluster: { sentVersion: String(s.meta.storeVersion), ackedVersion: String(s.meta.storeVersion), ackedAt: 2 } },
    }));
  }
  config(nodeId: string) {
    return this.snapshots.get(nodeId)?.resources;
  }
  receipt(version: string): PropagationReceipt | undefined {
    const v = Number(version);
    const all = [...this.snapshots.entries()];
    return { version, appliedAt: 1, total: all.length, acked: all.filter(([, s]) => s.meta.storeVersion >= v).map(([nodeId]) => ({ nodeId, at: 2 })), nacked: [], pending: all.filter(([, s]) => s.meta.storeVersion < v).map(([id]) => id) };
  }
}

let dir: string;
let base: string;
let token: string;
let server: AdminServer;
let controller: MeshController;

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews }
spec:
  parentRefs: [{ kind: Service, name: reviews }]
  rules:
    - backendRefs: [{ name: reviews, port: 9080 }]
      timeouts: { request: 3s }
`;

async function call(method: string, path: string, body?: string, auth = `Bearer ${token}`) {
  const res = await fetch(base + path, { method, body, headers: auth ? { authorization: auth } : {} });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsmesh-admin-'));
  token = await loadOrCreateToken(dir);
  const registry = new EmbeddedRegistry();
  const store = await EmbeddedPolicyStore.open(dir);
  const proxies = new PublishedProxies();
  controller = new MeshController({ store, registry, selfRegistration: registry, debounceMs: 1, publish: (id, resources, meta) => proxies.snapshots.set(id, { resources, meta }) });
  controller.nodeConnected({ id: 'reviews-1', metadata: { service: 'reviews', serviceAccount: 'reviews', inboundAddress: '127.0.0.1', inboundPort: 15006, appPort: 9080 } });
  controller.nodeConnected({ id: 'productpage-1', metadata: { service: 'productpage', inboundAddress: '127.0.0.1', inboundPort: 15007, appPort: 9081 } });
  controller.noteDependency('productpage-1', 'reviews');
  server = new AdminServer({ store, registry, proxies, token, maxBodyBytes: 64 * 1024 });
  const addr = await server.listen();
  expect(addr.address).toBe('127.0.0.1');
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  controller.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('admin API', () => {
  it('creates the token file 0600 once and reuses it', async () => {
    expect((await stat(join(dir, 'admin-token'))).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateToken(dir)).toBe(token);
    expect((await readFile(join(dir, 'admin-token'), 'utf8')).trim()).toBe(token);
  });

  it('refuses requests without the right bearer token', async () => {
    expect(await call('GET', '/v1/version', undefined, '')).toEqual({ status: 401, body: { error: { code: 'MESH_UNAUTHENTICATED', message: 'missing or wrong bearer token (see <state-dir>/admin-token)' } } });
    expect((await call('GET', '/v1/version', undefined, `Bearer ${token}x`)).status).toBe(401);
  });

  it('dry-runs an apply with a diff and changes nothing', async () => {
    const r = await call('POST', '/v1/apply?dryRun=true', ROUTE);
    expect(r.status).toBe(200);
    expect(r.body.dryRun).toBe(true);
    expect(r.body.version).toBe(0);
    expect(r.body.changes[0].action).toBe('created');
    expect(r.body.changes[0].diff).toContain('+ kind: HTTPRoute');
    expect((await call('GET', '/v1/policies')).body).toEqual({ version: 0, items: [] });
  });

  it('applies, reports the new version, gets, lists, and shows the propagation receipt', async () => {
    const r = await call('POST', '/v1/apply', ROUTE);
    expect(r.body).toMatchObject({ version: 1, dryRun: false, changes: [{ ref: { kind: 'HTTPRoute', namespace: 'default', name: 'reviews' }, action: 'created' }] });
    const got = await call('GET', '/v1/policies/httproute/default/reviews');
    expect(got.body).toMatchObject({ kind: 'HTTPRoute', resourceVersion: 1, spec: { rules: [{ timeouts: { request: 3000 } }] } });
    expect((await call('GET', '/v1/policies?kind=HTTPRoute')).body.items).toHaveLength(1);
    const yaml = await fetch(base + '/v1/policies/HTTPRoute/default/reviews?output=yaml', { headers: { authorization: `Bearer ${token}` } });
    expect(yaml.headers.get('content-type')).toBe('application/yaml');
    expect(await yaml.text()).toContain('timeouts:\n        request: 3s\n');
    await new Promise((res) => setTimeout(res, 20)); // controller debounce (1 ms)
    const receipt = await call('GET', '/v1/receipts/last');
    expect(receipt.body).toMatchObject({ version: '1', total: 2, pending: [] });
    const again = await call('POST', '/v1/apply', ROUTE.replace('3s', '4s'));
    expect(again.body.changes[0].diff).toContain('-         request: 3s\n+         request: 4s');
  });

  it('refuses an invalid apply whole, with every issue', async () => {
    const r = await call('POST', '/v1/apply?file=bad.yaml', ROUTE + '---\nkind: Nope\n');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('MESH_INVALID_CONFIG');
    expect(r.body.error.issues).toEqual([{ file: 'bad.yaml', line: 10, path: 'kind', message: 'unknown kind "Nope" (supported: HTTPRoute, GRPCRoute, DestinationPolicy, AuthorizationPolicy, PeerAuthentication, FaultPolicy, RateLimitPolicy, ServiceEntry, MeshConfig, Canary)' }]);
    expect((await call('GET', '/v1/version')).body.version).toBe(2);
  });

  it('limits the body size', async () => {
    const r = await call('POST', '/v1/apply', 'x'.repeat(65 * 1024));
    expect(r).toEqual({ status: 413, body: { error: { code: 'MESH_BODY_TOO_LARGE', message: 'request body is larger than 65536 bytes' } } });
  });

  it('lists proxies and shows one proxy config', async () => {
    const list = await call('GET', '/v1/proxies');
    expect(list.body.items.map((p: ProxyStatus) => p.nodeId).sort()).toEqual(['productpage-1', 'reviews-1']);
    const cfg = await call('GET', '/v1/proxies/productpage-1/config');
    expect(Object.keys(cfg.body.cluster)).toEqual(['inbound|9081||', 'outbound|9080||reviews.default.svc.cluster.local']);
    expect((await call('GET', '/v1/proxies/ghost/config')).status).toBe(404);
  });

  it('deletes by kind/name and 404s on unknown ones', async () => {
    expect((await call('DELETE', '/v1/policies/HTTPRoute/default/nope')).body).toEqual({ error: { code: 'MESH_NOT_FOUND', message: 'not found: HTTPRoute default/nope' } });
    expect((await call('GET', '/v1/policies/Widget/default/x')).body.error.code).toBe('MESH_UNKNOWN_KIND');
    const d = await call('DELETE', '/v1/policies/HTTPRoute/default/reviews');
    expect(d.body).toMatchObject({ version: 3, changes: [{ action: 'deleted' }] });
    expect((await call('GET', '/v1/policies/HTTPRoute/default/reviews')).status).toBe(404);
  });
});

describe('admin API: several files in one atomic apply', () => {
  it('reports each file\'s own lines and writes nothing when any file is bad', async () => {
    const before = (await call('GET', '/v1/version')).body.version;
    const bad = await fetch(base + '/v1/apply', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ files: [{ name: 'a.yaml', text: ROUTE }, { name: 'b.yaml', text: 'apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\nspec:\n  mtls: { mode: NONE }\n' }] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.issues).toEqual([{ file: 'b.yaml', line: 5, path: 'spec.mtls.mode', message: 'must be one of STRICT, PERMISSIVE; got "NONE"' }]);
    expect((await call('GET', '/v1/version')).body.version).toBe(before);
    const good = await fetch(base + '/v1/apply', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ files: [{ name: 'a.yaml', text: ROUTE }, { name: 'b.yaml', text: 'apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\n' }] }),
    });
    const out = (await good.json()) as any;
    expect(out.version).toBe(before + 1);
    expect(out.changes.map((c: any) => c.ref.kind)).toEqual(['HTTPRoute', 'MeshConfig']);
  });
});

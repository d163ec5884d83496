import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../server.js';
import { AdminClient, AdminApiError } from '../client.js';
import { loadOrCreateToken } from '../token.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { EmbeddedPolicyStore } from '../../store/embedded-store.js';
import type { ProxyStatusSource } from '../types.js';

let dir: string;
let server: AdminServer;
let client: AdminClient;

// No proxies connected: the xDS side answers with nothing.
const noProxies: ProxyStatusSource = { proxies: () => [], config: () => undefined, receipt: () => undefined };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsmesh-client-'));
  const token = await loadOrCreateToken(dir);
  const registry = new EmbeddedRegistry();
  registry.registerFromNode({ id: 'web-1', cluster: 'web', metadata: { inboundAddress: '127.0.0.1', inboundPort: 15006, appPort: 8080 } });
  server = new AdminServer({ store: EmbeddedPolicyStore.memory(), registry, proxies: noProxies, token });
  const { port } = await server.listen();
  client = await AdminClient.fromStateDir(`http://127.0.0.1:${port}`, dir);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('AdminClient', () => {
  it('applies, reads back as YAML, lists and deletes', async () => {
    const route = 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: web }\nspec:\n  parentRefs: [{ kind: Service, name: web }]\n  rules:\n    - backendRefs: [{ name: web, port: 8080 }]\n      timeouts: { request: 2s }\n';
    expect((await client.apply(route, { dryRun: true })).version).toBe(0);
    expect((await client.apply(route, { file: 'web.yaml' })).version).toBe(1);
    expect(await client.getYaml({ kind: 'HTTPRoute', namespace: 'default', name: 'web' })).toContain('request: 2s');
    expect((await client.list({ kind: 'HTTPRoute' })).items.map((p) => p.metadata.name)).toEqual(['web']);
    expect((await client.delete({ kind: 'HTTPRoute', namespace: 'default', name: 'web' })).version).toBe(2);
    expect(await client.version()).toBe(2);
  });

  it('surfaces validation issues and codes', async () => {
    const err = await client.apply('kind: Widget\n', { file: 'w.yaml' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdminApiError);
    expect(err).toMatchObject({ status: 400, code: 'MESH_INVALID_CONFIG', issues: [{ file: 'w.yaml', line: 1, path: 'kind' }] });
    await expect(client.receipt('last')).rejects.toMatchObject({ status: 404, code: 'MESH_NOT_FOUND' });
  });

  it('says so when the control plane is not reachable', async () => {
    // A port that was just free: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const c = new AdminClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'x' });
    await expect(c.version()).rejects.toMatchObject({
      code: 'MESH_UNREACHABLE',
      message: `cannot reach the control plane admin API at http://127.0.0.1:${port} (ECONNREFUSED); is mesh-control-plane running?`,
    });
  });
});

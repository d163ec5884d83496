import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedPolicyStore } from '../embedded-store.js';
import { parsePolicies } from '../../policy/parse.js';
import type { StoreEvent } from '../types.js';

const dirs: string[] = [];
async function tempDir() {
  const d = await mkdtemp(join(tmpdir(), 'tsmesh-store-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) {
    await rm(d, { recursive: true, force: true });
  }
});

const policies = (text: string) => parsePolicies(text).map((s) => s.policy);
const meshA = policies('apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { mtls: { mode: STRICT } }\n');
const meshB = policies('apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { mtls: { mode: PERMISSIVE } }\n');
const authz = policies('apiVersion: tsmesh.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: a }\nspec: { action: DENY, rules: [{ to: [{ operation: { paths: [/admin] } }] }] }\n');

describe('EmbeddedPolicyStore', () => {
  it('versions every committed change, reports unchanged applies, and emits events', async () => {
    const store = EmbeddedPolicyStore.memory();
    const events: StoreEvent[] = [];
    store.onChange((e) => events.push(e));
    const r1 = await store.apply([...meshA, ...authz]);
    expect(r1.version).toBe(1);
    expect(r1.changes.map((c) => c.action)).toEqual(['created', 'created']);
    const r2 = await store.apply(meshA);
    expect(r2).toEqual({ version: 1, dryRun: false, changes: [{ ref: { kind: 'MeshConfig', namespace: 'default', name: 'mesh' }, action: 'unchanged' }] });
    const r3 = await store.apply(meshB);
    expect(r3.version).toBe(2);
    expect(store.get({ kind: 'MeshConfig', namespace: 'default', name: 'mesh' })!.resourceVersion).toBe(2);
    expect(store.get({ kind: 'AuthorizationPolicy', namespace: 'default', name: 'a' })!.resourceVersion).toBe(1);
    expect(events.map((e) => e.version)).toEqual([1, 2]);
  });

  it('dry-run changes nothing', async () => {
    const store = EmbeddedPolicyStore.memory();
    const r = await store.apply(meshA, { dryRun: true });
    expect(r).toMatchObject({ version: 0, dryRun: true, changes: [{ action: 'created' }] });
    expect(store.list()).toEqual([]);
  });

  it('delete is all-or-nothing: one missing name refuses the whole delete', async () => {
    const store = EmbeddedPolicyStore.memory();
    await store.apply([...meshA, ...authz]);
    await expect(
      store.delete([
        { kind: 'MeshConfig', namespace: 'default', name: 'mesh' },
        { kind: 'HTTPRoute', namespace: 'default', name: 'nope' },
      ]),
    ).rejects.toMatchObject({ code: 'MESH_NOT_FOUND', message: 'not found: HTTPRoute default/nope' });
    expect(store.list()).toHaveLength(2);
    const r = await store.delete([{ kind: 'MeshConfig', namespace: 'default', name: 'mesh' }]);
    expect(r.version).toBe(2);
    expect(store.list().map((p) => p.kind)).toEqual(['AuthorizationPolicy']);
  });

  it('survives a restart with the same policies and version, in a 0600 file', async () => {
    const dir = await tempDir();
    const a = await EmbeddedPolicyStore.open(dir);
    await a.apply([...meshA, ...authz]);
    await a.apply(meshB);
    const b = await EmbeddedPolicyStore.open(dir);
    expect(b.version()).toBe(2);
    expect(b.list()).toEqual(a.list());
    expect((await stat(join(dir, 'policies.json'))).mode & 0o777).toBe(0o600);
    // The next write continues the sequence instead of restarting it.
    expect((await b.apply(meshA)).version).toBe(3);
  });

  it('a failed write leaves memory and disk as they were', async () => {
    const dir = await tempDir();
    const store = await EmbeddedPolicyStore.open(dir);
    await store.apply(meshA);
    const before = await readFile(join(dir, 'policies.json'), 'utf8');
    // A directory where the temp file must go makes the write fail (also as root).
    await mkdir(join(dir, `policies.json.${process.pid}.tmp`));
    await expect(store.apply(authz)).rejects.toMatchObject({ code: "MESH_STORE_WRITE" });
    expect(store.version()).toBe(1);
    expect(store.list()).toHaveLength(1);
    expect(await readFile(join(dir, 'policies.json'), 'utf8')).toBe(before);
  });

  it('refuses a corrupt state file with a clear error', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'policies.json'), '{"format":1,');
    await expect(EmbeddedPolicyStore.open(dir)).rejects.toMatchObject({ code: 'MESH_STORE_CORRUPT' });
  });
});

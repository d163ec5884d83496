// The embedded policy store: policies in memory, persisted as one JSON file
// written atomically (temp file, fsync, rename, fsync of the directory). The
// store version is monotonic and survives restarts, so after a restart the
// same config is served at the same version (no "delete everything" push).

import { mkdir, readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { MeshError } from '../../common/errors.js';
import { policyKey, refOf, type Policy, type PolicyKind, type PolicyRef } from '../policy/types.js';
import type { ApplyChange, ApplyResult, PolicyStore, StoreEvent, StoredPolicy } from './types.js';
import { writeFileAtomic } from './atomic-file.js';

const STATE_FILE = 'policies.json';
const FORMAT = 1;

interface StateFile {
  format: number;
  version: number;
  policies: StoredPolicy[];
}

export class EmbeddedPolicyStore implements PolicyStore {
  private policies = new Map<string, StoredPolicy>();
  private ver = 0;
  private listeners = new Set<(ev: StoreEvent) => void>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly dir?: string) {}

  /** A store that lives only in memory (tests, ephemeral control planes). */
  static memory(): EmbeddedPolicyStore {
    return new EmbeddedPolicyStore();
  }

  /** Open (or create) the store in `dir`, loading what a previous run persisted. */
  static async open(dir: string): Promise<EmbeddedPolicyStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new EmbeddedPolicyStore(dir);
    let text: string | undefined;
    try {
      text = await readFile(join(dir, STATE_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== undefined) {
      let state: StateFile;
      try {
        state = JSON.parse(text) as StateFile;
      } catch (e) {
        throw new MeshError('MESH_STORE_CORRUPT', `policy store ${join(dir, STATE_FILE)} is not valid JSON: ${(e as Error).message}`, { cause: e });
      }
      if (state.format !== FORMAT || !Number.isInteger(state.version) || !Array.isArray(state.policies)) {
        throw new MeshError('MESH_STORE_CORRUPT', `policy store ${join(dir, STATE_FILE)} has an unknown format`);
      }
      store.ver = state.version;
      for (const p of state.policies) store.policies.set(policyKey(refOf(p)), p);
    }
    return store;
  }

  version(): number {
    return this.ver;
  }

  list(kind?: PolicyKind, namespace?: string): readonly StoredPolicy[] {
    const out: StoredPolicy[] = [];
    for (const p of this.policies.values()) {
      if ((kind === undefined || p.kind === kind) && (namespace === undefined || p.metadata.namespace === namespace)) out.push(p);
    }
    return out.sort((a, b) => policyKey(refOf(a)).localeCompare(policyKey(refOf(b))));
  }

  get(ref: PolicyRef): StoredPolicy | undefined {
    return this.policies.get(policyKey(ref));
  }

  apply(policies: readonly Policy[], opts: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    return this.serialize(async () => {
      const changes: ApplyChange[] = [];
      const next = new Map(this.policies);
      const version = this.ver + 1;
      for (const p of policies) {
        const key = policyKey(refOf(p));
        const old = next.get(key);
        if (old && samePolicy(old, p)) {
          changes.push({ ref: refOf(p), action: 'unchanged' });
          continue;
        }
        changes.push({ ref: refOf(p), action: old ? 'configured' : 'created' });
        next.set(key, { ...structuredClone(p), resourceVersion: version });
      }
      return this.commit(next, changes, version, opts.dryRun === true);
    });
  }

  delete(refs: readonly PolicyRef[], opts: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    return this.serialize(async () => {
      const missing = refs.filter((r) => !this.policies.has(policyKey(r)));
      if (missing.length) {
        throw new MeshError('MESH_NOT_FOUND', `not found: ${missing.map((r) => `${r.kind} ${r.namespace}/${r.name}`).join(', ')}`);
      }
      const next = new Map(this.policies);
      for (const r of refs) next.delete(policyKey(r));
      const changes = refs.map((ref): ApplyChange => ({ ref, action: 'deleted' }));
      return this.commit(next, changes, this.ver + 1, opts.dryRun === true);
    });
  }

  onChange(listener: (ev: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private async commit(next: Map<string, StoredPolicy>, changes: ApplyChange[], version: number, dryRun: boolean): Promise<ApplyResult> {
    const changed = changes.some((c) => c.action !== 'unchanged');
    if (dryRun || !changed) return { version: this.ver, changes, dryRun };
    if (this.dir) await this.persist([...next.values()], version); // on failure memory stays as it was
    this.policies = next;
    this.ver = version;
    const ev: StoreEvent = { version, changes };
    for (const l of this.listeners) l(ev);
    return { version, changes, dryRun };
  }

  private async persist(policies: StoredPolicy[], version: number): Promise<void> {
    const state: StateFile = { format: FORMAT, version, policies };
    await writeFileAtomic(join(this.dir!, STATE_FILE), JSON.stringify(state));
  }

  /** Writes are applied one at a time, in call order. */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

function samePolicy(a: StoredPolicy, b: Policy): boolean {
  const { resourceVersion: _rv, ...rest } = a;
  return isDeepStrictEqual(JSON.parse(JSON.stringify(rest)), JSON.parse(JSON.stringify(b)));
}

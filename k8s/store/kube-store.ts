// PolicyStore backed by Kubernetes custom resources (the tsmesh kinds and
// Gateway API HTTPRoute/GRPCRoute), so control-plane replicas keep no state
// of their own. Objects are list-watched and validated with the same code as
// policy files; an invalid object is reported and its last good version keeps
// serving. The store version is the cluster's resourceVersion (etcd revision),
// identical on every replica. Deletes go to the API server; applies are
// done with kubectl on the YAML itself (see apply()).

import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { MeshError, formatIssue, type ValidationIssue } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { readPolicyDocument } from '../../control-plane/policy/parse.js';
import { POLICY_KINDS, policyKey, refOf, type Policy, type PolicyKind, type PolicyRef } from '../../control-plane/policy/types.js';
import type { ApplyChange, ApplyResult, PolicyStore, StoreEvent, StoredPolicy } from '../../control-plane/store/types.js';
import { ListWatcher, type KubeObject, type ListPage, type ListWatchOptions, type WatchEventType } from '../client/list-watch.js';
import { POLICY_LOCATIONS, collectionPath } from './kinds.js';

const META_KEYS = ['name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'generation', 'creationTimestamp'];

export interface KubeStoreOptions extends ListWatchOptions {
  logger?: Logger;
  /** Kinds to watch (default: all; a kind whose CRD is not installed is served as empty until it is). */
  kinds?: PolicyKind[];
}

export interface RejectedObject {
  ref: PolicyRef;
  resourceVersion: string;
  issues: string[];
}

export class KubernetesPolicyStore implements PolicyStore {
  private readonly policies = new Map<string, StoredPolicy>();
  private readonly rejectedObjects = new Map<string, RejectedObject>();
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private readonly watchers: ListWatcher<KubeObject>[] = [];
  private readonly api: CustomObjectsApi;
  private readonly log: Logger;
  private storeVersion = 0;
  private started = false;

  constructor(kc: KubeConfig, opts: KubeStoreOptions = {}) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.log = opts.logger ?? silentLogger;
    for (const kind of opts.kinds ?? POLICY_KINDS) {
      const loc = POLICY_LOCATIONS[kind];
      const list = (p: { limit: number; _continue?: string }) =>
        this.api.listClusterCustomObject({ group: loc.group, version: loc.version, plural: loc.plural, ...p }) as Promise<ListPage<KubeObject>>;
      this.watchers.push(
        new ListWatcher<KubeObject>(kc, collectionPath(loc), list, {
          replace: (items, rv) => this.replace(kind, items, rv),
          apply: (type, obj) => this.onEvent(kind, type, obj),
        }, {
          ...opts,
          logger: this.log,
          // A cluster without a kind's CRD (Gateway API not installed; tsmesh CRDs older than this control plane)
          // has none of that kind, as Istio treats it: the rest of the mesh keeps working.
          optional: { hint: loc.group === 'tsmesh.io' ? `${kind}: apply the tsmesh CRDs (meshctl install | kubectl apply -f -)` : loc.group === 'networking.istio.io' ? `${kind}: apply Istio's ServiceEntry CRD (networking.istio.io)` : `${kind}: install the Gateway API CRDs (standard channel)` },
        }),
      );
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.start()));
    this.started = true;
  }

  close(): void {
    for (const w of this.watchers) w.stop();
  }

  version(): number {
    return this.storeVersion;
  }
  list(kind?: PolicyKind, namespace?: string): readonly StoredPolicy[] {
    return [...this.policies.values()].filter((p) => (!kind || p.kind === kind) && (!namespace || p.metadata.namespace === namespace));
  }
  get(ref: PolicyRef): StoredPolicy | undefined {
    return this.policies.get(policyKey(ref));
  }
  /** Objects in the cluster that failed validation (their last good version, if any, keeps serving). */
  rejected(): readonly RejectedObject[] {
    return [...this.rejectedObjects.values()];
  }
  onChange(listener: (ev: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ reads

  private bumpVersion(rv: string | undefined): number {
    const n = Number(rv);
    // resourceVersions are etcd revisions in practice; if one is not numeric, fall back to a local counter.
    this.storeVersion = Number.isSafeInteger(n) && n > this.storeVersion ? n : this.storeVersion + (Number.isSafeInteger(n) ? 0 : 1);
    return this.storeVersion;
  }

  /** Validate a cluster object; undefined (and recorded as rejected) when invalid. */
  private validate(kind: PolicyKind, obj: KubeObject): Policy | undefined {
    const meta = obj.metadata ?? ({} as KubeObject['metadata']);
    const metadata = Object.fromEntries(Object.entries(meta).filter(([k]) => META_KEYS.includes(k)));
    const where = `${kind} ${meta.namespace ?? ''}/${meta.name}`;
    const issues: ValidationIssue[] = [];
    const value = { apiVersion: obj.apiVersion, kind: obj.kind ?? kind, metadata, spec: obj.spec, ...(obj.status ? { status: obj.status } : {}) };
    const policy = readPolicyDocument({ value, file: where, line: 1, lineOf: () => undefined }, issues);
    const ref = { kind, namespace: meta.namespace ?? 'default', name: meta.name };
    if (!policy || issues.length) {
      const rejected = { ref, resourceVersion: meta.resourceVersion ?? '', issues: issues.map(formatIssue) };
      this.rejectedObjects.set(policyKey(ref), rejected);
      this.log.warn('policy rejected; keeping the last good version', { policy: where, issues: rejected.issues });
      return undefined;
    }
    this.rejectedObjects.delete(policyKey(ref));
    return policy;
  }

  private replace(kind: PolicyKind, items: KubeObject[], rv: string): void {
    const changes: ApplyChange[] = [];
    const seen = new Set<string>();
    const version = this.bumpVersion(rv);
    for (const obj of items) {
      const policy = this.validate(kind, obj);
      const key = policyKey({ kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name });
      seen.add(key);
      if (!policy) continue;
      const action = this.store(policy, obj.metadata.resourceVersion, version);
      if (action !== 'unchanged') changes.push({ ref: refOf(policy), action });
    }
    for (const [key, p] of this.policies) {
      if (p.kind === kind && !seen.has(key)) {
        this.policies.delete(key);
        changes.push({ ref: refOf(p), action: 'deleted' });
      }
    }
    for (const key of this.rejectedObjects.keys()) if (key.startsWith(`${kind}/`) && !seen.has(key)) this.rejectedObjects.delete(key);
    // one event for the whole (re)list
    if (this.started && changes.length) this.emit({ version, changes });
  }

  private onEvent(kind: PolicyKind, type: WatchEventType, obj: KubeObject): void {
    const version = this.bumpVersion(obj.metadata.resourceVersion);
    const ref = { kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name };
    if (type === 'DELETED') {
      this.rejectedObjects.delete(policyKey(ref));
      if (this.policies.delete(policyKey(ref))) this.emit({ version, changes: [{ ref, action: 'deleted' }] });
      return;
    }
    const policy = this.validate(kind, obj);
    if (!policy) return;
    const action = this.store(policy, obj.metadata.resourceVersion, version);
    if (action !== 'unchanged') this.emit({ version, changes: [{ ref, action }] });
  }

  private store(policy: Policy, rv: string | undefined, version: number): ApplyChange['action'] {
    const key = policyKey(refOf(policy));
    const prev = this.policies.get(key);
    const n = Number(rv);
    const stored = { ...policy, resourceVersion: Number.isSafeInteger(n) ? n : version } as StoredPolicy;
    if (prev && JSON.stringify({ ...prev, resourceVersion: 0 }) === JSON.stringify({ ...stored, resourceVersion: 0 })) return 'unchanged';
    this.policies.set(key, stored);
    return prev ? 'configured' : 'created';
  }

  private emit(ev: StoreEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        this.log.error('store listener threw', { err });
      }
    }
  }

  // ------------------------------------------------------------ writes

  /**
   * Refused: validated policies are a lossy domain form (durations in ms,
   * defaults filled in), so writing them back would change what the user
   * wrote. On Kubernetes, users apply the YAML itself (`kubectl apply -f`);
   * the CRD schemas and this store's validation check it.
   */
  async apply(policies: readonly Policy[], _opts: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    throw new MeshError(
      'MESH_UNSUPPORTED',
      `on Kubernetes, policies live in the cluster: apply ${policies.length === 1 ? policyKey(refOf(policies[0]!)) : `these ${policies.length} policies`} with \`kubectl apply -f\``,
    );
  }

  async delete(refs: readonly PolicyRef[], opts: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    const missing = refs.filter((r) => !this.get(r));
    if (missing.length) throw new MeshError('MESH_NOT_FOUND', `not found: ${missing.map(policyKey).join(', ')}`);
    for (const dryRun of opts.dryRun ? [true] : [true, false]) {
      for (const r of refs) {
        const loc = POLICY_LOCATIONS[r.kind];
        await this.api.deleteNamespacedCustomObject({ group: loc.group, version: loc.version, plural: loc.plural, namespace: r.namespace, name: r.name, ...(dryRun ? { dryRun: 'All' } : {}) });
      }
    }
    return { version: this.storeVersion, changes: refs.map((ref) => ({ ref, action: 'deleted' as const })), dryRun: opts.dryRun ?? false };
  }
}

// The policy store contract. The embedded file store and a Kubernetes CRD
// store both implement `PolicyStore`. Every successful write bumps one
// store-wide version (monotonic, survives restarts); each stored policy
// carries the version at which it last changed (`resourceVersion`).

import type { Policy, PolicyKind, PolicyRef } from '../policy/types.js';

export type StoredPolicy = Policy & { resourceVersion: number };

export interface ApplyChange {
  ref: PolicyRef;
  action: 'created' | 'configured' | 'unchanged' | 'deleted';
}

export interface ApplyResult {
  /** Store version after the write (unchanged when nothing changed or on dry-run). */
  version: number;
  changes: ApplyChange[];
  dryRun: boolean;
}

export interface StoreEvent {
  version: number;
  changes: ApplyChange[];
}

export interface PolicyStore {
  /** Current store version (0 when empty and never written). */
  version(): number;
  list(kind?: PolicyKind, namespace?: string): readonly StoredPolicy[];
  get(ref: PolicyRef): StoredPolicy | undefined;
  /** Create or replace these policies, all or none. Policies must already be validated. */
  apply(policies: readonly Policy[], opts?: { dryRun?: boolean }): Promise<ApplyResult>;
  /** Delete these policies, all or none; a missing one is an error (MESH_NOT_FOUND). */
  delete(refs: readonly PolicyRef[], opts?: { dryRun?: boolean }): Promise<ApplyResult>;
  /** Called after every committed change; returns an unsubscribe function. */
  onChange(listener: (ev: StoreEvent) => void): () => void;
  close?(): Promise<void> | void;
}

// A published, immutable per-node snapshot: the domain resources, each encoded
// once to wire bytes with a content hash (the per-resource version delta xDS
// uses), and one version per type derived from those hashes — so a type whose
// resources did not change keeps its version and is not pushed again.

import { isRootsName } from '../../proxy/tls/file-roots.js';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import { RUNTIME_SECRETS } from '../../proxy/config/check.js';
import type { ResourceKind, ResourceMaps } from '../../proxy/config/resources.js';
import type { DomainOf } from '../../proxy/xds/codec/index.js';
import { encodedFor, encodeOne, hash, type EncodedResource } from './encode-cache.js';

export type { EncodedResource } from './encode-cache.js';

/** Push order that never references something the proxy does not have yet (make before break). */
export const PUSH_ORDER: readonly ResourceKind[] = ['cluster', 'clusterLoadAssignment', 'listener', 'routeConfiguration', 'secret'];

export interface TypeSet {
  /** Version of the whole set of this type (SotW version_info). */
  version: string;
  resources: ReadonlyMap<string, EncodedResource>;
}

export interface Snapshot {
  /** The control-plane config version this snapshot was built from (what receipts are keyed by). */
  readonly version: string;
  readonly resources: ResourceMaps;
  readonly types: Readonly<Record<ResourceKind, TypeSet>>;
}


/** Every listener's RDS name, every EDS cluster's endpoint set and every TLS secret must exist. */
export function checkConsistency(res: ResourceMaps): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const needSecret = (path: string, name: string | undefined) => {
    // `default` and `ROOTCA` come from the workload's own identity manager at runtime (as in proxy/config/check.ts).
    // Roots a sidecar reads itself (file-root:<path>, system-roots: TLS origination) are not pushed either.
    if (name && !RUNTIME_SECRETS.has(name) && !isRootsName(name) && !res.secret.has(name)) issues.push({ path, message: `references secret "${name}", which is not in the snapshot` });
  };
  for (const [name, l] of res.listener) {
    const hcms = l.apiListener ? [{ chain: 'api_listener', hcm: l.apiListener }] : [];
    for (const c of l.filterChains) {
      if (c.filter.kind === 'http') hcms.push({ chain: `filter_chains[${c.name}]`, hcm: c.filter });
      needSecret(`listener[${name}].filter_chains[${c.name}].transport_socket`, c.transportSocket?.certificateSecret);
      needSecret(`listener[${name}].filter_chains[${c.name}].transport_socket`, c.transportSocket?.validationSecret);
    }
    for (const { chain, hcm } of hcms) {
      const rds = hcm.rdsRouteConfigName;
      if (rds !== undefined && !res.routeConfiguration.has(rds)) {
        issues.push({ path: `listener[${name}].${chain}.rds`, message: `references route configuration "${rds}", which is not in the snapshot` });
      }
    }
  }
  for (const [name, c] of res.cluster) {
    const eds = c.edsServiceName ?? c.name;
    if (c.type === 'EDS' && !res.clusterLoadAssignment.has(eds)) {
      issues.push({ path: `cluster[${name}].eds_cluster_config`, message: `references endpoints "${eds}", which are not in the snapshot` });
    }
    needSecret(`cluster[${name}].transport_socket`, c.transportSocket?.certificateSecret);
    needSecret(`cluster[${name}].transport_socket`, c.transportSocket?.validationSecret);
  }
  return issues;
}

/** True when `map` holds exactly the resources of `set` (same names, same encoded objects): its version stands. */
function sameResources(set: TypeSet, map: ReadonlyMap<string, object>): boolean {
  if (set.resources.size !== map.size) return false;
  for (const [name, value] of map) {
    const r = encodedFor(value);
    if (!r || r.name !== name || set.resources.get(name) !== r) return false;
  }
  return true;
}

/** Same names, same encoded objects. */
function sameEntries(a: ReadonlyMap<string, EncodedResource>, b: ReadonlyMap<string, EncodedResource>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, r] of a) if (b.get(name) !== r) return false;
  return true;
}

/**
 * Type sets by kind and version, held weakly: proxies whose configs of a type are equal share one
 * TypeSet object, so a response encoded for one of them (wire.ts) serves the others.
 */
const interned = new Map<string, WeakRef<TypeSet>>();
const dropInterned = new FinalizationRegistry<string>((key) => {
  if (!interned.get(key)?.deref()) interned.delete(key);
});

function buildTypeSet(kind: ResourceKind, map: ReadonlyMap<string, DomainOf[ResourceKind]>, prev: TypeSet | undefined): TypeSet {
  const out = new Map<string, EncodedResource>();
  for (const [name, value] of map) out.set(name, encodeOne(kind, name, value));
  if (prev && sameEntries(out, prev.resources)) return prev;
  const digest = [...out.values()].map((r) => `${r.name}=${r.version}`).sort().join('\n');
  const version = out.size ? hash(digest) : 'empty';
  const key = `${kind}/${version}`;
  const shared = interned.get(key)?.deref();
  if (shared) return shared;
  const set: TypeSet = { version, resources: out };
  interned.set(key, new WeakRef(set));
  dropInterned.register(set, key);
  return set;
}

/**
 * The last types built from each ResourceMaps object. A control plane typically
 * publishes one config object to many nodes (or the same per-type maps again):
 * then each type is checked by identity (no encoding, hashing or sorting) and the
 * TypeSet objects are shared, so a response encoded for one node serves all.
 */
const built = new WeakMap<ResourceMaps, Record<ResourceKind, TypeSet>>();

/**
 * Checks consistency, encodes and versions the resources. Throws ValidationError when inconsistent.
 * `previous` (the node's last snapshot) lets an unchanged type keep its TypeSet object.
 */
export function buildSnapshot(version: string, resources: ResourceMaps, previous?: Snapshot): Snapshot {
  const cached = built.get(resources);
  const types = {} as Record<ResourceKind, TypeSet>;
  let allCached = cached !== undefined;
  for (const kind of PUSH_ORDER) {
    const map = resources[kind] as ReadonlyMap<string, DomainOf[ResourceKind]>;
    if (cached && sameResources(cached[kind], map)) types[kind] = cached[kind];
    else {
      allCached = false;
      const prev = previous?.types[kind];
      types[kind] = prev && sameResources(prev, map) ? prev : buildTypeSet(kind, map, prev);
    }
  }
  // Consistency is a property of the resources alone: a set already checked together needs no second check.
  if (!allCached) {
    const issues = checkConsistency(resources);
    if (issues.length) throw new ValidationError(issues, `snapshot ${version}`);
    built.set(resources, types);
  }
  return Object.freeze({ version, resources, types });
}

export function emptyResources(): ResourceMaps {
  return { listener: new Map(), routeConfiguration: new Map(), cluster: new Map(), clusterLoadAssignment: new Map(), secret: new Map() };
}

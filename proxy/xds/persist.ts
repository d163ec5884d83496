// Fail-static: the last config the sidecar applied is written to a local file
// (write temp, fsync, rename — never a torn file) so a sidecar restarted while
// the control plane is down boots from it.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { MeshError } from '../../common/errors.js';
import type { ConfigSnapshot, ResourceKind, ResourceMaps } from '../config/resources.js';
import { fromProtoObject, toProtoObject, type DomainOf } from './codec/index.js';

const KINDS: readonly ResourceKind[] = ['listener', 'routeConfiguration', 'cluster', 'clusterLoadAssignment', 'secret'];
const FORMAT = 'tsmesh.xds.last-good/v1';

export interface PersistedState {
  snapshot: ConfigSnapshot;
  /** Per-resource versions (delta xDS), sent back as initial_resource_versions. */
  resourceVersions: Record<ResourceKind, Record<string, string>>;
}

export function savePersisted(path: string, state: PersistedState): void {
  const resources: Record<string, unknown[]> = {};
  // Stored in the protobuf JSON form so the file is validated by the same decoder on load.
  for (const k of KINDS) resources[k] = [...(state.snapshot.resources[k] as ReadonlyMap<string, DomainOf[ResourceKind]>).values()].map((v) => toProtoObject(k, v));
  const body = JSON.stringify({ format: FORMAT, versions: state.snapshot.versions, resourceVersions: state.resourceVersions, resources });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* directory fsync is best effort (not supported everywhere) */
  }
}

/** The persisted state, or undefined when there is none; throws MeshError when the file is unreadable or invalid. */
export function loadPersisted(path: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MeshError('MESH_XDS_PERSIST', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const doc = JSON.parse(text) as { format?: string; versions: ConfigSnapshot['versions']; resourceVersions?: PersistedState['resourceVersions']; resources: Record<string, unknown[]> };
    if (doc.format !== FORMAT) throw new Error(`unknown format ${String(doc.format)}`);
    const maps = {} as Record<ResourceKind, Map<string, unknown>>;
    for (const k of KINDS) {
      maps[k] = new Map();
      (doc.resources[k] ?? []).forEach((obj, i) => {
        const v = fromProtoObject(k, obj, `${path}:${k}[${i}]`);
        maps[k].set(k === 'clusterLoadAssignment' ? (v as DomainOf['clusterLoadAssignment']).clusterName : (v as { name: string }).name, v);
      });
    }
    const empty = { listener: {}, routeConfiguration: {}, cluster: {}, clusterLoadAssignment: {}, secret: {} };
    return { snapshot: { resources: maps as unknown as ResourceMaps, versions: doc.versions }, resourceVersions: doc.resourceVersions ?? empty };
  } catch (err) {
    throw new MeshError('MESH_XDS_PERSIST', `invalid last-good config ${path}: ${(err as Error).message}`, { cause: err });
  }
}

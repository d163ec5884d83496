// `--static-snapshot file`: serves per-node snapshots from a YAML file of xDS
// resources in Envoy's own YAML form (snake_case fields, typed_config with
// "@type"), validated by the same decoder the sidecar uses, with file:line and
// field path in every error. Nodes not listed get the "*" entry, if any.
//
//   version: "7"              # optional; default: a hash of the file
//   nodes:
//     "*":                    # or a node id
//       listeners: [...]      # envoy.config.listener.v3.Listener
//       routes: [...]         # envoy.config.route.v3.RouteConfiguration
//       clusters: [...]       # envoy.config.cluster.v3.Cluster
//       endpoints: [...]      # envoy.config.endpoint.v3.ClusterLoadAssignment
//       secrets: [...]        # envoy.extensions.transport_sockets.tls.v3.Secret

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ValidationError } from '../../common/errors.js';
import { Reader } from '../../common/reader.js';
import { parseYamlDocuments } from '../../common/yaml-source.js';
import type { ResourceKind, ResourceMaps } from '../../proxy/config/resources.js';
import { decodeWith, resourceName, type DomainOf } from '../../proxy/xds/codec/index.js';
import { checkConsistency, emptyResources } from './snapshot.js';

const SECTIONS: Record<string, ResourceKind> = {
  listeners: 'listener',
  routes: 'routeConfiguration',
  clusters: 'cluster',
  endpoints: 'clusterLoadAssignment',
  secrets: 'secret',
};

export interface StaticSnapshots {
  version: string;
  nodes: Map<string, ResourceMaps>;
  /** The snapshot for a node id: its own entry, else "*". */
  forNode(nodeId: string): ResourceMaps | undefined;
}

export function parseStaticSnapshots(text: string, file?: string): StaticSnapshots {
  const docs = parseYamlDocuments(text, file);
  if (docs.length !== 1) throw new ValidationError([{ file, path: '', message: 'expected exactly one YAML document' }], 'static snapshot');
  const r = Reader.of(docs[0]!);
  r.object(true);
  r.onlyKeys(['version', 'nodes']);
  const version = r.field('version').string({ maxLength: 128 }) ?? createHash('sha256').update(text).digest('hex').slice(0, 12);
  const nodes = new Map<string, ResourceMaps>();
  const nodesR = r.field('nodes');
  nodesR.object(true);
  for (const [nodeId, nr] of nodesR.entries()) {
    if (!nr.object(true)) continue;
    nr.onlyKeys(Object.keys(SECTIONS));
    const maps = emptyResources() as { [K in ResourceKind]: Map<string, DomainOf[K]> };
    for (const [section, kind] of Object.entries(SECTIONS)) {
      for (const item of nr.field(section).array()) {
        const v = decodeWith(kind, item);
        if (!v) continue;
        const name = resourceName(kind, v);
        if (maps[kind].has(name)) item.fail(`duplicate ${kind} name "${name}"`);
        (maps[kind] as Map<string, unknown>).set(name, v);
      }
    }
    for (const issue of checkConsistency(maps)) nr.fail(issue.message.replace(/^/, `${issue.path}: `));
    nodes.set(nodeId, maps);
  }
  r.throwIfIssues(file ? `static snapshot ${file}` : 'static snapshot');
  return { version, nodes, forNode: (id) => nodes.get(id) ?? nodes.get('*') };
}

export function loadStaticSnapshots(file: string): StaticSnapshots {
  return parseStaticSnapshots(readFileSync(file, 'utf8'), file);
}

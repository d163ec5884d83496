// Domain ↔ xDS wire for the five resource types. `encodeResource` yields the
// protobuf bytes of one resource (what goes into an Any); `decodeResource`
// validates bytes from the wire and returns the domain object, or throws a
// ValidationError listing every problem with its field path.

import { MeshError, ValidationError } from '../../../common/errors.js';
import { Reader } from '../../../common/reader.js';
import { TYPE_URLS, type ResourceKind } from '../../config/resources.js';
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration, Secret } from '../../config/resources.js';
import { messageType, TO_OBJECT } from '../proto-root.js';
import { decodeCluster, encodeCluster } from './cluster.js';
import { decodeClusterLoadAssignment, encodeClusterLoadAssignment } from './endpoint.js';
import { decodeListener, encodeListener } from './listener.js';
import { decodeRouteConfiguration, encodeRouteConfiguration } from './route.js';
import { decodeSecret, encodeSecret } from './tls.js';
import type { PObj } from './wire.js';

export interface DomainOf {
  listener: Listener;
  routeConfiguration: RouteConfiguration;
  cluster: Cluster;
  clusterLoadAssignment: ClusterLoadAssignment;
  secret: Secret;
}

type Codec<K extends ResourceKind> = {
  message: string;
  encode(v: DomainOf[K]): PObj;
  decode(r: Reader): DomainOf[K] | undefined;
};

const CODECS: { [K in ResourceKind]: Codec<K> } = {
  listener: { message: 'envoy.config.listener.v3.Listener', encode: encodeListener, decode: decodeListener },
  routeConfiguration: {
    message: 'envoy.config.route.v3.RouteConfiguration',
    encode: encodeRouteConfiguration,
    decode: decodeRouteConfiguration,
  },
  cluster: { message: 'envoy.config.cluster.v3.Cluster', encode: encodeCluster, decode: decodeCluster },
  clusterLoadAssignment: {
    message: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
    encode: encodeClusterLoadAssignment,
    decode: decodeClusterLoadAssignment,
  },
  secret: { message: 'envoy.extensions.transport_sockets.tls.v3.Secret', encode: encodeSecret, decode: decodeSecret },
};

/** Upper bound on one resource's encoded size (gRPC's default message limit is 4 MiB). */
export const MAX_RESOURCE_BYTES = 4 * 1024 * 1024;

const KIND_BY_URL = new Map<string, ResourceKind>(Object.entries(TYPE_URLS).map(([k, u]) => [u, k as ResourceKind]));

export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return KIND_BY_URL.get(typeUrl);
}

/** The protobuf object form (snake_case, Any as `@type`) of a domain resource: what the golden files hold. */
export function toProtoObject<K extends ResourceKind>(kind: K, value: DomainOf[K]): PObj {
  return CODECS[kind].encode(value);
}

/** Wire bytes of one domain resource. */
export function encodeResource<K extends ResourceKind>(kind: K, value: DomainOf[K]): Uint8Array {
  const type = messageType(CODECS[kind].message);
  try {
    return type.encode(type.fromObject(CODECS[kind].encode(value))).finish();
  } catch (err) {
    throw new MeshError('MESH_XDS_ENCODE', `cannot encode ${kind}: ${(err as Error).message}`, { cause: err });
  }
}

/** Bytes → protobuf object form (Any expanded when its type is known), for decoding and debugging. */
export function wireToObject(kind: ResourceKind, bytes: Uint8Array): PObj {
  const type = messageType(CODECS[kind].message);
  return type.toObject(type.decode(bytes), TO_OBJECT) as PObj;
}

/** Validates the protobuf object form of one resource and converts it to the domain type. */
export function fromProtoObject<K extends ResourceKind>(kind: K, obj: unknown, where = kind as string): DomainOf[K] {
  const r = new Reader(obj, [where]);
  if (!r.object(true)) r.throwIfIssues(`${kind}`);
  const value = CODECS[kind].decode(r);
  r.throwIfIssues(kind);
  if (!value) throw new ValidationError([{ path: where, message: 'could not be decoded' }], kind);
  return value;
}

/** Decodes and validates one resource from the wire. */
export function decodeResource<K extends ResourceKind>(kind: K, bytes: Uint8Array, where?: string): DomainOf[K] {
  if (bytes.length > MAX_RESOURCE_BYTES) {
    throw new ValidationError([{ path: where ?? kind, message: `resource larger than ${MAX_RESOURCE_BYTES} bytes` }], kind);
  }
  let obj: PObj;
  try {
    obj = wireToObject(kind, bytes);
  } catch (err) {
    throw new ValidationError([{ path: where ?? kind, message: `malformed protobuf: ${(err as Error).message}` }], kind);
  }
  return fromProtoObject(kind, obj, where);
}

/** The resource's name as the xDS protocol names it. */
export function resourceName(kind: ResourceKind, value: DomainOf[ResourceKind]): string {
  return kind === 'clusterLoadAssignment' ? (value as ClusterLoadAssignment).clusterName : (value as { name: string }).name;
}

/** Decodes the protobuf object form at `r`, recording problems in r's context (for callers reading larger documents). */
export function decodeWith<K extends ResourceKind>(kind: K, r: Reader): DomainOf[K] | undefined {
  if (!r.object(true)) return undefined;
  return CODECS[kind].decode(r);
}

// The AggregatedDiscoveryService as a grpc-js service definition, with
// serializers built on the trimmed Envoy protos (proto-root.ts). Server and
// client share it. Resources inside responses travel as already-encoded Any
// bytes, so a push to N proxies encodes each resource once.

import type { ServiceDefinition } from '@grpc/grpc-js';
import { messageType } from './proto-root.js';

export interface AnyMsg {
  type_url: string;
  value: Uint8Array;
}

export interface StatusMsg {
  code?: number;
  message?: string;
}

export interface StructValueMsg {
  stringValue?: string;
  numberValue?: number;
  boolValue?: boolean;
  structValue?: { fields?: Record<string, StructValueMsg> };
  listValue?: { values?: StructValueMsg[] };
}

export interface NodeMsg {
  id?: string;
  cluster?: string;
  metadata?: { fields?: Record<string, StructValueMsg> };
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  user_agent_version?: string;
  client_features?: string[];
}

export interface DiscoveryRequestMsg {
  version_info?: string;
  node?: NodeMsg;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: StatusMsg;
}

export interface DiscoveryResponseMsg {
  version_info: string;
  resources: AnyMsg[];
  type_url: string;
  nonce: string;
}

export interface DeltaDiscoveryRequestMsg {
  node?: NodeMsg;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: StatusMsg;
}

export interface ResourceMsg {
  name: string;
  version: string;
  resource?: AnyMsg;
  aliases?: string[];
}

export interface DeltaDiscoveryResponseMsg {
  system_version_info: string;
  resources: ResourceMsg[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

const PKG = 'envoy.service.discovery.v3';
const SERVICE = `${PKG}.AggregatedDiscoveryService`;

function codec<T>(name: string) {
  const type = messageType(`${PKG}.${name}`);
  return {
    serialize: (msg: T): Buffer => {
      const bytes = type.encode(msg as object).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (buf: Buffer): T =>
      type.toObject(type.decode(buf), { longs: Number, enums: String, bytes: Buffer, defaults: false, arrays: false }) as T,
  };
}

function method<Req, Res>(name: string, req: string, res: string) {
  const rq = codec<Req>(req);
  const rs = codec<Res>(res);
  return {
    path: `/${SERVICE}/${name}`,
    originalName: name,
    requestStream: true,
    responseStream: true,
    requestSerialize: rq.serialize,
    requestDeserialize: rq.deserialize,
    responseSerialize: rs.serialize,
    responseDeserialize: rs.deserialize,
  };
}

let definition: ServiceDefinition | undefined;

/** ADS: StreamAggregatedResources (state of the world) and DeltaAggregatedResources (incremental). */
export function adsServiceDefinition(): ServiceDefinition {
  definition ??= {
    StreamAggregatedResources: method<DiscoveryRequestMsg, DiscoveryResponseMsg>(
      'StreamAggregatedResources',
      'DiscoveryRequest',
      'DiscoveryResponse',
    ),
    DeltaAggregatedResources: method<DeltaDiscoveryRequestMsg, DeltaDiscoveryResponseMsg>(
      'DeltaAggregatedResources',
      'DeltaDiscoveryRequest',
      'DeltaDiscoveryResponse',
    ),
  } as ServiceDefinition;
  return definition;
}

/** A flat view of node metadata: string values as-is, other scalars stringified, nested values as JSON. */
export function nodeMetadata(node: NodeMsg | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(node?.metadata?.fields ?? {})) {
    if (v.stringValue !== undefined) out[k] = v.stringValue;
    else if (v.numberValue !== undefined) out[k] = String(v.numberValue);
    else if (v.boolValue !== undefined) out[k] = String(v.boolValue);
    else if (v.structValue) {
      const inner: Record<string, string> = {};
      for (const [ik, iv] of Object.entries(v.structValue.fields ?? {})) if (iv.stringValue !== undefined) inner[ik] = iv.stringValue;
      out[k] = JSON.stringify(inner);
    }
  }
  return out;
}

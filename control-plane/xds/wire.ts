// Pre-encoded responses. SotW: a push sends the same DiscoveryResponse to every
// proxy that shares a type's resources and subscription; only the nonce
// differs. Protobuf fields may be concatenated, so the body (version_info,
// resources, type_url) is encoded once per (TypeSet, subscription) and each
// stream appends its own nonce field. The server's ADS definition passes such
// Buffers through unchanged; plain message objects are encoded as before.
// Delta responses differ per stream, so there each resource's entry is
// encoded once and the entries a stream needs are concatenated.
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { adsServiceDefinition, type AnyMsg } from '../../proxy/xds/ads-wire.js';
import { messageType } from '../../proxy/xds/proto-root.js';
import type { EncodedResource, TypeSet } from './snapshot.js';

const RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
const DELTA_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';
/** Distinct subscriptions remembered per TypeSet (proxies of one service ask for the same names). */
const MAX_BODIES_PER_SET = 16;

let definition: ServiceDefinition | undefined;

/** ADS as the server registers it: responses may be pre-encoded Buffers. */
export function serverAdsDefinition(): ServiceDefinition {
  if (definition) return definition;
  const base = adsServiceDefinition();
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(base) as [string, MethodDefinition<unknown, unknown>][]) {
    const encode = m.responseSerialize;
    out[name] = { ...m, responseSerialize: (msg: unknown) => (Buffer.isBuffer(msg) ? msg : encode(msg)) };
  }
  definition = out as ServiceDefinition;
  return definition;
}

const bodies = new WeakMap<TypeSet, Map<string, Buffer>>();

/**
 * The encoded DiscoveryResponse for `set` and the subscription `namesKey`, with
 * `nonce`. `resources` are the Any messages the subscription selects from `set`
 * (computed by the caller only on a cache miss).
 */
export function encodeSotwResponse(set: TypeSet, typeUrl: string, namesKey: string, nonce: string, resources: () => AnyMsg[]): Buffer {
  const type = messageType(RESPONSE);
  let perSet = bodies.get(set);
  if (!perSet) bodies.set(set, (perSet = new Map()));
  let body = perSet.get(namesKey);
  if (!body) {
    const bytes = type.encode({ version_info: set.version, resources: resources(), type_url: typeUrl }).finish();
    body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (perSet.size >= MAX_BODIES_PER_SET) perSet.delete(perSet.keys().next().value!);
    perSet.set(namesKey, body);
  }
  const tail = type.encode({ nonce }).finish();
  return Buffer.concat([body, tail]);
}

/** One `resources` entry (field 2: name, version, resource) of a DeltaDiscoveryResponse, per encoded resource. */
const deltaEntries = new WeakMap<EncodedResource, Buffer>();

/** A DeltaDiscoveryResponse: the per-stream fields encoded here, each resource's entry encoded once. */
export function encodeDeltaResponse(
  head: { system_version_info: string; type_url: string; removed_resources: string[]; nonce: string },
  send: readonly EncodedResource[],
): Buffer {
  const type = messageType(DELTA_RESPONSE);
  const parts: Buffer[] = [];
  for (const r of send) {
    let entry = deltaEntries.get(r);
    if (!entry) {
      const b = type.encode({ resources: [{ name: r.name, version: r.version, resource: r.any }] }).finish();
      entry = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      deltaEntries.set(r, entry);
    }
    parts.push(entry);
  }
  const h = type.encode(head).finish();
  parts.push(Buffer.from(h.buffer, h.byteOffset, h.byteLength));
  return Buffer.concat(parts);
}

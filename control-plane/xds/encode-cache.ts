// Encoding resources once. The controller translates every proxy's config
// afresh, so equal resources arrive as distinct objects (the endpoints of a
// service appear in the config of every caller): keyed by object identity
// alone, each would be protobuf-encoded once per proxy, which profiling put at
// ~60% of an apply's CPU. Here a resource is looked up by identity first, then
// by a SHA-256 of its content — its JSON with Maps, Sets, byte arrays and
// non-finite numbers spelled out, ~10-25x cheaper than encoding it — and
// encoded only when both miss. (The JSON itself as the key was no faster: V8
// hashes a long string char by char on every lookup, and strings over 16 K
// characters hash by length alone, so equal-length resources would collide.)
import { createHash } from 'node:crypto';
import { TYPE_URLS, type ResourceKind } from '../../proxy/config/resources.js';
import { encodeResource, type DomainOf } from '../../proxy/xds/codec/index.js';

export interface EncodedResource {
  name: string;
  /** Content hash: the resource's version on delta streams. */
  version: string;
  any: { type_url: string; value: Uint8Array };
}

/** Encoded bytes the content cache may keep beyond what live snapshots hold. */
const CONTENT_CACHE_BYTES = 64 << 20;

export function hash(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('base64url').slice(0, 16);
}

const byIdentity = new WeakMap<object, EncodedResource>();
/** Insertion-ordered: the oldest entries go first when over budget. */
const byContent = new Map<string, EncodedResource>();
let contentBytes = 0;

function jsonSafe(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
  if (v instanceof Map) return { $map: [...v] };
  if (v instanceof Set) return { $set: [...v] };
  if (ArrayBuffer.isView(v)) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  return v;
}

/** Content keys by object: a resource shared by many proxies (translate/memo.ts) is serialized and hashed once. */
const keyByIdentity = new WeakMap<object, { kind: ResourceKind; name: string; key: string }>();

/**
 * Hash of (kind, name, content): equal for equal content, also across restarts. Memoized per object
 * (resources are immutable once built), so the controller's change check and the encoding share one hash.
 */
export function contentKey(kind: ResourceKind, name: string, value: object): string {
  const hit = keyByIdentity.get(value);
  if (hit && hit.kind === kind && hit.name === name) return hit.key;
  const key = createHash('sha256').update(`${kind}\0${name}\0`).update(JSON.stringify(value, jsonSafe)).digest('base64url');
  keyByIdentity.set(value, { kind, name, key });
  return key;
}

const entrySize = (key: string, r: EncodedResource): number => key.length + r.any.value.byteLength;

/** The encoding `value` already has (by identity), if any. */
export function encodedFor(value: object): EncodedResource | undefined {
  return byIdentity.get(value);
}

export function encodeOne(kind: ResourceKind, name: string, value: DomainOf[ResourceKind]): EncodedResource {
  const hit = byIdentity.get(value);
  if (hit && hit.name === name) return hit;
  const key = contentKey(kind, name, value);
  let r = byContent.get(key);
  if (r) {
    byContent.delete(key); // most recently used last
    byContent.set(key, r);
  } else {
    const bytes = encodeResource(kind, value);
    r = { name, version: hash(bytes), any: { type_url: TYPE_URLS[kind], value: bytes } };
    byContent.set(key, r);
    contentBytes += entrySize(key, r);
    for (const [k, old] of byContent) {
      if (contentBytes <= CONTENT_CACHE_BYTES) break;
      byContent.delete(k);
      contentBytes -= entrySize(k, old);
    }
  }
  byIdentity.set(value, r);
  return r;
}

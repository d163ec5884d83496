// The sidecar's xDS client: ADS over grpc-js (state of the world by default,
// delta on request). Subscribes to listeners and clusters (wildcard), then to
// the route configs, endpoint sets and secrets they reference; decodes to
// domain objects; hands complete ConfigSnapshots to `apply`, ACKing what
// applied and NACKing (with the precise error) what did not, keeping the last
// good config. While the control plane is unreachable it keeps serving and
// reconnects with backoff; the last good config is persisted for fail-static boots.

import { credentials as grpcCredentials, makeGenericClientConstructor, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { MeshError, ValidationError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { assertValidSnapshot } from '../config/check.js';
import { TYPE_URLS, type ConfigSnapshot, type NodeInfo, type ResourceKind } from '../config/resources.js';
import {
  adsServiceDefinition,
  type AnyMsg,
  type DeltaDiscoveryRequestMsg,
  type DeltaDiscoveryResponseMsg,
  type DiscoveryRequestMsg,
  type DiscoveryResponseMsg,
  type NodeMsg,
} from './ads-wire.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { decodeResource, kindOfTypeUrl, resourceName, type DomainOf } from './codec/index.js';
import { buildNode, type NodeExtras } from './node.js';
import { loadPersisted, savePersisted } from './persist.js';
import { copyMaps, emptyMaps, KINDS, referencedNames, sameNames, toSnapshot, WILDCARD, type Maps } from './resource-state.js';

export interface XdsClientOptions {
  /** host:port of the control plane. */
  server: string;
  credentials?: ChannelCredentials;
  node: NodeInfo;
  nodeExtras?: NodeExtras;
  /** Installs a complete config; throws ValidationError to reject it (the old one keeps serving). */
  apply: (snapshot: ConfigSnapshot) => void;
  protocol?: 'sotw' | 'delta';
  /** Where the last good config is persisted (fail-static). */
  persistPath?: string;
  backoff?: BackoffOptions;
  clock?: Clock;
  logger?: Logger;
}

type RType = Exclude<ResourceKind, 'listener' | 'cluster'>;

const AdsClient = makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');

export class XdsClient {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly nodeMsg: NodeMsg;
  private readonly backoff: Backoff;
  private readonly client: InstanceType<typeof AdsClient>;
  /** Applied (last good) state. */
  private good: Maps = emptyMaps();
  /** Received and decoded, possibly waiting for dependencies before it can be applied. */
  private held: Maps = emptyMaps();
  private versions = Object.fromEntries(KINDS.map((k) => [k, ''])) as Record<ResourceKind, string>;
  private resourceVersions = Object.fromEntries(KINDS.map((k) => [k, {}])) as Record<ResourceKind, Record<string, string>>;
  private subscribed = Object.fromEntries(KINDS.map((k) => [k, new Set<string>()])) as Record<ResourceKind, Set<string>>;
  /** Names subscribed to but not yet answered on this stream. */
  private awaiting = Object.fromEntries(KINDS.map((k) => [k, new Set<string>()])) as Record<ResourceKind, Set<string>>;
  private nonces: Partial<Record<ResourceKind, string>> = {};
  private call: ClientDuplexStream<any, any> | undefined;
  private retry: Timer | undefined;
  private stopped = true;
  private sentNode = false;
  private lastError: string | undefined;

  /** Why the last stream to the control plane failed (e.g. code 7 PERMISSION_DENIED), for status pages. */
  lastStreamError: { code?: number; message: string } | undefined;
  /** Applied config snapshots so far (observable by tests and the admin listener). */
  appliedCount = 0;

  constructor(private readonly opts: XdsClientOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.nodeMsg = buildNode(opts.node, opts.nodeExtras);
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
    this.client = new AdsClient(opts.server, opts.credentials ?? grpcCredentials.createInsecure());
  }

  /**
   * Boots from the persisted last good config, if any (fail-static), applying it
   * before the control plane answers. Returns the snapshot applied, if any.
   */
  bootFromPersisted(): ConfigSnapshot | undefined {
    if (!this.opts.persistPath) return undefined;
    const state = loadPersisted(this.opts.persistPath);
    if (!state) return undefined;
    this.opts.apply(state.snapshot);
    this.good = copyMaps(state.snapshot.resources);
    this.held = copyMaps(state.snapshot.resources);
    this.versions = { ...state.snapshot.versions };
    this.resourceVersions = state.resourceVersions;
    this.log.info('xds: booted from last good config', { path: this.opts.persistPath });
    return state.snapshot;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.retry?.cancel();
    this.call?.cancel();
    this.call = undefined;
    this.client.close();
  }

  /** The config currently serving. */
  current(): ConfigSnapshot {
    return toSnapshot(this.good, this.versions);
  }

  get connected(): boolean {
    return !!this.call;
  }

  // ------------------------------------------------------------- connection

  private connect(): void {
    if (this.stopped) return;
    const delta = this.opts.protocol === 'delta';
    const call = delta ? this.client.DeltaAggregatedResources() : this.client.StreamAggregatedResources();
    this.call = call;
    this.sentNode = false;
    this.nonces = {};
    for (const k of KINDS) this.awaiting[k] = new Set();
    call.on('data', (msg: DiscoveryResponseMsg | DeltaDiscoveryResponseMsg) => {
      if (call !== this.call) return;
      this.backoff.reset();
      try {
        if (delta) this.onDelta(msg as DeltaDiscoveryResponseMsg);
        else this.onSotw(msg as DiscoveryResponseMsg);
      } catch (err) {
        this.log.error('xds: response handling failed', { err });
      }
    });
    call.on('error', (err: Error & { code?: number }) => {
      this.lastStreamError = { code: err.code, message: err.message };
      this.lost(call, err.message);
    });
    call.on('end', () => this.lost(call, 'stream ended'));
    // Wildcard for listeners and clusters first; the rest follows what they reference.
    for (const k of ['cluster', 'listener'] as const) this.subscribe(k, new Set(), true);
    for (const k of ['routeConfiguration', 'clusterLoadAssignment', 'secret'] as const) {
      const names = this.subscribed[k];
      if (names.size) this.subscribe(k, names, true);
    }
  }

  private lost(call: ClientDuplexStream<any, any>, why: string): void {
    if (call !== this.call) return;
    this.call = undefined;
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.log.warn('xds: control plane stream lost; serving last good config', { why, retryInMs: Math.round(delay) });
    this.retry = this.clock.setTimeout(() => this.connect(), delay);
  }

  private send(msg: DiscoveryRequestMsg | DeltaDiscoveryRequestMsg): void {
    if (!this.sentNode) {
      msg.node = this.nodeMsg;
      this.sentNode = true;
    }
    this.call?.write(msg);
  }

  /** (Re)subscribes `kind` to `names` (empty set = wildcard for listeners/clusters). */
  private subscribe(kind: ResourceKind, names: Set<string>, initial = false): void {
    const prev = this.subscribed[kind];
    this.subscribed[kind] = names;
    const added = [...names].filter((n) => initial || !prev.has(n));
    // A delta server answers only with differences, so on a re-subscribe we wait only for what we do not hold.
    const held = this.opts.protocol === 'delta' ? this.resourceVersions[kind] : {};
    for (const n of added) if (!(n in held)) this.awaiting[kind].add(n);
    for (const n of prev) if (!names.has(n)) this.awaiting[kind].delete(n);
    if (WILDCARD.has(kind) && initial && Object.keys(held).length === 0) this.awaiting[kind].add('*');
    if (this.opts.protocol === 'delta') {
      const msg: DeltaDiscoveryRequestMsg = { type_url: TYPE_URLS[kind] };
      if (initial) {
        msg.resource_names_subscribe = WILDCARD.has(kind) ? [] : [...names];
        msg.initial_resource_versions = this.resourceVersions[kind];
      } else {
        msg.resource_names_subscribe = added;
        msg.resource_names_unsubscribe = [...prev].filter((n) => !names.has(n));
      }
      this.send(msg);
    } else {
      const msg: DiscoveryRequestMsg = { type_url: TYPE_URLS[kind], resource_names: [...names], version_info: this.versions[kind] };
      const nonce = this.nonces[kind];
      if (nonce) msg.response_nonce = nonce;
      this.send(msg);
    }
  }

  // ------------------------------------------------------------- responses

  private decodeAll(kind: ResourceKind, items: { any: AnyMsg | undefined; name?: string }[]): Map<string, DomainOf[ResourceKind]> {
    const out = new Map<string, DomainOf[ResourceKind]>();
    const issues: ValidationError['issues'] = [];
    items.forEach((it, i) => {
      const where = `${kind}[${it.name ?? i}]`;
      if (!it.any || it.any.type_url !== TYPE_URLS[kind]) {
        issues.push({ path: where, message: `expected ${TYPE_URLS[kind]}, got ${it.any?.type_url ?? 'nothing'}` });
        return;
      }
      try {
        const v = decodeResource(kind, it.any.value, where);
        out.set(resourceName(kind, v), v);
      } catch (err) {
        if (err instanceof ValidationError) issues.push(...err.issues);
        else throw err;
      }
    });
    if (issues.length) throw new ValidationError(issues, `${kind} update`);
    return out;
  }

  private onSotw(res: DiscoveryResponseMsg): void {
    const kind = kindOfTypeUrl(res.type_url);
    if (!kind) return;
    this.nonces[kind] = res.nonce;
    const ack = (error?: string) => {
      const msg: DiscoveryRequestMsg = {
        type_url: res.type_url,
        resource_names: [...this.subscribed[kind]],
        response_nonce: res.nonce,
        version_info: error ? this.versions[kind] : res.version_info,
      };
      if (error) msg.error_detail = { code: 3 /* INVALID_ARGUMENT */, message: error };
      this.send(msg);
    };
    let decoded: Map<string, DomainOf[ResourceKind]>;
    try {
      decoded = this.decodeAll(kind, (res.resources ?? []).map((any) => ({ any })));
    } catch (err) {
      return this.reject(kind, err, ack);
    }
    // State of the world: the response replaces everything of this type we asked for.
    const next = copyMaps(this.held);
    (next[kind] as Map<string, unknown>).clear();
    for (const [n, v] of decoded) (next[kind] as Map<string, unknown>).set(n, v);
    this.awaiting[kind].clear();
    this.accept(kind, next, res.version_info, ack, () => {});
  }

  private onDelta(res: DeltaDiscoveryResponseMsg): void {
    const kind = kindOfTypeUrl(res.type_url);
    if (!kind) return;
    const ack = (error?: string) => {
      const msg: DeltaDiscoveryRequestMsg = { type_url: res.type_url, response_nonce: res.nonce };
      if (error) msg.error_detail = { code: 3, message: error };
      this.send(msg);
    };
    let decoded: Map<string, DomainOf[ResourceKind]>;
    try {
      decoded = this.decodeAll(kind, (res.resources ?? []).map((r) => ({ any: r.resource, name: r.name })));
    } catch (err) {
      return this.reject(kind, err, ack);
    }
    const next = copyMaps(this.held);
    const map = next[kind] as Map<string, unknown>;
    for (const n of res.removed_resources ?? []) map.delete(n);
    for (const [n, v] of decoded) map.set(n, v);
    for (const n of decoded.keys()) this.awaiting[kind].delete(n);
    for (const n of res.removed_resources ?? []) this.awaiting[kind].delete(n);
    this.awaiting[kind].delete('*');
    const versions = { ...this.resourceVersions[kind] };
    for (const n of res.removed_resources ?? []) delete versions[n];
    for (const r of res.resources ?? []) versions[r.name] = r.version;
    this.accept(kind, next, res.system_version_info, ack, () => (this.resourceVersions[kind] = versions));
  }

  private reject(kind: ResourceKind, err: unknown, ack: (error?: string) => void): void {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    this.log.warn('xds: rejected update', { kind, error: message });
    ack(message);
  }

  /** Holds a decoded update; applies the whole config once nothing it references is still awaited. */
  private accept(kind: ResourceKind, next: Maps, version: string, ack: (error?: string) => void, commit: () => void): void {
    const prevHeld = this.held;
    const prevVersion = this.versions[kind];
    this.held = next;
    this.versions[kind] = version;
    commit();
    const waiting = this.resubscribe();
    if (waiting) return ack(); // decoded fine; applied once its dependencies arrive
    try {
      this.applyHeld();
      ack();
    } catch (err) {
      if (!(err instanceof ValidationError || err instanceof MeshError)) throw err;
      this.held = prevHeld;
      this.versions[kind] = prevVersion;
      this.resubscribe();
      this.reject(kind, err, ack);
    }
  }

  /** Updates RDS/EDS/SDS subscriptions to what the held config references; true while anything is awaited. */
  private resubscribe(): boolean {
    const refs = referencedNames(this.held);
    for (const k of ['clusterLoadAssignment', 'routeConfiguration', 'secret'] as RType[]) {
      if (!sameNames(refs[k], this.subscribed[k])) {
        this.subscribe(k, refs[k]);
        // Drop held resources nobody references any more.
        for (const n of this.held[k].keys()) if (!refs[k].has(n)) this.held[k].delete(n);
      }
    }
    return KINDS.some((k) => this.awaiting[k].size > 0);
  }

  private applyHeld(): void {
    const snap = toSnapshot(this.held, this.versions);
    // The same semantic checks the bootstrap loader runs (cross-references, regexes, weights…).
    assertValidSnapshot(snap);
    this.opts.apply(snap);
    this.good = copyMaps(this.held);
    this.appliedCount++;
    this.lastError = undefined;
    if (this.opts.persistPath) {
      try {
        savePersisted(this.opts.persistPath, { snapshot: snap, resourceVersions: this.resourceVersions });
      } catch (err) {
        this.log.error('xds: could not persist last good config', { err, path: this.opts.persistPath });
      }
    }
  }

  /** The last rejection's message, until a config applies again. */
  get lastRejection(): string | undefined {
    return this.lastError;
  }
}

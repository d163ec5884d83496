// The sidecar's xDS client: ADS over grpc-js (state of the world by default,
// delta on request). Subscribes to listeners and clusters (wildcard), then to
// the route configs, endpoint sets and secrets they reference; decoded updates
// go through the ConfigAssembler, which applies whole snapshots; this file
// speaks the protocol: subscriptions, ACK/NACK, and reconnecting with backoff
// while the last good config keeps serving. The last good config is persisted
// for fail-static boots.

import { credentials as grpcCredentials, makeGenericClientConstructor, type ChannelCredentials, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { TYPE_URLS, type ConfigSnapshot, type NodeInfo, type ResourceKind } from '../config/resources.js';
import {
  adsServiceDefinition,
  type DeltaDiscoveryRequestMsg,
  type DeltaDiscoveryResponseMsg,
  type DiscoveryRequestMsg,
  type DiscoveryResponseMsg,
  type NodeMsg,
} from './ads-wire.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { kindOfTypeUrl } from './codec/index.js';
import { ConfigAssembler } from './config-assembler.js';
import { buildNode, type NodeExtras } from './node.js';
import { loadPersisted, savePersisted } from './persist.js';
import { WILDCARD } from './resource-state.js';

export interface XdsClientOptions {
  /** host:port of the control plane. */
  server: string;
  credentials?: ChannelCredentials;
  /**
   * With TLS credentials: the name the control plane's certificate is verified against and sent as
   * SNI, instead of the address's host (an IP address, which SNI cannot carry: RFC 6066 §3).
   */
  serverName?: string;
  node: NodeInfo;
  nodeExtras?: NodeExtras;
  /** Installs a complete config; throws ValidationError to reject it (the old one keeps serving). */
  apply: (snapshot: ConfigSnapshot) => void;
  protocol?: 'sotw' | 'delta';
  /** Where the last good config is persisted (fail-static). */
  persistPath?: string;
  backoff?: BackoffOptions;
  /**
   * How long a referenced route, endpoint set or secret is waited for before the config applies without it
   * (Envoy's initial_fetch_timeout, default 15 s; 0 waits for ever).
   */
  initialFetchTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const MAX_ON_DEMAND = 10_000;
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** google.rpc.Code INVALID_ARGUMENT, the code of every NACK. */
const INVALID_ARGUMENT = 3;

const AdsClient = makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');

export class XdsClient {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly nodeMsg: NodeMsg;
  private readonly backoff: Backoff;
  private readonly client: InstanceType<typeof AdsClient>;
  private readonly state: ConfigAssembler;
  private readonly delta: boolean;
  private nonces: Partial<Record<ResourceKind, string>> = {};
  private call: ClientDuplexStream<any, any> | undefined;
  private retry: Timer | undefined;
  private fetchTimer: Timer | undefined;
  private readonly fetchTimeoutMs: number;
  private stopped = true;
  private sentNode = false;
  /** Cluster names asked for on demand (hosts this proxy had no config for), sent next to the CDS wildcard. */
  private readonly onDemand = new Set<string>();

  /** Why the last stream to the control plane failed (e.g. code 7 PERMISSION_DENIED), for status pages. */
  lastStreamError: { code?: number; message: string } | undefined;

  constructor(private readonly opts: XdsClientOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.delta = opts.protocol === 'delta';
    this.nodeMsg = buildNode(opts.node, opts.nodeExtras);
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
    this.fetchTimeoutMs = opts.initialFetchTimeoutMs ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
    // A state-of-the-world response carries every cluster or listener at once: allow more than gRPC's 4 MiB default.
    this.client = new AdsClient(opts.server, opts.credentials ?? grpcCredentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
      ...(opts.credentials && opts.serverName ? { 'grpc.ssl_target_name_override': opts.serverName } : {}),
    });
    const persistPath = opts.persistPath;
    this.state = new ConfigAssembler(
      {
        apply: opts.apply,
        resubscribe: (kind, names) => this.subscribe(kind, names, false),
        log: this.log,
        now: () => this.clock.now(),
        ...(persistPath
          ? {
              persist: (s) => {
                try {
                  savePersisted(persistPath, s);
                } catch (err) {
                  this.log.error('xds: could not persist last good config', { err, path: persistPath });
                }
              },
            }
          : {}),
      },
      this.delta,
    );
  }

  /** Boots from the persisted last good config, if any (fail-static): applies it before the control plane answers. */
  bootFromPersisted(): ConfigSnapshot | undefined {
    if (!this.opts.persistPath) return undefined;
    const persisted = loadPersisted(this.opts.persistPath);
    if (!persisted) return undefined;
    this.opts.apply(persisted.snapshot);
    this.state.restore(persisted);
    this.log.info('xds: booted from last good config', { path: this.opts.persistPath });
    return persisted.snapshot;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.retry?.cancel();
    this.fetchTimer?.cancel();
    this.fetchTimer = undefined;
    this.call?.cancel();
    this.call = undefined;
    this.client.close();
  }

  /** The channel ADS runs on: other RPCs to the control plane (the CA's) may share its connection. Closed by stop(). */
  get channel(): ReturnType<Client['getChannel']> {
    return this.client.getChannel();
  }

  /** The config currently serving. */
  current(): ConfigSnapshot {
    return this.state.current();
  }

  get connected(): boolean {
    return !!this.call;
  }

  /** Configs applied so far. */
  get appliedCount(): number {
    return this.state.appliedCount;
  }

  /** The last rejection's message, until a config applies again. */
  get lastRejection(): string | undefined {
    return this.state.lastError;
  }

  /**
   * Scoping: asks the control plane for clusters (or hosts) this proxy has no config for, e.g. when a request
   * names an unknown host. The control plane's on-demand hook may then grow this proxy's config; the answer
   * arrives as a normal update. Bounded to MAX_ON_DEMAND names.
   */
  requestOnDemand(names: readonly string[]): void {
    const fresh = names.filter((n) => n && n !== '*' && !this.onDemand.has(n)).slice(0, MAX_ON_DEMAND - this.onDemand.size);
    if (!fresh.length) return;
    for (const n of fresh) this.onDemand.add(n);
    if (!this.call) return; // sent with the subscriptions when the stream (re)connects
    if (this.delta) this.send({ type_url: TYPE_URLS.cluster, resource_names_subscribe: fresh });
    else this.send(this.sotwRequest('cluster'));
  }

  // ------------------------------------------------------------- connection

  private connect(): void {
    if (this.stopped) return;
    const call = this.delta ? this.client.DeltaAggregatedResources() : this.client.StreamAggregatedResources();
    this.call = call;
    this.sentNode = false;
    this.nonces = {};
    this.state.newStream();
    call.on('data', (msg: DiscoveryResponseMsg | DeltaDiscoveryResponseMsg) => {
      if (call !== this.call) return;
      this.backoff.reset();
      try {
        if (this.delta) this.onDelta(msg as DeltaDiscoveryResponseMsg);
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
    // Wildcard for clusters and listeners first; the rest follows what they reference.
    for (const k of ['cluster', 'listener'] as const) this.subscribe(k, new Set(), true);
    for (const k of ['routeConfiguration', 'clusterLoadAssignment', 'secret'] as const) {
      const names = this.state.subscribed[k];
      if (names.size) this.subscribe(k, names, true);
    }
    this.armFetchTimer();
  }

  /** Keeps one timer on the oldest awaited name's initial fetch deadline. */
  private armFetchTimer(): void {
    if (this.fetchTimer || this.stopped || this.fetchTimeoutMs <= 0) return;
    const deadline = this.state.nextFetchDeadline(this.fetchTimeoutMs);
    if (deadline === undefined) return;
    this.fetchTimer = this.clock.setTimeout(() => {
      this.fetchTimer = undefined;
      if (this.stopped) return;
      this.state.expireAwaited(this.fetchTimeoutMs);
      this.armFetchTimer();
    }, Math.max(0, deadline - this.clock.now()));
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
  private subscribe(kind: ResourceKind, names: Set<string>, initial: boolean): void {
    const { added, removed } = this.state.noteSubscription(kind, names, initial);
    if (this.delta) {
      const msg: DeltaDiscoveryRequestMsg = { type_url: TYPE_URLS[kind] };
      if (initial) {
        msg.resource_names_subscribe = WILDCARD.has(kind) ? this.wildcardNames(kind) : [...names];
        msg.initial_resource_versions = this.state.resourceVersions[kind];
      } else {
        msg.resource_names_subscribe = added;
        msg.resource_names_unsubscribe = removed;
      }
      this.send(msg);
    } else {
      this.send(this.sotwRequest(kind));
    }
  }

  /** The names a wildcard subscription is sent with: none, or '*' plus the clusters asked for on demand. */
  private wildcardNames(kind: ResourceKind): string[] {
    return kind === 'cluster' && this.onDemand.size ? ['*', ...this.onDemand] : [];
  }

  /** A SotW request for `kind` with the current subscription, version and nonce (an ACK when nothing changed). */
  private sotwRequest(kind: ResourceKind): DiscoveryRequestMsg {
    const names = WILDCARD.has(kind) ? this.wildcardNames(kind) : [...this.state.subscribed[kind]];
    const msg: DiscoveryRequestMsg = { type_url: TYPE_URLS[kind], resource_names: names, version_info: this.state.versions[kind] };
    const nonce = this.nonces[kind];
    if (nonce) msg.response_nonce = nonce;
    return msg;
  }

  // ------------------------------------------------------------- responses

  private onSotw(res: DiscoveryResponseMsg): void {
    const kind = kindOfTypeUrl(res.type_url);
    if (!kind) return;
    this.nonces[kind] = res.nonce;
    let error: string | undefined;
    try {
      error = this.state.sotwUpdate(kind, this.state.decode(kind, (res.resources ?? []).map((any) => ({ any }))), res.version_info);
    } catch (err) {
      error = this.state.refuse(kind, err);
    }
    // An ACK carries the new version; a NACK the version still in use (versions[kind] is only updated on success).
    const msg = this.sotwRequest(kind);
    msg.version_info = error ? this.state.versions[kind] : res.version_info;
    if (error) msg.error_detail = { code: INVALID_ARGUMENT, message: error };
    this.send(msg);
    this.armFetchTimer();
  }

  private onDelta(res: DeltaDiscoveryResponseMsg): void {
    const kind = kindOfTypeUrl(res.type_url);
    if (!kind) return;
    let error: string | undefined;
    try {
      const resources = res.resources ?? [];
      const decoded = this.state.decode(kind, resources.map((r) => ({ any: r.resource, name: r.name })));
      const versions = Object.fromEntries(resources.map((r) => [r.name, r.version]));
      error = this.state.deltaUpdate(kind, decoded, versions, res.removed_resources ?? [], res.system_version_info);
    } catch (err) {
      error = this.state.refuse(kind, err);
    }
    const msg: DeltaDiscoveryRequestMsg = { type_url: res.type_url, response_nonce: res.nonce };
    if (error) msg.error_detail = { code: INVALID_ARGUMENT, message: error };
    this.send(msg);
    this.armFetchTimer();
  }
}

// DeltaAggregatedResources (incremental). Per-resource versions are content
// hashes; only resources whose hash differs from what the client has go out,
// plus the names of removed ones. The client's view is updated when a response
// is sent, so a NACKed resource is not resent until its content changes.

import { TYPE_URLS, type ResourceKind } from '../../proxy/config/resources.js';
import type { DeltaDiscoveryRequestMsg } from '../../proxy/xds/ads-wire.js';
import { kindOfTypeUrl } from '../../proxy/xds/codec/index.js';
import { AdsStream } from './stream.js';
import { PUSH_ORDER, type EncodedResource } from './snapshot.js';
import { encodeDeltaResponse } from './wire.js';

const MAX_NAMES = 100_000;
const WILDCARD_KINDS: ReadonlySet<ResourceKind> = new Set(['listener', 'cluster']);

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds: name → version. */
  client: Map<string, string>;
  inFlight?: { nonce: string; systemVersion: string; from: string };
  /** Subscribed names reported as absent (removed_resources) so the client stops waiting for them. */
  absent: Set<string>;
  lastResult?: 'ack' | 'nack';
}

export class DeltaStream extends AdsStream {
  private readonly types = new Map<ResourceKind, TypeState>();

  start(): void {
    this.call.on('data', (req: DeltaDiscoveryRequestMsg) => this.receive(req, (r) => this.onRequest(r)));
  }

  private onRequest(req: DeltaDiscoveryRequestMsg): void {
    const kind = kindOfTypeUrl(req.type_url ?? '');
    if (!kind) return;
    let st = this.types.get(kind);
    const subscribe = (req.resource_names_subscribe ?? []).slice(0, MAX_NAMES);
    if (!st) {
      st = { wildcard: WILDCARD_KINDS.has(kind) && subscribe.length === 0, names: new Set(), client: new Map(), absent: new Set() };
      for (const [n, v] of Object.entries(req.initial_resource_versions ?? {}).slice(0, MAX_NAMES)) st.client.set(n, v);
      this.types.set(kind, st);
    }
    const nonce = req.response_nonce ?? '';
    if (nonce && st.inFlight?.nonce === nonce) {
      const version = st.inFlight.systemVersion;
      const from = st.inFlight.from;
      delete st.inFlight;
      if (req.error_detail && (req.error_detail.code || req.error_detail.message)) {
        st.lastResult = 'nack';
        this.recordNack(kind, version, req.error_detail.message ?? `code ${req.error_detail.code}`, from);
      } else {
        st.lastResult = 'ack';
        this.recordAck(kind, version);
      }
    }
    for (const n of subscribe) {
      if (n === '*') st.wildcard = true;
      else st.names.add(n);
    }
    for (const n of req.resource_names_unsubscribe ?? []) {
      if (n === '*') st.wildcard = false;
      else {
        st.names.delete(n);
        st.client.delete(n);
        st.absent.delete(n);
      }
    }
    this.askOnDemand(kind, subscribe);
    // Responses go through the scheduler: bounded work per event-loop turn even in a reconnect storm.
    this.ctx.scheduler.schedule(this, true);
    this.updateReceipt();
  }

  flush(): void {
    for (const kind of PUSH_ORDER) this.flushType(kind);
    // A new config version that changes nothing this proxy runs: it already runs it (receipt: reached).
    this.updateReceipt();
  }

  private diff(kind: ResourceKind, st: TypeState): { send: EncodedResource[]; removed: string[] } {
    const set = this.snapshot!.types[kind].resources;
    const send: EncodedResource[] = [];
    const removed: string[] = [];
    const consider = (name: string) => {
      const r = set.get(name);
      if (r && st.client.get(name) !== r.version) send.push(r);
    };
    if (st.wildcard) for (const name of set.keys()) consider(name);
    for (const name of st.names) if (!st.wildcard || !set.has(name)) consider(name);
    for (const name of st.client.keys()) if (!set.has(name)) removed.push(name);
    // A name subscribed to that does not exist is reported once as removed: the client then knows it does not exist.
    for (const name of st.names) if (!set.has(name) && !st.client.has(name) && !st.absent.has(name)) removed.push(name);
    return { send, removed };
  }

  private flushType(kind: ResourceKind): void {
    const st = this.types.get(kind);
    if (!st || st.inFlight || !this.snapshot || this.closed) return;
    const { send, removed } = this.diff(kind, st);
    if (!send.length && !removed.length) return;
    const systemVersion = this.snapshot.types[kind].version;
    const nonce = this.ctx.nonce();
    // Each resource's entry is encoded once and shared by every stream that sends it (wire.ts).
    const msg = encodeDeltaResponse({ system_version_info: systemVersion, type_url: TYPE_URLS[kind], removed_resources: removed, nonce }, send);
    for (const r of send) {
      st.client.set(r.name, r.version);
      st.absent.delete(r.name);
    }
    for (const n of removed) {
      st.client.delete(n);
      if (st.names.has(n)) st.absent.add(n);
    }
    st.inFlight = { nonce, systemVersion, from: this.snapshot.version };
    this.recordSent(kind, systemVersion);
    this.call.write(msg);
  }

  protected inSync(): boolean {
    if (!this.snapshot || this.types.size === 0) return false;
    for (const [kind, st] of this.types) {
      if (st.inFlight || st.lastResult === 'nack') return false;
      const { send, removed } = this.diff(kind, st);
      if (send.length || removed.length) return false;
    }
    return true;
  }
}

// StreamAggregatedResources (state of the world). Per type: one version and one
// nonce per response, at most one un-ACKed response; a NACKed version is held
// (not resent) until the snapshot changes; subscriptions are wildcard for
// listeners and clusters, explicit names for the other types.

import { TYPE_URLS, type ResourceKind } from '../../proxy/config/resources.js';
import type { DiscoveryRequestMsg } from '../../proxy/xds/ads-wire.js';
import { kindOfTypeUrl } from '../../proxy/xds/codec/index.js';
import { AdsStream } from './stream.js';
import { PUSH_ORDER } from './snapshot.js';
import { encodeSotwResponse } from './wire.js';

const MAX_NAMES = 100_000;

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  namesKey: string;
  /** resource_names of the last request, as received. */
  rawNames?: readonly string[];
  sent?: { version: string; nonce: string; namesKey: string; from: string };
  inFlight: boolean;
  acked?: string;
  nacked?: string;
}

const WILDCARD_KINDS: ReadonlySet<ResourceKind> = new Set(['listener', 'cluster']);

/** The request repeats the previous one's resource_names exactly (same order): the parsed subscription stands. */
function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class SotwStream extends AdsStream {
  private readonly types = new Map<ResourceKind, TypeState>();

  start(): void {
    this.call.on('data', (req: DiscoveryRequestMsg) => this.receive(req, (r) => this.onRequest(r)));
  }

  private onRequest(req: DiscoveryRequestMsg): void {
    const kind = kindOfTypeUrl(req.type_url ?? '');
    if (!kind) {
      this.ctx.log.debug('xds: ignoring unsupported type', { node: this.nodeId, typeUrl: req.type_url });
      return;
    }
    let st = this.types.get(kind);
    const nonce = req.response_nonce ?? '';
    // Stale: the client has not seen our latest response yet. (A nonce from an earlier stream, before we sent
    // anything on this one, is not stale: the request is treated as the first of its type.)
    if (nonce && st?.sent && nonce !== st.sent.nonce) return;
    if (!st) {
      st = { wildcard: false, names: new Set(), namesKey: '', inFlight: false };
      this.types.set(kind, st);
    }
    if (nonce && st.sent) {
      st.inFlight = false;
      if (req.error_detail && (req.error_detail.code || req.error_detail.message)) {
        st.nacked = st.sent.version;
        this.recordNack(kind, st.sent.version, req.error_detail.message ?? `code ${req.error_detail.code}`, st.sent.from);
      } else {
        st.acked = req.version_info ?? '';
        delete st.nacked;
        this.recordAck(kind, st.acked);
      }
    }
    const names = req.resource_names ?? [];
    // An ACK usually repeats the subscription: keep the parsed one instead of rebuilding and re-sorting it.
    if (!sameNames(st.rawNames, names)) {
      st.rawNames = names.length <= MAX_NAMES ? names : undefined;
      const capped = names.length > MAX_NAMES ? names.slice(0, MAX_NAMES) : names;
      st.wildcard = WILDCARD_KINDS.has(kind) && (capped.length === 0 || capped.includes('*'));
      st.names = new Set(capped.filter((n) => n !== '*'));
      st.namesKey = st.wildcard ? '*' : [...st.names].sort().join('\n');
    }
    // Explicit names the snapshot lacks (also next to a wildcard: a proxy asking for a cluster it has no config for).
    this.askOnDemand(kind, st.names);
    // Responses go through the scheduler: bounded work per event-loop turn even in a reconnect storm.
    // An ACK that leaves nothing owed (the common case during a push) schedules nothing.
    if (this.owes()) this.ctx.scheduler.schedule(this, true);
    this.updateReceipt();
  }

  /** Whether flush() would send anything now (the same test as flushType's). */
  private owes(): boolean {
    const snap = this.snapshot;
    if (!snap || this.closed) return false;
    for (const [kind, st] of this.types) {
      if (st.inFlight || (!st.wildcard && st.names.size === 0 && !st.sent)) continue;
      const set = snap.types[kind];
      if (!st.sent || st.sent.version !== set.version || st.sent.namesKey !== st.namesKey) return true;
    }
    return false;
  }

  flush(): void {
    for (const kind of PUSH_ORDER) this.flushType(kind);
    // A new config version that changes nothing this proxy runs: it already runs it (receipt: reached).
    this.updateReceipt();
  }

  private flushType(kind: ResourceKind): void {
    const st = this.types.get(kind);
    const snap = this.snapshot;
    if (!st || st.inFlight || !snap || this.closed) return;
    if (!st.wildcard && st.names.size === 0 && !st.sent) return; // nothing asked for yet
    const set = snap.types[kind];
    if (st.sent && st.sent.version === set.version && st.sent.namesKey === st.namesKey) return; // up to date, or NACKed and held
    const nonce = this.ctx.nonce();
    const msg = encodeSotwResponse(set, TYPE_URLS[kind], st.namesKey, nonce, () => {
      const resources = [];
      if (st.wildcard) for (const r of set.resources.values()) resources.push(r.any);
      else for (const n of st.names) {
        const r = set.resources.get(n);
        if (r) resources.push(r.any);
      }
      return resources;
    });
    st.sent = { version: set.version, nonce, namesKey: st.namesKey, from: snap.version };
    st.inFlight = true;
    this.recordSent(kind, set.version);
    this.call.write(msg);
  }

  protected inSync(): boolean {
    const snap = this.snapshot;
    if (!snap || this.types.size === 0) return false;
    for (const [kind, st] of this.types) {
      if (!st.wildcard && st.names.size === 0) continue;
      const v = snap.types[kind].version;
      if (st.inFlight || st.sent?.version !== v || st.acked !== v || st.sent.namesKey !== st.namesKey) return false;
    }
    return true;
  }
}

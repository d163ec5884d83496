// DNS clusters (Envoy's STRICT_DNS and LOGICAL_DNS): the hosts of such a
// cluster are the addresses its endpoints' names resolve to, asked again every
// refresh interval (or when the answer's TTL runs out). What the cluster
// manager sees is an ordinary ClusterLoadAssignment of IP addresses, rebuilt
// when an answer changes, so balancing, outlier detection and connection pools
// work as for EDS. As in Envoy: a new cluster is warmed (its first answer
// awaited) before the config that brings it takes over, a failed lookup keeps
// the hosts of the last good one, and a name that never resolved leaves the
// cluster without hosts (503 UH) while it keeps being asked.

import { isIP } from 'node:net';
import { lookup, Resolver } from 'node:dns/promises';
import type { Logger } from '../../common/log.js';
import { isDnsCluster, type Cluster, type ClusterLoadAssignment, type ConfigSnapshot, type DnsSettings, type LbEndpoint } from '../config/resources.js';
import { DEFAULT_DNS } from '../config/defaults.js';

/** How long a config swap waits for a new DNS cluster's first answer (Envoy's c-ares default timeout). */
export const DNS_WARM_TIMEOUT_MS = 5_000;
/** A name resolving to more addresses than this keeps the first ones (a bound on hosts per answer). */
export const MAX_ADDRESSES_PER_NAME = 64;
/** With respectTtl, never ask again sooner than this (Envoy's dns_min_refresh_rate default). */
export const MIN_TTL_REFRESH_MS = 5_000;

export interface Answer {
  addresses: string[];
  /** Seconds, when the resolver reports one. */
  ttl?: number;
}

/** One name's addresses under a lookup family. Exported for tests; the cluster uses it through DnsClusters. */
export async function resolveName(name: string, dns: DnsSettings, resolver: Resolver | undefined): Promise<Answer> {
  if (isIP(name)) return { addresses: [name] };
  const family = dns.lookupFamily;
  const ask = resolver ? (v: 4 | 6) => askServer(resolver, name, v) : (v: 4 | 6) => askSystem(name, v);
  let answer: Answer;
  if (family === 'V4_ONLY') answer = await ask(4);
  else if (family === 'V6_ONLY') answer = await ask(6);
  else if (family === 'ALL') answer = merge(await settle(ask(4)), await settle(ask(6)), name);
  else {
    const [first, second] = family === 'AUTO' ? ([6, 4] as const) : ([4, 6] as const);
    const a = await settle(ask(first));
    answer = a.ok && a.answer.addresses.length ? a.answer : await ask(second);
  }
  return { ...answer, addresses: answer.addresses.slice(0, MAX_ADDRESSES_PER_NAME) };
}

type Settled = { ok: true; answer: Answer } | { ok: false; error: unknown };

async function settle(p: Promise<Answer>): Promise<Settled> {
  try {
    return { ok: true, answer: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

function merge(a: Settled, b: Settled, name: string): Answer {
  if (!a.ok && !b.ok) throw a.error;
  const addresses = [...(a.ok ? a.answer.addresses : []), ...(b.ok ? b.answer.addresses : [])];
  if (!addresses.length) throw Object.assign(new Error(`${name} has no addresses`), { code: 'ENODATA' });
  const ttls = [a, b].flatMap((x) => (x.ok && x.answer.ttl !== undefined ? [x.answer.ttl] : []));
  return ttls.length ? { addresses, ttl: Math.min(...ttls) } : { addresses };
}

async function askSystem(name: string, family: 4 | 6): Promise<Answer> {
  const found = await lookup(name, { all: true, family, verbatim: true });
  return { addresses: found.map((f) => f.address) };
}

async function askServer(resolver: Resolver, name: string, family: 4 | 6): Promise<Answer> {
  const records = family === 4 ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
  return { addresses: records.map((r) => r.address), ttl: records.length ? Math.min(...records.map((r) => r.ttl)) : undefined };
}

/** What a DNS cluster's resolution depends on: a change of any of it starts a fresh one. */
function resolutionKey(c: Cluster): string {
  return JSON.stringify([c.type, c.loadAssignment?.endpoints ?? [], c.dns ?? DEFAULT_DNS]);
}

class DnsCluster {
  /** Per endpoint (by index in the config), its latest good answer. */
  private readonly answers: (string[] | undefined)[];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly resolver: Resolver | undefined;
  assignment: ClusterLoadAssignment;
  /** Settles once every name has been asked once (answered or failed). */
  readonly warmed: Promise<void>;

  constructor(
    readonly config: Cluster,
    readonly key: string,
    private readonly changed: (c: DnsCluster) => void,
    private readonly logger: Logger,
  ) {
    const eps = config.loadAssignment?.endpoints ?? [];
    this.answers = eps.map(() => undefined);
    this.assignment = { clusterName: config.name, endpoints: [] };
    const dns = config.dns ?? DEFAULT_DNS;
    if (dns.resolvers) {
      this.resolver = new Resolver({ timeout: DNS_WARM_TIMEOUT_MS, tries: 1 });
      this.resolver.setServers(dns.resolvers.map((a) => (isIP(a.address) === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`)));
    }
    this.warmed = this.refresh();
  }

  private async refresh(): Promise<void> {
    const dns = this.config.dns ?? DEFAULT_DNS;
    const eps = this.config.loadAssignment?.endpoints ?? [];
    let ttl = Infinity;
    let failed = false;
    await Promise.all(
      eps.map(async (ep, i) => {
        try {
          const a = await resolveName(ep.address.address, dns, this.resolver);
          this.answers[i] = a.addresses;
          if (a.ttl !== undefined) ttl = Math.min(ttl, a.ttl);
        } catch (err) {
          failed = true;
          // Envoy keeps the hosts of the last good answer when a lookup fails.
          this.logger.warn('DNS lookup failed', { cluster: this.config.name, name: ep.address.address, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
        }
      }),
    );
    if (this.closed) return;
    const next = this.build(eps);
    if (JSON.stringify(next.endpoints) !== JSON.stringify(this.assignment.endpoints)) {
      this.assignment = next;
      this.changed(this);
    }
    const wait = dns.respectTtl && !failed && Number.isFinite(ttl) ? Math.max(ttl * 1000, MIN_TTL_REFRESH_MS) : dns.refreshRate;
    this.timer = setTimeout(() => void this.refresh(), wait);
    this.timer.unref();
  }

  private build(eps: readonly LbEndpoint[]): ClusterLoadAssignment {
    const endpoints: LbEndpoint[] = [];
    eps.forEach((ep, i) => {
      const addrs = this.answers[i] ?? [];
      // LOGICAL_DNS: one host, the first address of the latest answer (new connections follow the answer).
      const used = this.config.type === 'LOGICAL_DNS' ? addrs.slice(0, 1) : addrs;
      for (const address of used) {
        endpoints.push({ ...ep, address: { address, port: ep.address.port }, metadata: { ...ep.metadata, hostname: ep.address.address } });
      }
    });
    return { clusterName: this.config.name, endpoints };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

/** The DNS clusters of the active configuration, and those of an incoming one while they warm. */
export class DnsClusters {
  private readonly clusters = new Map<string, DnsCluster>();
  private readonly warming = new Map<string, DnsCluster>();

  constructor(
    private readonly changed: () => void,
    private readonly logger: Logger,
  ) {}

  /** Only an active cluster's new answer rebuilds the running hosts; a warming one waits for commit(). */
  private readonly answered = (c: DnsCluster) => {
    if (this.clusters.get(c.config.name) === c) this.changed();
  };

  /**
   * Starts resolving the DNS clusters of `snap` that are new or changed and waits (at most
   * DNS_WARM_TIMEOUT_MS) for their first answers. Clusters of the running config are left as they
   * are: `retain` drops them once `snap` has taken over.
   */
  async warm(snap: ConfigSnapshot): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const [name, c] of snap.resources.cluster) {
      if (!isDnsCluster(c.type)) continue;
      const key = resolutionKey(c);
      if (this.clusters.get(name)?.key === key || this.warming.get(name)?.key === key) continue;
      this.warming.get(name)?.close();
      const fresh = new DnsCluster(c, key, this.answered, this.logger);
      this.warming.set(name, fresh);
      pending.push(fresh.warmed);
    }
    if (!pending.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(pending), new Promise<void>((resolve) => (timer = setTimeout(resolve, DNS_WARM_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  /** `snap` takes over: its warmed clusters become active, those it no longer has stop resolving. */
  commit(snap: ConfigSnapshot): void {
    for (const [name, c] of this.warming) {
      if (snap.resources.cluster.get(name) && resolutionKey(snap.resources.cluster.get(name)!) === c.key) {
        this.clusters.get(name)?.close();
        this.clusters.set(name, c);
      } else c.close();
    }
    this.warming.clear();
    for (const [name, c] of this.clusters) {
      const now = snap.resources.cluster.get(name);
      if (!now || resolutionKey(now) !== c.key) {
        c.close();
        this.clusters.delete(name);
      }
    }
  }

  /** The cluster's hosts as of its latest answers (empty until the first arrives). */
  assignment(name: string): ClusterLoadAssignment | undefined {
    return this.clusters.get(name)?.assignment;
  }

  close(): void {
    for (const c of [...this.clusters.values(), ...this.warming.values()]) c.close();
    this.clusters.clear();
    this.warming.clear();
  }
}

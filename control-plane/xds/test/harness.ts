// Test harness: a real grpc-js server on 127.0.0.1:0 with the XdsServer, and a
// minimal raw ADS client (the other side of the protocol) that queues what it
// receives so tests can assert on exact responses.

import { credentials, makeGenericClientConstructor, Metadata, Server, ServerCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { TYPE_URLS, type ResourceKind, type ResourceMaps } from '../../../proxy/config/resources.js';
import { adsServiceDefinition, type NodeMsg } from '../../../proxy/xds/ads-wire.js';
import { MemorySnapshotCache } from '../cache.js';
import { XdsServer, type XdsServerOptions } from '../xds-server.js';
import * as fx from '../../../proxy/xds/codec/test/fixtures.js';

export async function startServer(extra: Partial<XdsServerOptions> = {}) {
  const cache = new MemorySnapshotCache();
  const xds = new XdsServer({ cache, debounceMs: 0, ...extra });
  const server = new Server();
  xds.register(server);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return {
    cache,
    xds,
    port,
    close: () => {
      xds.close();
      server.forceShutdown();
    },
  };
}

const Ads = makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');

export class RawAdsClient {
  readonly client: InstanceType<typeof Ads>;
  readonly call: ClientDuplexStream<any, any>;
  private readonly inbox: any[] = [];
  private waiters: ((m: any) => void)[] = [];
  error: (Error & { code?: number }) | undefined;
  private errWaiters: ((e: Error & { code?: number }) => void)[] = [];
  received = 0;

  constructor(port: number, mode: 'sotw' | 'delta' = 'sotw', metadata?: Record<string, string>) {
    this.client = new Ads(`127.0.0.1:${port}`, credentials.createInsecure());
    const md = new Metadata();
    for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
    this.call = mode === 'delta' ? this.client.DeltaAggregatedResources(md) : this.client.StreamAggregatedResources(md);
    this.call.on('data', (m: any) => {
      this.received++;
      const w = this.waiters.shift();
      if (w) w(m);
      else this.inbox.push(m);
    });
    this.call.on('error', (e: Error & { code?: number }) => {
      this.error = e;
      for (const w of this.errWaiters.splice(0)) w(e);
    });
  }

  send(msg: object): void {
    this.call.write(msg);
  }

  next(): Promise<any> {
    const m = this.inbox.shift();
    if (m) return Promise.resolve(m);
    return new Promise((res) => this.waiters.push(res));
  }

  pending(): number {
    return this.inbox.length;
  }

  failure(): Promise<Error & { code?: number }> {
    if (this.error) return Promise.resolve(this.error);
    return new Promise((res) => this.errWaiters.push(res));
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}


export const url = (k: ResourceKind) => TYPE_URLS[k];

export function node(id: string, extra: Record<string, string> = {}): NodeMsg {
  const fields: Record<string, { stringValue: string }> = {};
  for (const [k, v] of Object.entries(extra)) fields[k] = { stringValue: v };
  return { id, cluster: 'reviews', metadata: { fields } };
}

/** A consistent snapshot: fixtures plus what they reference. */
export function resources(opts: { endpoints?: number; withRoutes?: boolean } = {}): ResourceMaps {
  const cla = { ...fx.clusterLoadAssignment, endpoints: fx.clusterLoadAssignment.endpoints.slice(0, opts.endpoints ?? 4) };
  return {
    listener: new Map([[fx.listener.name, fx.listener]]),
    routeConfiguration: new Map([[fx.routeConfiguration.name, fx.routeConfiguration]]),
    cluster: new Map([
      [fx.cluster.name, fx.cluster],
      [fx.peakEwmaCluster.name, fx.peakEwmaCluster],
    ]),
    clusterLoadAssignment: new Map([[cla.clusterName, cla]]),
    secret: new Map([
      [fx.rootSecret.name, fx.rootSecret],
      [fx.certSecret.name, fx.certSecret],
    ]),
  };
}

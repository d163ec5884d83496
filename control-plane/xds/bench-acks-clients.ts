// The simulated proxies of bench-acks.ts, in their own process so the control
// plane's CPU and RSS are its own: N ADS streams, each on its own channel and
// connection, subscribing CDS (wildcard) and EDS (named), ACKing every
// response at once; state of the world or incremental (delta). Started by bench-acks.ts with fork(); talks over IPC:
//   ← { port, clients, edsNames }      → 'ready' once every stream has both types
//   ← 'cpu'                            → { cpu: { user, system } } (µs, this process)
import { type ClientDuplexStream, credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { TYPE_URLS } from '../../proxy/config/resources.js';
import { adsServiceDefinition, type DeltaDiscoveryRequestMsg, type DeltaDiscoveryResponseMsg, type DiscoveryResponseMsg } from '../../proxy/xds/ads-wire.js';

export interface ClientsArgs {
  port: number;
  clients: number;
  edsNames: string[];
  /** State of the world (default) or incremental xDS. */
  protocol?: 'sotw' | 'delta';
}

function runClients({ port, clients, edsNames, protocol }: ClientsArgs): void {
  const Ads = makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
  let ready = 0;
  const isReady = () => {
    if (++ready === clients) process.send!('ready');
  };
  for (let i = 0; i < clients; i++) {
    const c = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    if (protocol === 'delta') {
      deltaClient(c, i, edsNames, isReady);
      continue;
    }
    const call = c.StreamAggregatedResources();
    let seen = 0;
    call.on('data', (r: DiscoveryResponseMsg) => {
      const eds = r.type_url === TYPE_URLS.clusterLoadAssignment;
      call.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: eds ? edsNames : [] });
      if (seen !== 3) {
        seen |= eds ? 2 : 1;
        if (seen === 3) isReady();
      }
    });
    call.on('error', () => {});
    call.write({ node: { id: `proxy-${i}`, cluster: 'bench' }, type_url: TYPE_URLS.cluster });
    call.write({ type_url: TYPE_URLS.clusterLoadAssignment, resource_names: edsNames });
  }
}

/** Incremental: CDS wildcard, EDS by name; every response ACKed by its nonce. */
function deltaClient(c: InstanceType<ReturnType<typeof makeGenericClientConstructor>>, i: number, edsNames: string[], isReady: () => void): void {
  const call = (c as unknown as { DeltaAggregatedResources(): ClientDuplexStream<DeltaDiscoveryRequestMsg, DeltaDiscoveryResponseMsg> }).DeltaAggregatedResources();
  let seen = 0;
  call.on('data', (r: DeltaDiscoveryResponseMsg) => {
    call.write({ type_url: r.type_url, response_nonce: r.nonce });
    if (seen !== 3) {
      seen |= r.type_url === TYPE_URLS.clusterLoadAssignment ? 2 : 1;
      if (seen === 3) isReady();
    }
  });
  call.on('error', () => {});
  call.write({ node: { id: `proxy-${i}`, cluster: 'bench' }, type_url: TYPE_URLS.cluster, resource_names_subscribe: [] });
  call.write({ type_url: TYPE_URLS.clusterLoadAssignment, resource_names_subscribe: edsNames });
}

process.on('message', (m: unknown) => {
  if (m === 'cpu') process.send!({ cpu: process.cpuUsage() });
  else runClients(m as ClientsArgs);
});
process.on('disconnect', () => process.exit(0));

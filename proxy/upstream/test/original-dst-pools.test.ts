// The PassthroughCluster pools: real HTTP servers on 127.0.0.1, requests through
// the pools' dispatchers, cleanup and the bound driven by a ManualClock.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import { ManualClock } from '../../../common/clock.js';
import { OriginalDstPools, ORIGINAL_DST_CLEANUP_INTERVAL_MS } from '../original-dst-pools.js';
import { PASSTHROUGH_CLUSTER } from '../passthrough.js';
import type { UpstreamHost } from '../cluster-manager.js';

const servers: http.Server[] = [];
const ports: number[] = [];
/** Sockets each server accepted: pool reuse shows as one connection for several requests. */
const accepted: number[] = [];

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const idx = i;
    accepted.push(0);
    const s = http.createServer((req, res) => res.end(`server ${idx} ${req.url}`));
    s.on('connection', () => accepted[idx]!++);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    ports.push((s.address() as AddressInfo).port);
  }
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const dst = (i: number) => ({ address: '127.0.0.1', port: ports[i]!, family: 'IPv4' as const });
const key = (i: number) => `127.0.0.1:${ports[i]}`;

/** One GET through a host's HTTP/1.1 dispatcher, as an exchange's attempt would send it. */
function get(host: UpstreamHost, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders(s: number) {
        status = s;
        return true;
      },
      onData(c: Buffer) {
        chunks.push(c);
        return true;
      },
      onComplete() {
        resolve({ status, body: Buffer.concat(chunks).toString() });
      },
      onError: reject,
    } as unknown as Dispatcher.DispatchHandler;
    host.h1!.dispatch({ path, method: 'GET', headers: ['host', 'outside.example'] } as Dispatcher.DispatchOptions, handler);
  });
}

describe('PassthroughCluster pools (ORIGINAL_DST)', () => {
  it('one pool per original destination, reported as PassthroughCluster with the ip:port host, keep-alive reused', async () => {
    const pools = new OriginalDstPools({ clock: new ManualClock() });
    const a = pools.cluster(key(0), dst(0))!;
    expect(a.name).toBe(PASSTHROUGH_CLUSTER);
    expect(a.destination).toEqual({ service: PASSTHROUGH_CLUSTER });
    expect(a.hosts.map((h) => h.key)).toEqual([key(0)]);
    expect(pools.cluster(key(0), dst(0))).toBe(a);
    const before = accepted[0]!;
    expect(await get(a.hosts[0]!, '/one')).toEqual({ status: 200, body: 'server 0 /one' });
    expect(await get(a.hosts[0]!, '/two')).toEqual({ status: 200, body: 'server 0 /two' });
    expect(accepted[0]! - before).toBe(1);
    const b = pools.cluster(key(1), dst(1))!;
    expect(await get(b.hosts[0]!, '/x')).toEqual({ status: 200, body: 'server 1 /x' });
    expect(pools.size).toBe(2);
    await pools.close();
    expect(pools.size).toBe(0);
  });

  it('closes a pool no request used for a whole cleanup interval, keeps the used and the busy ones', async () => {
    const clock = new ManualClock();
    const pools = new OriginalDstPools({ clock });
    const idle = pools.cluster(key(0), dst(0))!;
    await get(idle.hosts[0]!, '/a');
    const busy = pools.cluster(key(1), dst(1))!;
    busy.hosts[0]!.activeRequests = 1; // an exchange holds it
    clock.advance(ORIGINAL_DST_CLEANUP_INTERVAL_MS); // first pass: both were used since creation
    expect(pools.size).toBe(2);
    pools.cluster(key(2), dst(2));
    clock.advance(ORIGINAL_DST_CLEANUP_INTERVAL_MS); // second pass: 0 unused and idle → gone; 1 busy; 2 used
    expect(pools.size).toBe(2);
    expect(pools.cluster(key(0), dst(0))).not.toBe(idle); // a new pool on the next request
    // The closed pool refuses new requests rather than reopening connections.
    await expect(get(idle.hosts[0]!, '/late')).rejects.toMatchObject({ code: 'UND_ERR_DESTROYED' });
    busy.hosts[0]!.activeRequests = 0;
    await pools.close();
  });

  it('at most maxHosts pools: a new destination evicts an idle pool, or is refused while all are busy', async () => {
    const pools = new OriginalDstPools({ clock: new ManualClock(), maxHosts: 2 });
    const a = pools.cluster(key(0), dst(0))!;
    const b = pools.cluster(key(1), dst(1))!;
    a.hosts[0]!.activeRequests = 1;
    b.hosts[0]!.activeRequests = 1;
    expect(pools.cluster(key(2), dst(2))).toBeUndefined();
    b.hosts[0]!.activeRequests = 0;
    const c = pools.cluster(key(2), dst(2))!;
    expect(await get(c.hosts[0]!, '/c')).toEqual({ status: 200, body: 'server 2 /c' });
    expect(pools.size).toBe(2);
    // b was evicted for c; asking for b again evicts c (idle), never a (busy).
    const b2 = pools.cluster(key(1), dst(1))!;
    expect(b2).not.toBe(b);
    expect(pools.cluster(key(0), dst(0))).toBe(a);
    expect(pools.size).toBe(2);
    a.hosts[0]!.activeRequests = 0;
    await pools.close();
  });
});

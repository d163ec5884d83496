// Micro-benchmark of the per-request cost of the resilience policy objects and
// load balancers (not a test; no assertions). Run after a build:
//   node dist/proxy/resilience/bench-policies.js [iterations]
// Prints ns per operation, with an empty loop as the baseline in the same run,
// and the whole per-request sequence the request path will run when every
// policy is configured but none triggers.

import { performance } from 'node:perf_hooks';
import { systemClock } from '../../common/clock.js';
import type { Cluster, HashPolicy, LbEndpoint } from '../config/resources.js';
import { computeHashKey, createLoadBalancer } from '../lb/index.js';
import type { HostState } from '../lb/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ClusterResilience } from './cluster-resilience.js';
import { FaultInjector } from './fault.js';
import { OUTLIER_DEFAULTS } from './outlier-detector.js';
import { TokenBucket } from './rate-limit.js';
import { compileRetryPolicy } from './retry-policy.js';
import { RetryState } from './retry-state.js';
import { RequestTimeouts } from './timeouts.js';

const iterations = Number(process.argv[2] ?? 1_000_000);
const results: Record<string, number> = {};

function measure(label: string, fn: (i: number) => void, n = iterations): void {
  for (let i = 0; i < Math.min(n, 50_000); i++) fn(i); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    runs.push(((performance.now() - t0) * 1e6) / n);
  }
  const ns = runs.sort((a, b) => a - b)[2]!; // median of 5
  results[label] = ns;
  console.log(`${label.padEnd(62)} ${ns.toFixed(1).padStart(8)} ns/op`);
}

function mkHosts(n: number): HostState[] {
  return Array.from({ length: n }, (_, i) => {
    const endpoint: LbEndpoint = { address: { address: `10.0.${i >> 8}.${i & 255}`, port: 8080 }, weight: 1, healthStatus: 'HEALTHY', priority: 0, metadata: {} };
    return { endpoint, key: `${endpoint.address.address}:8080`, activeRequests: i % 3, ejected: false };
  });
}

let sink = 0;
measure('baseline: empty loop body', (i) => void (sink += i));

for (const n of [3, 100]) {
  const hosts = mkHosts(n);
  for (const lbPolicy of ['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST', 'PEAK_EWMA', 'RING_HASH', 'MAGLEV'] as const) {
    const lb = createLoadBalancer({ lbPolicy }, hosts);
    const keys = Array.from({ length: 1024 }, (_, i) => `user-${i}`);
    measure(`pick ${lbPolicy} (${n} hosts)`, (i) => void (sink += lb.pick({ hashKey: keys[i & 1023] })!.activeRequests));
  }
}
{
  const hosts = mkHosts(3);
  const lb = createLoadBalancer({ lbPolicy: 'PEAK_EWMA' }, hosts);
  measure('PEAK_EWMA onResult', (i) => lb.onResult!(hosts[i % 3]!, 5 + (i & 7), false));
}
const hashPolicy: HashPolicy[] = [{ cookie: { name: 'session' } }, { header: { headerName: 'x-user' } }];
const headers = { host: 'reviews', 'x-user': 'alice', cookie: 'a=1; session=abc123; theme=dark' };
measure('computeHashKey (cookie, then header)', () => void (sink += computeHashKey(hashPolicy, { headers, path: '/' })!.length));

const cb = new CircuitBreaker('c');
measure('circuit breaker: acquire + release request', () => {
  if (cb.tryAcquireRequest()) cb.releaseRequest();
});
const retryPolicy = compileRetryPolicy({
  retryOn: ['5xx', 'connect-failure', 'unavailable'],
  numRetries: 2,
  retriableStatusCodes: [],
  retryBackOff: { baseInterval: 25, maxInterval: 250 },
  retryOtherHosts: true,
  hostSelectionRetryMaxAttempts: 1,
});
const someHost = mkHosts(1)[0]!;
measure('RetryState: new + startAttempt + onResponse(200) + finish', () => {
  const s = new RetryState(retryPolicy, cb);
  sink += s.startAttempt(someHost);
  if (s.onResponse(200) === 'retry') sink++;
  s.finish();
});
const fault = new FaultInjector({ abort: { httpStatus: 503, percent: 100 }, headers: [{ name: 'x-chaos', presentMatch: true }] });
measure('fault: decide (header condition not met)', () => void (fault.decide(headers, false) && sink++));
const bucket = new TokenBucket({ maxTokens: 1e12, tokensPerFill: 1e12, fillInterval: 1000 }, systemClock);
measure('local rate limit: tryConsume', () => void (bucket.tryConsume() && sink++));
const timeouts = new RequestTimeouts(systemClock, () => sink++);
measure('timeouts: start(15s) + startAttempt(1s) + finish (real timers)', () => {
  timeouts.start(15_000);
  timeouts.startAttempt(1_000);
  timeouts.finish();
}, Math.min(iterations, 200_000));

const cluster: Cluster = {
  name: 'reviews',
  type: 'STATIC',
  connectTimeout: 5000,
  lbPolicy: 'PEAK_EWMA',
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  outlierDetection: OUTLIER_DEFAULTS,
  healthyPanicThreshold: 50,
  upstreamProtocol: 'http1',
  idleTimeout: 3_600_000,
  metadata: {},
};
const cr = new ClusterResilience(cluster, mkHosts(3), { clock: systemClock });
measure('whole request, every policy on, none triggering', (i) => {
  if (fault.decide(headers, false) !== undefined) return;
  if (!bucket.tryConsume()) return;
  timeouts.start(15_000);
  const key = computeHashKey(hashPolicy, { headers, path: '/' });
  const rs = new RetryState(retryPolicy, cr.breaker);
  if (!cr.breaker.tryAcquireRequest()) return;
  const h = cr.lb.pick({ hashKey: key, exclude: rs.exclude })!;
  h.activeRequests++;
  rs.startAttempt(h);
  timeouts.startAttempt(retryPolicy.perTryTimeout);
  if (rs.onResponse(200) === 'retry') sink++;
  timeouts.endAttempt();
  h.activeRequests--;
  cr.endAttempt(h, 3 + (i & 3), 200);
  cr.breaker.releaseRequest();
  rs.finish();
  timeouts.finish();
}, Math.min(iterations, 200_000));
cr.close();

if (process.argv.includes('--json')) console.log(JSON.stringify(results));
if (sink === 42) console.log('');

// Micro-benchmark of telemetry's per-request cost (not a test; no assertions).
// Run after a build:  node dist/proxy/telemetry/bench-record.js [iterations]
// Prints µs per call for the calls the request path makes on every request.

import { performance } from 'node:perf_hooks';
import { Counter, Histogram, Registry } from 'prom-client';
import type { NodeInfo } from '../config/resources.js';
import { createTelemetry } from './index.js';
import type { HttpRequestRecord } from './types.js';

const node: NodeInfo = {
  id: 'bench',
  cluster: 'reviews',
  namespace: 'default',
  serviceAccount: 'reviews',
  workload: 'reviews-v2',
  version: 'v2',
  labels: { app: 'reviews' },
  trustDomain: 'cluster.local',
};

const iterations = Number(process.argv[2] ?? 500_000);
const codes = [200, 200, 200, 200, 201, 404, 503];
const callers = ['productpage-v1', 'ratings-v1', 'details-v1'];

// Records are built up front, as the request path hands over one it already filled.
const records: HttpRequestRecord[] = [];
for (let i = 0; i < 1024; i++) {
  const caller = callers[i % callers.length]!;
  records.push({
    direction: 'inbound',
    protocol: 'http',
    httpVersion: 'HTTP/1.1',
    method: 'GET',
    authority: 'reviews:9080',
    path: '/reviews/1',
    downstreamRemoteAddress: '10.0.0.9:5100',
    startTime: Date.now(),
    durationMs: (i * 7) % 300,
    responseCode: codes[i % codes.length]!,
    responseFlags: codes[i % codes.length] === 503 ? ['UO'] : [],
    clusterName: 'inbound|9080||',
    attempts: 1,
    requestBytes: 0,
    responseBytes: 100 + i,
    source: {
      workload: caller,
      namespace: 'default',
      principal: `spiffe://cluster.local/ns/default/sa/${caller}`,
      service: `${caller.split('-')[0]}.default.svc.cluster.local`,
      version: 'v1',
    },
    destination: { service: 'reviews.default.svc.cluster.local' },
    mtls: true,
  });
}

function measure(label: string, fn: (i: number) => void): void {
  for (let i = 0; i < 20_000; i++) fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  const us = ((performance.now() - t0) * 1000) / iterations;
  console.log(`${label.padEnd(58)} ${us.toFixed(3)} µs/call`);
}

const t = createTelemetry({ node });
measure('httpRequestDone (metrics: 1 counter + 3 histograms)', (i) => t.httpRequestDone(records[i & 1023]!, undefined));

const sampledOff = createTelemetry({ node, registry: new Registry(), tracing: { exporter: 'otlp', samplingPercent: 0 } });
const noCtx = { host: 'reviews:9080', 'user-agent': 'curl' };
const withCtx = { ...noCtx, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' };
measure('startSpan, tracing none, no incoming context', () => t.startSpan(noCtx, 'reviews:9080/*', 'inbound'));
measure('startSpan, no incoming context, not sampled (00 injected)', () => sampledOff.startSpan(noCtx, 'reviews:9080/*', 'inbound'));
measure('startSpan, incoming traceparent (unsampled), forwarded', () => sampledOff.startSpan(withCtx, 'x', 'inbound'));

// Baseline: prom-client's own Counter/Histogram with the same 23 labels, children cached per key.
const reg = new Registry();
const names = Object.keys(
  (await (async () => {
    const r = new Registry();
    const tt = createTelemetry({ node, registry: r });
    tt.httpRequestDone(records[0]!, undefined);
    return (await r.getMetricsAsJSON()).find((m) => m.name === 'istio_requests_total')!.values[0]!.labels;
  })()) as Record<string, unknown>,
);
const c = new Counter({ name: 'c', help: 'c', labelNames: names, registers: [reg] });
const h = new Histogram({ name: 'h', help: 'h', labelNames: names, registers: [reg], buckets: [1, 5, 10, 100, 1000] });
const children = new Map<string, { c: { inc(): void }; h: { observe(v: number): void } }>();
measure('baseline: prom-client children cached by key (1 counter + 3 hist)', (i) => {
  const r = records[i & 1023]!;
  const key = r.responseCode + '|' + r.source.workload;
  let ch = children.get(key);
  if (!ch) {
    const labels = Object.fromEntries(names.map((n) => [n, n === 'response_code' ? String(r.responseCode) : r.source.workload ?? '']));
    ch = { c: c.labels(labels), h: h.labels(labels) };
    children.set(key, ch);
  }
  ch.c.inc();
  ch.h.observe(r.durationMs);
  ch.h.observe(r.requestBytes);
  ch.h.observe(r.responseBytes);
});
await t.shutdown();
await sampledOff.shutdown();

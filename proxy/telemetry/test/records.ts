// Builders for telemetry records and a node, shared by the telemetry and admin tests.
import type { NodeInfo } from '../../config/resources.js';
import type { HttpRequestRecord, TcpConnectionRecord } from '../types.js';

export const node: NodeInfo = {
  id: 'sidecar~10.0.0.7~reviews-v2-abc.default~default.svc.cluster.local',
  cluster: 'reviews',
  namespace: 'default',
  serviceAccount: 'reviews',
  workload: 'reviews-v2',
  version: 'v2',
  labels: { app: 'reviews', version: 'v2' },
  trustDomain: 'cluster.local',
};

export function httpRecord(over: Partial<HttpRequestRecord> = {}): HttpRequestRecord {
  return {
    direction: 'inbound',
    protocol: 'http',
    httpVersion: 'HTTP/1.1',
    method: 'GET',
    authority: 'reviews.default.svc.cluster.local:9080',
    path: '/reviews/1',
    requestId: 'req-1',
    userAgent: 'curl/8',
    downstreamRemoteAddress: '10.0.0.9:51000',
    startTime: 1_700_000_000_000,
    durationMs: 3,
    responseCode: 200,
    responseFlags: [],
    clusterName: 'inbound|9080||',
    upstreamHost: '127.0.0.1:9080',
    attempts: 1,
    requestBytes: 0,
    responseBytes: 120,
    source: {
      workload: 'productpage-v1',
      namespace: 'default',
      principal: 'spiffe://cluster.local/ns/default/sa/productpage',
      service: 'productpage.default.svc.cluster.local',
      version: 'v1',
    },
    destination: { service: 'reviews.default.svc.cluster.local' },
    mtls: true,
    ...over,
  };
}

export function tcpRecord(over: Partial<TcpConnectionRecord> = {}): TcpConnectionRecord {
  return {
    direction: 'outbound',
    downstreamRemoteAddress: '127.0.0.1:40000',
    startTime: 1_700_000_000_000,
    durationMs: 50,
    clusterName: 'outbound|6379||redis.cache.svc.cluster.local',
    upstreamHost: '10.0.1.1:6379',
    bytesReceived: 100,
    bytesSent: 2500,
    responseFlags: [],
    source: {},
    destination: { workload: 'redis', namespace: 'cache', principal: 'spiffe://cluster.local/ns/cache/sa/redis' },
    mtls: true,
    ...over,
  };
}

/** Parses Prometheus text exposition into samples (enough for assertions). */
export function parseExposition(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

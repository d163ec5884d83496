import { describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { createTelemetry, DURATION_BUCKETS_MS } from '../index.js';
import { httpRecord, node, parseExposition, tcpRecord } from './records.js';

const ISTIO_HTTP_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
].sort();

describe('Istio standard metrics', () => {
  it('counts inbound requests with the full Istio label set, the proxy filling the destination side', async () => {
    const t = createTelemetry({ node });
    t.httpRequestDone(httpRecord(), undefined);
    t.httpRequestDone(httpRecord({ durationMs: 700 }), undefined);
    const samples = parseExposition(await t.registry.metrics());
    const total = samples.filter((s) => s.name === 'istio_requests_total');
    expect(total).toHaveLength(1);
    expect(total[0]!.value).toBe(2);
    expect(Object.keys(total[0]!.labels).sort()).toEqual(ISTIO_HTTP_LABELS);
    expect(total[0]!.labels).toMatchObject({
      reporter: 'destination',
      source_workload: 'productpage-v1',
      source_workload_namespace: 'default',
      source_principal: 'spiffe://cluster.local/ns/default/sa/productpage',
      source_app: 'productpage',
      source_version: 'v1',
      destination_workload: 'reviews-v2',
      destination_workload_namespace: 'default',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
      destination_app: 'reviews',
      destination_version: 'v2',
      destination_service: 'reviews.default.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'default',
      destination_canonical_service: 'reviews',
      request_protocol: 'http',
      response_code: '200',
      grpc_response_status: '',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    });
    await t.shutdown();
  });

  it('fills the duration histogram with Istio default buckets (cumulative), sum and count', async () => {
    const t = createTelemetry({ node });
    for (const d of [0.3, 3, 700, 90_000]) t.httpRequestDone(httpRecord({ durationMs: d }), undefined);
    const samples = parseExposition(await t.registry.metrics());
    const buckets = samples.filter((s) => s.name === 'istio_request_duration_milliseconds_bucket');
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS_MS.map(String), '+Inf']);
    const at = (le: string) => buckets.find((b) => b.labels.le === le)!.value;
    expect(at('0.5')).toBe(1);
    expect(at('1')).toBe(1);
    expect(at('5')).toBe(2);
    expect(at('500')).toBe(2);
    expect(at('1000')).toBe(3);
    expect(at('60000')).toBe(3);
    expect(at('300000')).toBe(4);
    expect(at('+Inf')).toBe(4);
    expect(samples.find((s) => s.name === 'istio_request_duration_milliseconds_count')!.value).toBe(4);
    expect(samples.find((s) => s.name === 'istio_request_duration_milliseconds_sum')!.value).toBeCloseTo(90_703.3);
    const respBuckets = samples.filter((s) => s.name === 'istio_response_bytes_bucket');
    expect(respBuckets.find((b) => b.labels.le === '100')!.value).toBe(0);
    expect(respBuckets.find((b) => b.labels.le === '1000')!.value).toBe(4);
    expect(samples.find((s) => s.name === 'istio_request_bytes_count')!.value).toBe(4);
    await t.shutdown();
  });

  it('separates series by response code, flags and direction; outbound reports as source', async () => {
    const t = createTelemetry({ node });
    t.httpRequestDone(httpRecord({ responseCode: 503, responseFlags: ['UO'] }), undefined);
    t.httpRequestDone(httpRecord({ responseCode: 504, responseFlags: ['UT', 'URX'] }), undefined);
    t.httpRequestDone(
      httpRecord({
        direction: 'outbound',
        protocol: 'grpc',
        grpcStatus: 14,
        mtls: false,
        source: {},
        destination: { service: 'ratings.prod.svc.cluster.local', workload: 'ratings-v1', version: 'v1' },
        clusterName: 'outbound|9080||ratings.prod.svc.cluster.local',
      }),
      undefined,
    );
    const total = parseExposition(await t.registry.metrics()).filter((s) => s.name === 'istio_requests_total');
    expect(total).toHaveLength(3);
    expect(total.find((s) => s.labels.response_code === '503')!.labels.response_flags).toBe('UO');
    expect(total.find((s) => s.labels.response_code === '504')!.labels.response_flags).toBe('UT,URX');
    const out = total.find((s) => s.labels.reporter === 'source')!;
    expect(out.labels).toMatchObject({
      source_workload: 'reviews-v2',
      source_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
      destination_workload: 'ratings-v1',
      destination_service: 'ratings.prod.svc.cluster.local',
      destination_service_name: 'ratings',
      destination_service_namespace: 'prod',
      destination_app: 'ratings',
      request_protocol: 'grpc',
      grpc_response_status: '14',
      connection_security_policy: 'unknown', // Istio: the source reporter cannot know the server's policy
    });
    await t.shutdown();
  });

  it('counts TCP connections and bytes', async () => {
    const t = createTelemetry({ node });
    t.tcpConnectionOpened('outbound', 'outbound|6379||redis.cache.svc.cluster.local', {
      destination: tcpRecord().destination,
      mtls: true,
    });
    t.tcpConnectionClosed(tcpRecord());
    t.tcpConnectionClosed(tcpRecord({ bytesSent: 500, bytesReceived: 7 }));
    const samples = parseExposition(await t.registry.metrics());
    const one = (name: string) => samples.filter((s) => s.name === name);
    expect(one('istio_tcp_connections_opened_total')[0]!.value).toBe(1);
    expect(one('istio_tcp_connections_closed_total')[0]!.value).toBe(2);
    expect(one('istio_tcp_sent_bytes_total')[0]!.value).toBe(3000);
    expect(one('istio_tcp_received_bytes_total')[0]!.value).toBe(107);
    expect(one('istio_tcp_sent_bytes_total')[0]!.labels).toMatchObject({
      reporter: 'source',
      request_protocol: 'tcp',
      destination_service: 'redis.cache.svc.cluster.local',
      destination_workload: 'redis',
      source_workload: 'reviews-v2',
      connection_security_policy: 'unknown',
    });
    // The server side of the same kind of connection names the mTLS it enforced.
    t.tcpConnectionClosed(
      tcpRecord({ direction: 'inbound', clusterName: 'inbound|6379||', source: { principal: 'spiffe://cluster.local/ns/default/sa/reviews' }, destination: {} }),
    );
    const inbound = parseExposition(await t.registry.metrics()).find(
      (s) => s.name === 'istio_tcp_connections_closed_total' && s.labels.reporter === 'destination',
    )!;
    expect(inbound.labels).toMatchObject({
      source_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
      connection_security_policy: 'mutual_tls',
    });
    await t.shutdown();
  });

  it('shares its registry with other tsmesh metrics and supports reset and JSON', async () => {
    const registry = new Registry();
    const other = new Counter({ name: 'tsmesh_xds_updates_total', help: 'x', registers: [registry] });
    const t = createTelemetry({ node, registry });
    other.inc();
    t.httpRequestDone(httpRecord(), undefined);
    const text = await registry.metrics();
    expect(text).toContain('tsmesh_xds_updates_total 1');
    expect(text).toContain('# TYPE istio_requests_total counter');
    expect(text).toContain('# TYPE istio_request_duration_milliseconds histogram');
    const json = await registry.getMetricsAsJSON();
    expect(json.find((m) => m.name === 'istio_requests_total')!.values[0]!.value).toBe(1);
    registry.resetMetrics();
    const after = parseExposition(await registry.metrics()).find((s) => s.name === 'istio_requests_total');
    expect(after!.value).toBe(0);
    await t.shutdown();
  });

  it('stops adding label combinations at the cardinality cap and counts what it dropped', async () => {
    const t = createTelemetry({ node, maxSeries: 3 });
    for (let code = 200; code < 210; code++) t.httpRequestDone(httpRecord({ responseCode: code }), undefined);
    t.httpRequestDone(httpRecord({ responseCode: 200 }), undefined); // an existing series still counts
    const samples = parseExposition(await t.registry.metrics());
    const total = samples.filter((s) => s.name === 'istio_requests_total');
    expect(total).toHaveLength(3);
    expect(total.find((s) => s.labels.response_code === '200')!.value).toBe(2);
    expect(samples.find((s) => s.name === 'tsmesh_telemetry_series_dropped_total')!.value).toBe(7);
    await t.shutdown();
  });
});

describe('series identity', () => {
  it('one series when a record names the proxy itself explicitly or leaves it to the node', async () => {
    const t = createTelemetry({ node });
    const dest = { service: 'ratings.default.svc.cluster.local', workload: 'ratings-v1' };
    t.httpRequestDone(httpRecord({ direction: 'outbound', source: {}, destination: dest }), undefined);
    t.httpRequestDone(
      httpRecord({
        direction: 'outbound',
        source: { workload: 'reviews-v2', namespace: 'default', principal: 'spiffe://cluster.local/ns/default/sa/reviews' },
        destination: { ...dest },
      }),
      undefined,
    );
    const total = parseExposition(await t.registry.metrics()).filter((s) => s.name === 'istio_requests_total');
    expect(total).toHaveLength(1);
    expect(total[0]!.value).toBe(2);
    await t.shutdown();
  });
});

describe('peer label objects reused across requests', () => {
  it('counts each destination apart when three label objects take turns (more than the recent-peer memo holds)', async () => {
    const t = createTelemetry({ node });
    const dests = ['ratings-v1', 'details-v1', 'reviews-v3'].map((w) => ({ service: `${w}.default.svc.cluster.local`, workload: w }));
    const source = {};
    for (let i = 0; i < 9; i++) t.httpRequestDone(httpRecord({ direction: 'outbound', source, destination: dests[i % 3]!, responseCode: i < 6 ? 200 : 503 }), undefined);
    const total = parseExposition(await t.registry.metrics()).filter((s) => s.name === 'istio_requests_total');
    const count = (w: string, code: string) => total.find((s) => s.labels.destination_workload === w && s.labels.response_code === code)?.value;
    for (const d of dests) {
      expect(count(d.workload, '200')).toBe(2);
      expect(count(d.workload, '503')).toBe(1);
    }
    expect(total).toHaveLength(6);
    await t.shutdown();
  });
});

describe('shared registry helpers', () => {
  it('registers tsmesh_* metrics idempotently and refuses foreign names or type clashes', async () => {
    const { meshCounter, meshGauge } = await import('../index.js');
    const registry = new Registry();
    const a = meshCounter(registry, { name: 'tsmesh_retries_total', help: 'r', labelNames: ['cluster'] });
    const b = meshCounter(registry, { name: 'tsmesh_retries_total', help: 'r', labelNames: ['cluster'] });
    expect(b).toBe(a);
    b.inc({ cluster: 'c1' }, 2);
    expect(await registry.metrics()).toContain('tsmesh_retries_total{cluster="c1"} 2');
    expect(() => meshGauge(registry, { name: 'tsmesh_retries_total', help: 'r' })).toThrow(/another type/);
    expect(() => meshGauge(registry, { name: 'retries', help: 'r' })).toThrow(/tsmesh_/);
  });
});

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../common/errors.js';
import type { HttpConnectionManager, ResourceKind } from '../../../config/resources.js';
import { decodeResource, encodeResource, fromProtoObject, toProtoObject, wireToObject, type DomainOf } from '../index.js';
import * as fx from './fixtures.js';

const goldenDir = join(dirname(fileURLToPath(import.meta.url)), 'golden');
const update = process.env.UPDATE_GOLDEN === '1';

const cases: [string, ResourceKind, DomainOf[ResourceKind]][] = [
  ['listener-inbound', 'listener', fx.listener],
  ['listener-api', 'listener', fx.apiListener],
  ['listener-redirect', 'listener', fx.redirectListener],
  ['route-configuration', 'routeConfiguration', fx.routeConfiguration],
  ['cluster-eds-ring-hash', 'cluster', fx.cluster],
  ['cluster-static-peak-ewma', 'cluster', fx.peakEwmaCluster],
  ['cluster-original-dst', 'cluster', fx.originalDstCluster],
  ['cluster-strict-dns', 'cluster', fx.strictDnsCluster],
  ['cluster-logical-dns', 'cluster', fx.logicalDnsCluster],
  ['cluster-load-assignment', 'clusterLoadAssignment', fx.clusterLoadAssignment],
  ['secret-rootca', 'secret', fx.rootSecret],
  ['secret-default', 'secret', fx.certSecret],
];

describe('xDS codec golden files', () => {
  for (const [file, kind, value] of cases) {
    it(`${file}: domain → proto JSON (golden) → wire → domain`, () => {
      const obj = JSON.parse(JSON.stringify(toProtoObject(kind, value)));
      const path = join(goldenDir, `${file}.json`);
      if (update || !existsSync(path)) writeFileSync(path, JSON.stringify(obj, null, 2) + '\n');
      expect(obj).toEqual(JSON.parse(readFileSync(path, 'utf8')));
      const bytes = encodeResource(kind, value);
      // What came off the wire is the golden (proto JSON) again…
      expect(JSON.parse(JSON.stringify(wireToObject(kind, bytes)))).toEqual(obj);
      // …and decodes to the domain object we started from.
      expect(decodeResource(kind, bytes)).toEqual(JSON.parse(JSON.stringify(value)));
    });
  }
});

describe('xDS codec decode validation', () => {
  it('collects every problem with its field path', () => {
    const bad = JSON.parse(JSON.stringify(toProtoObject('cluster', fx.cluster)));
    bad.lb_policy = 'CLUSTER_PROVIDED';
    bad.outlier_detection.max_ejection_percent = { value: 400 };
    bad.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].san_type = 'EMAIL';
    let err: unknown;
    try {
      fromProtoObject('cluster', bad, 'reviews');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const paths = (err as ValidationError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'reviews.lb_policy',
        'reviews.outlier_detection.max_ejection_percent.value',
        'reviews.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].san_type',
      ]),
    );
  });

  it('rejects an HCM whose last filter is not the router and an unknown network filter', () => {
    const l = JSON.parse(JSON.stringify(toProtoObject('listener', fx.listener)));
    l.filter_chains[0].filters[0].typed_config.http_filters.pop();
    l.filter_chains[1].filters[0].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy';
    expect(() => fromProtoObject('listener', l)).toThrow(/http_filters: the last HTTP filter must be the router[\s\S]*filter_chains\[1\]/);
  });

  it('rejects malformed bytes and unknown typed_config types without crashing', () => {
    expect(() => decodeResource('cluster', new Uint8Array([0x0a, 0xff, 0xff]))).toThrow(ValidationError);
    const l = JSON.parse(JSON.stringify(toProtoObject('listener', fx.apiListener)));
    l.api_listener.api_listener = { type_url: 'type.googleapis.com/unknown.Type', value: '' };
    expect(() => fromProtoObject('listener', l)).toThrow(/unsupported typed_config type unknown|api_listener must be/);
  });

  it('refuses a destination_port outside 1-65535 and an unknown outbound traffic policy, naming the field', () => {
    const l = JSON.parse(JSON.stringify(toProtoObject('listener', fx.redirectListener)));
    l.filter_chains[0].filter_chain_match.destination_port = { value: 70000 };
    l.filter_chains[1].metadata.filter_metadata.tsmesh.fields.outbound_traffic_policy = { stringValue: 'OPEN' };
    expect(() => fromProtoObject('listener', l)).toThrow(/filter_chains\[0\]\.filter_chain_match\.destination_port\.value[\s\S]*filter_chains\[1\]\.metadata\.filter_metadata\.tsmesh\.fields\.outbound_traffic_policy\.stringValue/);
  });

  it('refuses an access log to a file on the workload, or by another logger, naming the field', () => {
    const l = JSON.parse(JSON.stringify(toProtoObject('listener', fx.listener)));
    l.filter_chains[0].filters[0].typed_config.access_log[0].typed_config.path = '/etc/cron.d/x';
    l.filter_chains[1].filters[0].typed_config.access_log[0].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig';
    expect(() => fromProtoObject('listener', l)).toThrow(
      /access_log\[0\]\.typed_config\.path: must be \/dev\/stdout or \/dev\/stderr[\s\S]*filter_chains\[1\][^\n]*access_log\[0\]\.typed_config: unsupported access logger/,
    );
  });

  it("refuses an access log format the sidecar cannot write, naming the field and the operator; reads Envoy's deprecated format fields", () => {
    const l = JSON.parse(JSON.stringify(toProtoObject('listener', fx.listener)));
    l.filter_chains[0].filters[0].typed_config.access_log[0].typed_config.log_format.text_format_source.inline_string = '%DURATION% %BYTES_SENTT%';
    expect(() => fromProtoObject('listener', l)).toThrow(/access_log\[0\]\.typed_config\.log_format\.text_format_source\.inline_string: unknown or unsupported command operator %BYTES_SENTT% .*\(column 12\)/);
    const old = JSON.parse(JSON.stringify(toProtoObject('listener', fx.listener)));
    const cfg = old.filter_chains[0].filters[0].typed_config.access_log[0].typed_config;
    delete cfg.log_format;
    cfg.format = '%RESPONSE_CODE%\n';
    const hcm = fromProtoObject('listener', old).filterChains[0]!.filter as HttpConnectionManager;
    expect(hcm.accessLog?.[0]).toEqual({ path: '/dev/stdout', format: { text: '%RESPONSE_CODE%\n' } });
  });

  it('fills Envoy defaults for fields the proto leaves unset', () => {
    const c = fromProtoObject('cluster', { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
    expect(c).toMatchObject({ connectTimeout: 5000, lbPolicy: 'ROUND_ROBIN', healthyPanicThreshold: 50, idleTimeout: 3_600_000, circuitBreakers: { maxConnections: 1024, maxRetries: 3 } });
    const rc = fromProtoObject('routeConfiguration', { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', retry_policy: { retry_on: '5xx' } } }] }] });
    expect(rc.virtualHosts[0]!.routes[0]!.route).toMatchObject({ timeout: 15_000, retryPolicy: { numRetries: 1, retryBackOff: { baseInterval: 25, maxInterval: 250 } } });
  });
});

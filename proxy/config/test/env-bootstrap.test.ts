import { describe, expect, it } from 'vitest';
import { bootstrapFromEnv } from '../env-bootstrap.js';
import { ValidationError } from '../../../common/errors.js';

const GOOD = {
  TSMESH_CONTROL_PLANE_ADDRESS: 'tsmesh-control-plane.tsmesh-system.svc:15012',
  TSMESH_TRUST_DOMAIN: 'example.org',
  TSMESH_TOKEN_PATH: '/var/run/secrets/tsmesh/tokens/tsmesh-token',
  TSMESH_TRUST_BUNDLE_PATH: '/var/run/secrets/tsmesh/ca/root-cert.pem',
  TSMESH_OUTBOUND_PORT: '15001',
  TSMESH_INBOUND_PORT: '15006',
  TSMESH_ADMIN_PORT: '15000',
  TSMESH_HEALTH_PORT: '15021',
  POD_NAME: 'reviews-v2-7d9f8c6b5-x2k4p',
  POD_NAMESPACE: 'shop',
  INSTANCE_IP: '10.1.2.3',
  SERVICE_ACCOUNT: 'reviews',
  POD_LABELS: 'app=reviews,version=v2',
};

function issuesOf(env: Record<string, string>): string {
  try {
    bootstrapFromEnv(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('expected a ValidationError');
}

describe('bootstrapFromEnv', () => {
  it('builds an ADS bootstrap from the injected environment', () => {
    const b = bootstrapFromEnv(GOOD);
    expect(b.node).toMatchObject({
      cluster: 'reviews',
      namespace: 'shop',
      serviceAccount: 'reviews',
      workload: 'reviews-v2',
      version: 'v2',
      trustDomain: 'example.org',
      labels: { app: 'reviews', version: 'v2' },
    });
    expect(b.node.id).toContain('reviews-v2-7d9f8c6b5-x2k4p.shop');
    expect(b.admin.address).toEqual({ address: '127.0.0.1', port: 15000 });
    expect(b.dynamicResources?.ads).toMatchObject({
      address: { address: 'tsmesh-control-plane.tsmesh-system.svc', port: 15012 },
      caRootFile: GOOD.TSMESH_TRUST_BUNDLE_PATH,
      tokenFile: GOOD.TSMESH_TOKEN_PATH,
      nodeMetadata: { INBOUND_ADDRESSES: '10.1.2.3:15006', OUTBOUND_ADDRESSES: '127.0.0.1:15001' },
    });
    expect(b.dynamicResources?.ads.nodeMetadata?.APP_PORT).toBeUndefined();
    expect(bootstrapFromEnv({ ...GOOD, TSMESH_APP_PORT: '9080' }).dynamicResources?.ads.nodeMetadata?.APP_PORT).toBe('9080');
  });

  it('serves Prometheus on all interfaces at TSMESH_METRICS_PORT and reports the pod IP address for it', () => {
    const b = bootstrapFromEnv({ ...GOOD, TSMESH_METRICS_PORT: '15090' });
    expect(b.metrics).toEqual({ address: { address: '0.0.0.0', port: 15090 } });
    expect(b.dynamicResources?.ads.nodeMetadata?.TSMESH_METRICS).toBe('10.1.2.3:15090');
    expect(bootstrapFromEnv({ ...GOOD, INSTANCE_IP: 'fd00::3', TSMESH_METRICS_PORT: '15090' }).dynamicResources?.ads.nodeMetadata?.TSMESH_METRICS).toBe('[fd00::3]:15090');
    // No pod IP: nothing reachable to report (the admin address stays the only one).
    const { INSTANCE_IP: _ip, ...noIp } = GOOD;
    expect(bootstrapFromEnv({ ...noIp, TSMESH_METRICS_PORT: '15090' }).dynamicResources?.ads.nodeMetadata?.TSMESH_METRICS).toBeUndefined();
    expect(bootstrapFromEnv(GOOD).metrics).toBeUndefined();
    expect(issuesOf({ ...GOOD, TSMESH_METRICS_PORT: 'prom' })).toMatch(/TSMESH_METRICS_PORT.*"prom" is not a port/);
  });

  it('sends every app port and the interception mode the injector sets', () => {
    const md = bootstrapFromEnv({ ...GOOD, TSMESH_APP_PORT: '9080,9090,9080', TSMESH_INTERCEPTION_MODE: 'REDIRECT' }).dynamicResources?.ads.nodeMetadata;
    expect(md).toMatchObject({ APP_PORT: '9080', APP_PORTS: '9080,9090', INTERCEPTION_MODE: 'REDIRECT' });
    expect(bootstrapFromEnv(GOOD).dynamicResources?.ads.nodeMetadata?.INTERCEPTION_MODE).toBeUndefined();
    expect(issuesOf({ ...GOOD, TSMESH_APP_PORT: '9080,http' })).toMatch(/TSMESH_APP_PORT.*"http" is not a port/);
    expect(issuesOf({ ...GOOD, TSMESH_INTERCEPTION_MODE: 'TPROXY' })).toMatch(/TSMESH_INTERCEPTION_MODE.*"TPROXY" is not one of REDIRECT, NONE/);
  });

  it('exports spans over OTLP when the injector set a tracing endpoint (sampling 1 % unless given), and only then', () => {
    expect(bootstrapFromEnv(GOOD).tracing).toBeUndefined();
    const url = 'http://otel-collector.observability:4318/v1/traces';
    expect(bootstrapFromEnv({ ...GOOD, TSMESH_TRACING_ENDPOINT: url }).tracing).toEqual({ exporter: 'otlp', endpoint: url });
    expect(bootstrapFromEnv({ ...GOOD, TSMESH_TRACING_ENDPOINT: url, TSMESH_TRACING_SAMPLING: '12.5', TSMESH_TRACING_PROTOCOL: 'http/json' }).tracing).toEqual({
      exporter: 'otlp',
      endpoint: url,
      samplingPercent: 12.5,
      protocol: 'http/json',
    });
    expect(issuesOf({ ...GOOD, TSMESH_TRACING_ENDPOINT: 'otel-collector:4317' })).toMatch(/TSMESH_TRACING_ENDPOINT.*"otel-collector:4317" is not an http\(s\) URL/);
    expect(issuesOf({ ...GOOD, TSMESH_TRACING_ENDPOINT: url, TSMESH_TRACING_SAMPLING: '150' })).toMatch(/TSMESH_TRACING_SAMPLING.*"150" is not a percentage/);
    expect(issuesOf({ ...GOOD, TSMESH_TRACING_ENDPOINT: url, TSMESH_TRACING_PROTOCOL: 'grpc' })).toMatch(/TSMESH_TRACING_PROTOCOL.*"grpc" is not one of http\/protobuf, http\/json/);
    expect(issuesOf({ ...GOOD, TSMESH_TRACING_SAMPLING: '10' })).toMatch(/TSMESH_TRACING_SAMPLING.*needs TSMESH_TRACING_ENDPOINT/);
  });

  it('names each missing or bad variable', () => {
    const { TSMESH_CONTROL_PLANE_ADDRESS: _a, POD_NAME: _p, ...rest } = GOOD;
    const msg = issuesOf({ ...rest, TSMESH_INBOUND_PORT: '70000', TSMESH_ADMIN_PORT: 'x' });
    expect(msg).toContain('TSMESH_CONTROL_PLANE_ADDRESS');
    expect(msg).toContain('POD_NAME');
    expect(msg).toMatch(/TSMESH_INBOUND_PORT.*70000/);
    expect(msg).toMatch(/TSMESH_ADMIN_PORT.*"x"/);
    expect(issuesOf({ ...GOOD, TSMESH_CONTROL_PLANE_ADDRESS: 'no-port' })).toMatch(/TSMESH_CONTROL_PLANE_ADDRESS.*host:port/);
    expect(issuesOf({ ...GOOD, TSMESH_TRUST_BUNDLE_PATH: '' })).toMatch(/TSMESH_TOKEN_PATH.*plaintext/);
    expect(issuesOf({ ...GOOD, POD_LABELS: 'novalue' })).toMatch(/POD_LABELS/);
  });
});

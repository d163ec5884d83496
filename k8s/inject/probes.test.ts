import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../common/errors.js';
import { injectObject } from './inject.js';

const pod = (annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', annotations },
  spec: {
    containers: [
      {
        name: 'web',
        ports: [{ name: 'http', containerPort: 8080 }],
        livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 7 },
        readinessProbe: { exec: { command: ['true'] } },
        startupProbe: { grpc: { port: 9090, service: 'payments' }, failureThreshold: 30 },
      },
    ],
  },
});

const proxyEnv = (out: any, name: string) => out.spec.initContainers[1].env.find((e: any) => e.name === name)?.value;

describe('app probe rewriting', () => {
  it('points httpGet and grpc probes at the health port, keeps timing fields, leaves exec probes, and hands the original to the proxy', () => {
    const input = pod();
    const out = injectObject(input) as any;
    expect(out.spec.containers[0].livenessProbe).toEqual({ periodSeconds: 7, httpGet: { path: '/app-health/web/livez', port: 15021, scheme: 'HTTP' } });
    expect(out.spec.containers[0].readinessProbe).toEqual({ exec: { command: ['true'] } });
    expect(JSON.parse(proxyEnv(out, 'TSMESH_KUBE_APP_PROBERS'))).toEqual({
      '/app-health/web/livez': { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1 },
      '/app-health/web/startupz': { grpc: { port: 9090, service: 'payments' }, timeoutSeconds: 1 },
    });
    expect(out.spec.containers[0].startupProbe).toEqual({ failureThreshold: 30, httpGet: { path: '/app-health/web/startupz', port: 15021, scheme: 'HTTP' } });
    // The input object is not modified.
    expect(input.spec.containers[0]!.livenessProbe.httpGet.port).toBe('http');
  });

  it('sidecar.tsmesh.io/rewriteAppHTTPProbers: "false" leaves the probes as they are', () => {
    const out = injectObject(pod({ 'sidecar.tsmesh.io/rewriteAppHTTPProbers': 'false' })) as any;
    expect(out.spec.containers[0].livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(proxyEnv(out, 'TSMESH_KUBE_APP_PROBERS')).toBeUndefined();
  });

  it('a bad annotation value is refused with its field', () => {
    expect(() => injectObject(pod({ 'sidecar.tsmesh.io/rewriteAppHTTPProbers': 'yes' }))).toThrow(ValidationError);
    expect(() => injectObject(pod({ 'sidecar.tsmesh.io/rewriteAppHTTPProbers': 'yes' }))).toThrow(/rewriteAppHTTPProbers.*must be "true" or "false"/s);
  });
});

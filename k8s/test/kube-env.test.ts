// mesh-control-plane's Kubernetes switch reads what the installed Deployment
// sets (k8s/install/render.ts), so the rendered env and the reader cannot drift.
import { describe, expect, it } from 'vitest';
import { kubernetesModeFromEnv } from '../../control-plane/kube-env.js';
import { installObjects, type InstallOptions } from '../install/render.js';
import { injectObject } from '../inject/inject.js';
import { bootstrapFromEnv } from '../../proxy/config/env-bootstrap.js';
import { readProxyEnv } from '../../proxy/env.js';

/** The control-plane container's env, with the downward API resolved for a pod in tsmesh-system. */
function deploymentEnv(install: Partial<InstallOptions> = {}): Record<string, string> {
  const dep = installObjects({ image: 'tsmesh:dev', ...install }).find((o: any) => o.kind === 'Deployment') as any;
  const env: Record<string, string> = {};
  for (const e of dep.spec.template.spec.containers[0].env) env[e.name] = e.value ?? { 'metadata.name': 'tsmesh-control-plane-abc', 'metadata.namespace': 'tsmesh-system' }[e.valueFrom.fieldRef.fieldPath as string]!;
  return env;
}

describe('kubernetesModeFromEnv', () => {
  it('takes every setting the installed Deployment passes', () => {
    expect(kubernetesModeFromEnv(deploymentEnv(), 'cluster.local')).toEqual({
      namespace: 'tsmesh-system',
      trustDomain: 'cluster.local',
      caSecretName: 'tsmesh-ca',
      tokenAudience: 'tsmesh-ca',
      inject: { image: 'tsmesh:dev', controlPlaneAddress: 'tsmesh-control-plane.tsmesh-system.svc:15012' },
      webhook: { host: '0.0.0.0', port: 15017, serviceName: 'tsmesh-control-plane', configName: 'tsmesh-sidecar-injector' },
    });
  });

  it('mesh-wide tracing goes from meshctl install to every injected sidecar\'s bootstrap', () => {
    const url = 'http://otel-collector.observability:4318/v1/traces';
    const inject = kubernetesModeFromEnv(deploymentEnv({ tracingEndpoint: url, tracingSampling: 10 }), 'cluster.local')!.inject!;
    expect(inject).toMatchObject({ tracingEndpoint: url, tracingSampling: 10 });
    // The webhook injects with those options; the kubelet resolves the downward API; the proxy reads its environment.
    const pod: any = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web', ports: [{ containerPort: 8080 }] }] } };
    const spec = (injectObject(pod, inject) as any).spec;
    const proxy = [...(spec.initContainers ?? []), ...spec.containers].find((c: any) => c.name === 'tsmesh-proxy');
    const env: Record<string, string> = {};
    for (const e of proxy.env) env[e.name] = e.value ?? { 'metadata.name': 'web-1', 'metadata.namespace': 'shop', 'status.podIP': '10.0.0.7' }[e.valueFrom.fieldRef.fieldPath as string] ?? '';
    expect(bootstrapFromEnv(readProxyEnv(env).sidecar!).tracing).toEqual({ exporter: 'otlp', endpoint: url, samplingPercent: 10 });
    // Without it, no sidecar exports spans.
    expect(kubernetesModeFromEnv(deploymentEnv(), 'cluster.local')!.inject).not.toHaveProperty('tracingEndpoint');
  });

  it('refuses bad mesh-wide tracing settings at install and at the control plane\'s start, naming them', () => {
    expect(() => installObjects({ tracingEndpoint: 'collector:4317' })).toThrow(/tracingEndpoint: "collector:4317" is not an http\(s\) URL/);
    expect(() => installObjects({ tracingSampling: 5 })).toThrow(/tracingSampling: needs tracingEndpoint/);
    const env = { ...deploymentEnv(), TSMESH_TRACING_ENDPOINT: 'http://c:4318/v1/traces', TSMESH_TRACING_SAMPLING: 'all' };
    expect(() => kubernetesModeFromEnv(env, 'cluster.local')).toThrow(/TSMESH_TRACING_SAMPLING: "all" is not a percentage/);
  });

  it('is off without TSMESH_REGISTRY and refuses a bad listen address, naming the variable', () => {
    expect(kubernetesModeFromEnv({}, 'cluster.local')).toBeUndefined();
    expect(() => kubernetesModeFromEnv({ TSMESH_REGISTRY: 'kubernetes', TSMESH_WEBHOOK_LISTEN: '0.0.0.0:http' }, 'cluster.local')).toThrow(/TSMESH_WEBHOOK_LISTEN/);
  });
});

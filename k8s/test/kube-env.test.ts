// mesh-control-plane's Kubernetes switch reads what the installed Deployment
// sets (k8s/install/render.ts), so the rendered env and the reader cannot drift.
import { describe, expect, it } from 'vitest';
import { kubernetesModeFromEnv } from '../../control-plane/kube-env.js';
import { installObjects } from '../install/render.js';

/** The control-plane container's env, with the downward API resolved for a pod in tsmesh-system. */
function deploymentEnv(): Record<string, string> {
  const dep = installObjects({ image: 'tsmesh:dev' }).find((o: any) => o.kind === 'Deployment') as any;
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

  it('is off without TSMESH_REGISTRY and refuses a bad listen address, naming the variable', () => {
    expect(kubernetesModeFromEnv({}, 'cluster.local')).toBeUndefined();
    expect(() => kubernetesModeFromEnv({ TSMESH_REGISTRY: 'kubernetes', TSMESH_WEBHOOK_LISTEN: '0.0.0.0:http' }, 'cluster.local')).toThrow(/TSMESH_WEBHOOK_LISTEN/);
  });
});

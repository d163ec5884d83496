// The injector and the sidecar's env bootstrap agree: the environment
// k8s/inject/sidecar.ts writes — with the downward API resolved as the kubelet
// would — is read whole by proxy/env.ts and turned by bootstrapFromEnv into the
// node the control plane registers (service, version, app ports, interception).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { bootstrapFromEnv } from '../../proxy/config/env-bootstrap.js';
import { readProxyEnv } from '../../proxy/env.js';
import { readNodeRegistration } from '../../control-plane/registry/node-registration.js';
import { injectManifests } from './inject.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The pod the kubelet runs from the injected template: what each fieldRef resolves to. */
const POD_FIELDS: Record<string, string> = {
  'metadata.name': 'reviews-v2-7d9f8c6b5-x2k4p',
  'metadata.namespace': 'bookinfo',
  'metadata.uid': '0b9c1f0e-4a57-4a43-9c1e-6d1f8b1e2c3d',
  'status.podIP': '10.244.1.17',
  'spec.serviceAccountName': 'bookinfo-reviews',
  'spec.nodeName': 'kind-worker',
};

function proxyEnv(file: string): Record<string, string> {
  const dep = parseAllDocuments(injectManifests(readFileSync(join(dir, file), 'utf8')))
    .map((d) => (d as { toJS(): any }).toJS())
    .find((o) => o.kind !== 'Service');
  const spec = dep.spec.template.spec;
  const proxy = [...(spec.initContainers ?? []), ...spec.containers].find((c: any) => c.name === 'tsmesh-proxy');
  const env: Record<string, string> = {};
  for (const e of proxy.env) env[e.name] = e.value ?? POD_FIELDS[e.valueFrom.fieldRef.fieldPath];
  return env;
}

describe('injected environment → sidecar bootstrap', () => {
  it('every variable the injector sets reaches the proxy', () => {
    const env = proxyEnv('deployment-multi.yaml');
    const seen = readProxyEnv(env);
    const passed = new Set(Object.keys(seen.sidecar ?? {}));
    const unread = Object.keys(env).filter((k) => !passed.has(k) && k !== 'TSMESH_LOG_LEVEL');
    expect(unread).toEqual([]);
    expect(seen.logLevel).toBe('debug');
  });

  it('the node registers as the workload the manifest describes, with its app port and iptables interception', () => {
    const env = proxyEnv('deployment-multi.yaml');
    expect(env.TSMESH_APP_PORT).toBe('9080');
    const b = bootstrapFromEnv(readProxyEnv(env).sidecar!);
    expect(b.node).toMatchObject({ cluster: 'reviews', namespace: 'bookinfo', serviceAccount: 'bookinfo-reviews', workload: 'reviews-v2', version: 'v2' });
    const md = b.dynamicResources!.ads.nodeMetadata!;
    expect(md).toMatchObject({ APP_PORT: '9080', INTERCEPTION_MODE: 'REDIRECT', INBOUND_ADDRESSES: '10.244.1.17:15006', POD_UID: POD_FIELDS['metadata.uid'] });
    // What the control plane makes of it (the metadata the xDS client sends, as the controller reads it).
    const reg = readNodeRegistration({ id: b.node.id, cluster: b.node.cluster, metadata: { ...md, NAMESPACE: b.node.namespace, SERVICE_ACCOUNT: b.node.serviceAccount, LABELS: JSON.stringify(b.node.labels) } });
    expect(reg).toMatchObject({ service: 'reviews', version: 'v2', inboundAddress: '10.244.1.17', inboundPort: 15006, appPort: 9080 });
  });

  it('a pod with several container ports sends them all; the first is the inbound app port', () => {
    const env = proxyEnv('deployment-multiport.yaml');
    expect(env.TSMESH_APP_PORT).toBe('8080,9090'); // the UDP port is not intercepted
    const md = bootstrapFromEnv(readProxyEnv(env).sidecar!).dynamicResources!.ads.nodeMetadata!;
    expect(md).toMatchObject({ APP_PORT: '8080', APP_PORTS: '8080,9090' });
  });
});

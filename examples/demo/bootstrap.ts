// The bootstrap file of one demo sidecar: identity, admin listener, where its
// spans go, and ADS to the control plane (TLS + bootstrap token when the control plane runs its CA,
// plaintext when it runs with --insecure). The listeners, routes and clusters
// all come from the control plane.

import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface SidecarPlan {
  service: string;
  version: string;
  servicePort: number;
  inbound: number;
  outbound: number;
  app: number;
}

export interface ControlPlaneLink {
  xds: { host: string; port: number };
  /** CA root PEM file and token file: present when xDS runs over TLS. */
  caRootFile?: string;
  tokenFile?: string;
}

/**
 * `tracesUrl`: the demo's collector. The sidecar's own sampling is 0 %: MeshConfig's
 * tracing.randomSamplingPercentage, pushed over xDS, decides how many requests are traced.
 */
export function writeBootstrap(file: string, p: SidecarPlan, cp: ControlPlaneLink, tracesUrl?: string): void {
  const doc = {
    node: {
      id: `sidecar~127.0.0.1~${p.service}-${p.version}.default~default.svc.cluster.local`,
      cluster: p.service,
      namespace: 'default',
      serviceAccount: p.service,
      workload: `${p.service}-${p.version}`,
      version: p.version,
      labels: { app: p.service, version: p.version },
    },
    admin: { address: { address: '127.0.0.1', port: 0 } },
    drainTimeout: '1s',
    ...(tracesUrl ? { tracing: { exporter: 'otlp', endpoint: tracesUrl, protocol: 'http/json', samplingPercent: 0, exportDelayMs: 500 } } : {}),
    dynamicResources: {
      ads: {
        address: { address: cp.xds.host, port: cp.xds.port },
        initialBackoff: '100ms',
        maxBackoff: '2s',
        ...(cp.caRootFile ? { caRootFile: cp.caRootFile } : {}),
        ...(cp.tokenFile ? { tokenFile: cp.tokenFile } : {}),
        nodeMetadata: {
          INBOUND_ADDRESSES: `127.0.0.1:${p.inbound}`,
          OUTBOUND_ADDRESSES: `127.0.0.1:${p.outbound}`,
          APP_PORT: String(p.app),
          SERVICE_PORT: String(p.servicePort),
          PROTOCOL: 'http',
        },
      },
    },
  };
  writeFileSync(file, stringify(doc), { mode: 0o600 });
}

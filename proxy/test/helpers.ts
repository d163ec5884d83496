// Test helpers: bootstraps from YAML text, upstream servers on 127.0.0.1:0,
// and a sidecar started in-process.

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseBootstrap } from '../config/bootstrap.js';
import { Sidecar } from '../sidecar.js';
import type { HttpRequestRecord, Telemetry } from '../telemetry/types.js';
import type { TlsMaterial } from '../identity/tls-contexts.js';

export function portOf(s: net.Server | http.Server): number {
  return (s.address() as AddressInfo).port;
}

export async function listen<T extends net.Server>(s: T): Promise<T> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return s;
}

export function close(s: net.Server | undefined): Promise<void> {
  if (!s) return Promise.resolve();
  (s as http.Server).closeAllConnections?.();
  return new Promise((r) => s.close(() => r()));
}

/** An HTTP/1.1 upstream that answers with JSON describing what it received. */
export async function echoUpstream(name: string): Promise<http.Server & { hits: number; lastHeaders?: http.IncomingHttpHeaders }> {
  const s = http.createServer((req, res) => {
    srv.hits++;
    srv.lastHeaders = req.headers;
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, url: req.url, bytes: n, headers: req.headers }));
    });
  }) as http.Server & { hits: number; lastHeaders?: http.IncomingHttpHeaders };
  const srv = s;
  srv.hits = 0;
  return listen(s);
}

export const node = `node: { id: test-sidecar, cluster: client, namespace: default, workload: client-v1 }`;

export function cluster(name: string, port: number, extra = ''): string {
  return `
    - name: ${name}
      connectTimeout: 1s${extra}
      loadAssignment:
        endpoints: [{ address: { address: 127.0.0.1, port: ${port} } }]`;
}

/**
 * A server sidecar: one STRICT mTLS INBOUND listener on port 0 routing everything to cluster `app`,
 * which `clusters` defines. `filterExtra` adds HTTP filter fields (indented for `filter:`).
 */
export function mtlsInboundBootstrap(clusters: string, opts: { alpn?: string[]; filterExtra?: string } = {}): string {
  const alpn = opts.alpn ? `, alpnProtocols: [${opts.alpn.join(', ')}]` : '';
  return `${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: INBOUND
      filterChains:
        - filterChainMatch: { transportProtocol: tls }
          transportSocket: { certificateSecret: default, validationSecret: ROOTCA, requireClientCertificate: true${alpn} }
          filter:
            kind: http${opts.filterExtra ?? ''}
            routeConfig: { name: in, virtualHosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: / }, route: { cluster: app } }] }] }
  clusters:${clusters}
`;
}

/** A client sidecar: one OUTBOUND HTTP listener on port 0 routing everything to cluster `target`, which `clusters` defines. */
export function outboundBootstrap(target: string, clusters: string): string {
  return `${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: OUTBOUND
      filterChains:
        - filter:
            kind: http
            routeConfig: { name: out, virtualHosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: / }, route: { cluster: ${target} } }] }] }
  clusters:${clusters}
`;
}

/** Routes (for httpBootstrap) to a direct 200 under /direct, cluster `grpc` under /grpc/, cluster `up` for the rest. */
export const DIRECT_GRPC_UP_ROUTES = `            - match: { prefix: /direct }
              directResponse: { status: 200, body: "done" }
            - match: { prefix: /grpc/ }
              route: { cluster: grpc }
            - match: { prefix: / }
              route: { cluster: up }`;

/** A bootstrap with one HTTP listener on port 0 routing by the given routes YAML (indented for `routes:`). */
export function httpBootstrap(routes: string, clusters: string, listenerExtra = ''): string {
  return `${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - name: http
          filter:
            kind: http
            rdsRouteConfigName: routes${listenerExtra}
  routeConfigurations:
    - name: routes
      virtualHosts:
        - name: all
          domains: ["*"]
          routes:
${routes}
  clusters:${clusters}
`;
}

export class RecordingTelemetry implements Telemetry {
  records: HttpRequestRecord[] = [];
  startSpan() {
    return undefined;
  }
  httpRequestDone(r: HttpRequestRecord) {
    this.records.push(r);
  }
  tcpConnectionOpened(..._args: Parameters<Telemetry['tcpConnectionOpened']>): void {}
  tcpConnectionClosed(..._r: Parameters<Telemetry['tcpConnectionClosed']>): void {}
}

export async function startSidecar(yaml: string, telemetry?: Telemetry): Promise<{ sidecar: Sidecar; port: (name?: string) => number }> {
  const b = parseBootstrap(yaml, 'test.yaml');
  const sidecar = new Sidecar({ node: b.node, ...(telemetry ? { telemetry } : {}), drainTimeout: 2000 });
  await sidecar.applySnapshot(b.snapshot);
  return { sidecar, port: (name = 'http') => sidecar.listenerPort(name)! };
}

/** A workload's SDS secrets: its certificate as `default`, its trust bundle as `ROOTCA`. */
export const meshSecrets = (m: TlsMaterial) => [
  { name: 'default', tlsCertificate: { certificateChain: m.certChainPem, privateKey: m.privateKeyPem } },
  { name: 'ROOTCA', validationContext: { trustedCa: m.trustBundlePem } },
];

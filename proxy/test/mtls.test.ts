// Inbound STRICT mTLS with SPIFFE identities from the mesh CA, and RBAC on the verified peer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { makeCa, workload } from '../identity/test/helpers.js';
import { close, cluster, echoUpstream, node, portOf, RecordingTelemetry, startSidecar } from './helpers.js';
import type { Sidecar } from '../sidecar.js';
import type { TlsMaterial } from '../identity/tls-contexts.js';

const CLIENT = 'spiffe://cluster.local/ns/default/sa/client';

function get(port: number, path: string, m?: TlsMaterial, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, ca, ...(m ? { cert: m.certChainPem, key: m.privateKeyPem } : {}), checkServerIdentity: () => undefined, agent: false },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('inbound mTLS and RBAC', () => {
  let up: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar;
  let port: number;
  let client: TlsMaterial;
  let root: string;
  // As a sidecar with an access log: records carry what log formats print (details, addresses).
  const telemetry = Object.assign(new RecordingTelemetry(), { accessLogging: true });

  beforeAll(async () => {
    const ca = await makeCa();
    root = ca.rootPem;
    const server = await workload(ca, 'spiffe://cluster.local/ns/default/sa/server');
    client = await workload(ca, CLIENT);
    up = await echoUpstream('app');
    const s = await startSidecar(
      `${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: INBOUND
      filterChains:
        - name: mtls
          filterChainMatch: { transportProtocol: tls }
          transportSocket: { certificateSecret: default, validationSecret: ROOTCA, requireClientCertificate: true }
          filter:
            kind: http
            httpFilters:
              - name: authz
                kind: rbac
                rules:
                  action: ALLOW
                  policies:
                    clients:
                      permissions: [{ urlPath: { prefix: /allowed } }]
                      principals: [{ authenticated: { exact: "${CLIENT}" } }]
            routeConfig:
              name: inbound
              virtualHosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: / }, route: { cluster: app } }] }]
  clusters:${cluster('app', portOf(up))}
`,
      telemetry,
    );
    sidecar = s.sidecar;
    port = s.port();
    sidecar.updateSecret({ name: 'default', tlsCertificate: { certificateChain: server.certChainPem, privateKey: server.privateKeyPem } });
    sidecar.updateSecret({ name: 'ROOTCA', validationContext: { trustedCa: server.trustBundlePem } });
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(up);
  });

  it('accepts a mesh client, applies RBAC to its verified SPIFFE ID, and refuses clients without a certificate', async () => {
    const ok = await get(port, '/allowed/x', client, root);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).name).toBe('app');
    const denied = await get(port, '/other', client, root);
    expect(denied.status).toBe(403);
    // Dot segments are resolved before the decision: this is /other, not /allowed.
    expect((await get(port, '/allowed/../other', client, root)).status).toBe(403);
    await expect(get(port, '/allowed/x', undefined, root)).rejects.toThrow();
    const rec = telemetry.records.find((r) => r.path === '/allowed/x')!;
    expect(rec.mtls).toBe(true);
    expect(rec.source.principal).toBe(CLIENT);
    const refused = telemetry.records.find((r) => r.responseCode === 403 && r.responseFlags.includes('UAEX'));
    // Envoy's RESPONSE_CODE_DETAILS: no ALLOW policy matched.
    expect(refused?.responseCodeDetails).toBe('rbac_access_denied_matched_policy[none]');
    expect(rec).toMatchObject({ responseCodeDetails: 'via_upstream', downstreamLocalAddress: `127.0.0.1:${port}`, scheme: 'https' });
  });
});

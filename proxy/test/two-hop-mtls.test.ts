// Two sidecars on loopback: A originates mesh mTLS (SPIFFE identity check on
// the server), B terminates it (STRICT) and forwards to the app.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { makeCa, workload } from '../identity/test/helpers.js';
import { close, cluster, echoUpstream, meshSecrets as secrets, mtlsInboundBootstrap, node, portOf, RecordingTelemetry, startSidecar } from './helpers.js';
import type { Sidecar } from '../sidecar.js';

const SERVER = 'spiffe://cluster.local/ns/default/sa/reviews';
const CLIENT = 'spiffe://cluster.local/ns/default/sa/productpage';

describe('sidecar to sidecar mTLS', () => {
  let app: Awaited<ReturnType<typeof echoUpstream>>;
  let a: Sidecar;
  let b: Sidecar;
  let aPort: number;
  const bTelemetry = new RecordingTelemetry();

  beforeAll(async () => {
    const ca = await makeCa();
    const [server, client] = await Promise.all([workload(ca, SERVER), workload(ca, CLIENT)]);
    app = await echoUpstream('reviews');
    const sb = await startSidecar(mtlsInboundBootstrap(cluster('app', portOf(app))), bTelemetry);
    b = sb.sidecar;
    for (const s of secrets(server)) b.updateSecret(s);
    const tlsCluster = (name: string, id: string) =>
      cluster(name, sb.port(), `
      upstreamProtocol: http2
      transportSocket:
        certificateSecret: default
        validationSecret: ROOTCA
        matchSubjectAltNames: [{ exact: "${id}" }]`);
    const sa = await startSidecar(`${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: OUTBOUND
      filterChains:
        - filter:
            kind: http
            routeConfig:
              name: out
              virtualHosts:
                - name: reviews
                  domains: ["*"]
                  routes:
                    - { match: { prefix: /impostor }, route: { cluster: wrong-identity } }
                    - { match: { prefix: / }, route: { cluster: reviews } }
  clusters:${tlsCluster('reviews', SERVER)}${tlsCluster('wrong-identity', 'spiffe://cluster.local/ns/default/sa/someone-else')}
`);
    a = sa.sidecar;
    for (const s of secrets(client)) a.updateSecret(s);
    aPort = sa.port();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await close(app);
  });

  it('carries requests over mTLS; the server side sees the client SPIFFE ID', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await request(`http://127.0.0.1:${aPort}/reviews/${i}`);
      expect(r.statusCode).toBe(200);
      expect(((await r.body.json()) as { url: string }).url).toBe(`/reviews/${i}`);
    }
    const rec = bTelemetry.records.find((r) => r.path === '/reviews/0')!;
    expect(rec.mtls).toBe(true);
    expect(rec.source.principal).toBe(CLIENT);
  });

  it('refuses a server whose SPIFFE ID is not the one the cluster expects (503 UF)', async () => {
    const r = await request(`http://127.0.0.1:${aPort}/impostor`);
    expect(r.statusCode).toBe(503);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_UPSTREAM_CONNECT_FAILURE');
    await r.body.text();
  });
});

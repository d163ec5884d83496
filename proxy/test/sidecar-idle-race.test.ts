// The mesh's "rare 503 UR": sidecar B closes idle HTTP/2 sessions from
// sidecar A (mTLS) while A starts new requests on them. With B closing an
// idle session only when it has no open stream (GOAWAY with its last
// accepted stream) and A sending a stream that crossed the GOAWAY once more
// on a new session, bursty traffic across many idle closes sees no failure.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { Registry } from 'prom-client';
import { makeCa, workload } from '../identity/test/helpers.js';
import { close, cluster, echoUpstream, meshSecrets as secrets, mtlsInboundBootstrap, outboundBootstrap, portOf, RecordingTelemetry, startSidecar } from './helpers.js';
import { load } from './resilience-helpers.js';
import type { Sidecar } from '../sidecar.js';

const SERVER = 'spiffe://cluster.local/ns/default/sa/reviews';
const CLIENT = 'spiffe://cluster.local/ns/default/sa/productpage';

describe('sidecar to sidecar: idle HTTP/2 sessions closed under bursty traffic', () => {
  let app: Awaited<ReturnType<typeof echoUpstream>>;
  let a: Sidecar;
  let b: Sidecar;
  let aPort: number;
  const registry = new Registry();
  const aTelemetry = Object.assign(new RecordingTelemetry(), { registry });
  const agent = new Agent({ connections: 8 });

  beforeAll(async () => {
    const ca = await makeCa();
    const [server, client] = await Promise.all([workload(ca, SERVER), workload(ca, CLIENT)]);
    app = await echoUpstream('reviews');
    const sb = await startSidecar(mtlsInboundBootstrap(cluster('app', portOf(app)), { filterExtra: '\n            limits: { idleTimeout: 15ms }' }));
    b = sb.sidecar;
    for (const s of secrets(server)) b.updateSecret(s);
    const sa = await startSidecar(
      outboundBootstrap('reviews', cluster('reviews', sb.port(), `
      upstreamProtocol: http2
      transportSocket:
        certificateSecret: default
        validationSecret: ROOTCA
        matchSubjectAltNames: [{ exact: "${SERVER}" }]`)),
      aTelemetry,
    );
    a = sa.sidecar;
    for (const s of secrets(client)) a.updateSecret(s);
    aPort = sa.port();
  });

  afterAll(async () => {
    await agent.close();
    await a?.close();
    await b?.close();
    await close(app);
  });

  it('no request fails while B keeps closing A’s idle sessions', async () => {
    // Pauses around B's idle timeout: sessions go idle and close while the next burst starts.
    const results = await load(240, 4, async (i) => {
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 10 + (i % 7) * 2));
      const r = await request(`http://127.0.0.1:${aPort}/reviews/${i}`, { dispatcher: agent });
      await r.body.text();
      return r.statusCode === 200 ? 200 : `${r.statusCode} ${r.headers["x-tsmesh-error"]}`;
    });
    expect(results.filter((s) => s !== 200), JSON.stringify(aTelemetry.records.filter((r) => r.responseCode !== 200).map((r) => [r.responseFlags, r.attempts]))).toEqual([]);
    // B closes A's session once it idles (GOAWAY, then the connection after the grace period).
    const open = async () => Number(/envoy_cluster_upstream_cx_active\{cluster_name="reviews"\} (\d+)/.exec(await registry.metrics())?.[1]);
    while ((await open()) > 0) await new Promise((r) => setTimeout(r, 50));
  });
});

// Tracing's sampling pushed by the control plane: MeshConfig
// tracing.randomSamplingPercentage reaches every sidecar's HTTP listeners over
// xDS (Envoy's tracing.random_sampling) and changes, live, how many new
// requests start a trace, as Istio's Telemetry API does. Real processes: the
// control plane, two sidecars exporting to a test OTLP collector (their own
// default sampling 0 %), and the apps.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, get, type SidecarProc } from './mesh-harness.js';
import { spanAttr, startOtlpCollector } from '../telemetry/test/otlp-decode.js';

const meshConfig = (percent: number) => `apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { tracing: { randomSamplingPercentage: ${percent} } }
`;

describe('mesh-wide trace sampling over xDS', () => {
  const mesh = new Mesh();
  let collector: Awaited<ReturnType<typeof startOtlpCollector>>;
  let a: SidecarProc;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    await mesh.startControlPlane();
    ({ a } = await mesh.pair({ a: { tracingEndpoint: collector.url }, b: { tracingEndpoint: collector.url } }));
  }, 30_000);
  afterAll(async () => {
    await mesh.close();
    await collector?.close();
  });

  /** Sends `n` requests a → b on `path`, all answered 200. */
  async function send(path: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await get(a.outbound, 'b:8080', path);
      expect(r.status).toBe(200);
    }
  }
  const spansOn = (path: string) => collector.spans.filter((s) => spanAttr(s, 'url.path') === path);
  /** Applies `yaml` and waits until both proxies have ACKed listeners newer than before it. */
  async function applyAndSync(yaml: string): Promise<void> {
    const listenerVersions = async () => (await mesh.admin.proxies()).items.map((p) => p.types.listener);
    const before = (await listenerVersions()).map((l) => l?.sentVersion);
    await mesh.admin.apply(yaml);
    await eventually('both proxies ACKed the new listeners', async () => {
      const now = await listenerVersions();
      if (now.length < 2 || now.some((l, i) => l?.sentVersion === before[i] || l?.ackedVersion !== l?.sentVersion)) throw new Error('not yet');
    });
  }

  it('starts with the sidecars\' own sampling (0 %), follows a pushed 100 %, then a pushed 0 %', async () => {
    await eventually('a → b', async () => {
      if ((await get(a.outbound, 'b:8080', '/warm')).status !== 200) throw new Error('not yet');
    });
    await send('/before', 10);
    await new Promise((r) => setTimeout(r, 400)); // > 3 export intervals
    expect(spansOn('/before')).toEqual([]);

    await applyAndSync(meshConfig(100));
    await send('/sampled', 10);
    const spans = await eventually('both sidecars\' spans for every request', async () => {
      const s = spansOn('/sampled');
      if (s.length < 20) throw new Error(`${s.length} spans`);
      return s;
    });
    // One trace per request, a CLIENT span from a and a SERVER span from b in each.
    const traces = new Map<string, number[]>();
    for (const s of spans) traces.set(s.traceId, [...(traces.get(s.traceId) ?? []), s.kind]);
    expect(traces.size).toBe(10);
    for (const kinds of traces.values()) expect(kinds.sort()).toEqual([2, 3]);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['a', 'b']));

    await applyAndSync(meshConfig(0));
    await send('/after', 10);
    await new Promise((r) => setTimeout(r, 400));
    expect(spansOn('/after')).toEqual([]);
  }, 40_000);

  it("continues the trace of a request that arrives with the app's context (the app forwarded it), replacing its traceparent hop by hop", async () => {
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const caller = '00f067aa0ba902b7';
    const r = await get(a.outbound, 'b:8080', '/forwarded', { traceparent: `00-${trace}-${caller}-01`, tracestate: 'app=1' });
    expect(r.status).toBe(200);
    // What app b received: one traceparent, b's own SERVER span as its parent, the caller's tracestate kept.
    const seen = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
    expect(seen.traceparent).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    expect(seen.tracestate).toBe('app=1');
    const spans = await eventually('a\'s and b\'s spans', async () => {
      const s = spansOn('/forwarded');
      if (s.length < 2) throw new Error(`${s.length} spans`);
      return s;
    });
    const client = spans.find((s) => s.kind === 3)!;
    const server = spans.find((s) => s.kind === 2)!;
    expect([client.traceId, server.traceId]).toEqual([trace, trace]);
    expect(client.parentSpanId).toBe(caller);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(seen.traceparent).toBe(`00-${trace}-${server.spanId}-01`);
  }, 20_000);
});

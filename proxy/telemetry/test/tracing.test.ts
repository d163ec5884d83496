import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createTelemetry, type SidecarTelemetry } from '../index.js';
import { extractContext } from '../propagation.js';
import { httpRecord, node, parseExposition } from './records.js';
import { decodeTraceExport, type OtlpEncoding } from './otlp-decode.js';

// The other side of OTLP/HTTP: a collector that keeps every exported span.
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
  status?: { code?: number };
}
let collector: Server;
let endpoint: string;
let spans: OtlpSpan[] = [];
let resources: unknown[] = [];
/** Spans per export request, in arrival order. */
let batches: number[] = [];
/** The encoding of each export request. */
let encodings: OtlpEncoding[] = [];

const hex = (v: string | undefined): string | undefined =>
  v === undefined || v === '' ? undefined : /^[0-9a-f]+$/i.test(v) ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex');
const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue));
};

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { encoding, doc: body } = decodeTraceExport(req.headers['content-type'], Buffer.concat(chunks));
      encodings.push(encoding);
      const before = spans.length;
      for (const rs of body.resourceSpans ?? []) {
        resources.push(rs.resource);
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({ ...s, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId) });
      }
      batches.push(spans.length - before);
      // An empty ExportTraceServiceResponse in the request's encoding.
      if (encoding === 'json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
});
afterAll(async () => {
  await new Promise((r) => collector.close(r));
});
beforeEach(() => {
  spans = [];
  resources = [];
  batches = [];
  encodings = [];
});

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

async function withTelemetry(samplingPercent: number, fn: (t: SidecarTelemetry) => Promise<void> | void) {
  const t = createTelemetry({ node, tracing: { exporter: 'otlp', endpoint, samplingPercent } });
  try {
    await fn(t);
    await t.flush();
  } finally {
    await t.shutdown();
  }
}

describe('tracing', () => {
  it('continues a sampled W3C trace: child span exported with the caller as parent, traceparent injected', async () => {
    let out: Record<string, string> = {};
    await withTelemetry(0, (t) => {
      const h = t.startSpan(
        { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc' },
        'reviews.default.svc.cluster.local:9080/*',
        'inbound',
      )!;
      expect(h.sampled).toBe(true);
      expect(h.traceId).toBe(TRACE);
      out = h.headers;
      t.httpRequestDone(httpRecord({ responseCode: 503, responseFlags: ['UO'] }), h);
    });
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(out.traceparent!);
    expect(m?.[1]).toBe(TRACE);
    expect(m?.[2]).not.toBe(PARENT);
    expect(out.tracestate).toBe('vendor=abc');
    expect(out.b3).toBeUndefined();
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s.traceId).toBe(TRACE);
    expect(s.parentSpanId).toBe(PARENT);
    expect(s.spanId).toBe(m?.[2]);
    expect(s.kind).toBe(2); // SERVER
    expect(s.name).toBe('reviews.default.svc.cluster.local:9080/*');
    expect(attr(s, 'http.request.method')).toBe('GET');
    expect(attr(s, 'url.path')).toBe('/reviews/1');
    expect(attr(s, 'server.address')).toBe('reviews.default.svc.cluster.local');
    expect(attr(s, 'http.response.status_code')).toBe(503);
    expect(attr(s, 'upstream_cluster')).toBe('inbound|9080||');
    expect(attr(s, 'response_flags')).toBe('UO');
    expect(s.status?.code).toBe(2); // ERROR
    expect(JSON.stringify(resources)).toContain('"reviews"');
    expect(encodings).toEqual(['protobuf']); // OpenTelemetry's default OTLP/HTTP encoding
  });

  it('exports OTLP/HTTP JSON when asked (protocol http/json), with the same spans', async () => {
    const t = createTelemetry({ node, tracing: { exporter: 'otlp', endpoint, protocol: 'http/json', samplingPercent: 0 } });
    t.httpRequestDone(httpRecord({ responseCode: 201 }), t.startSpan({ traceparent: `00-${TRACE}-${PARENT}-01` }, 'in', 'inbound'));
    await t.flush();
    await t.shutdown();
    expect(encodings).toEqual(['json']);
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, kind: 2, name: 'in' });
    expect(attr(spans[0]!, 'http.response.status_code')).toBe(201);
  });

  it('answers B3 single with B3 single and traceparent, sharing the trace', async () => {
    let out: Record<string, string> = {};
    await withTelemetry(0, (t) => {
      const h = t.startSpan({ b3: `${TRACE}-${PARENT}-1` }, 'out', 'outbound')!;
      out = h.headers;
      t.httpRequestDone(httpRecord({ direction: 'outbound' }), h);
    });
    const [tid, sid, sampled, parent] = out.b3!.split('-');
    expect([tid, sampled, parent]).toEqual([TRACE, '1', PARENT]);
    expect(out.traceparent).toBe(`00-${TRACE}-${sid}-01`);
    expect(spans[0]!.parentSpanId).toBe(PARENT);
    expect(spans[0]!.spanId).toBe(sid);
    expect(spans[0]!.kind).toBe(3); // CLIENT
  });

  it('answers multi-header B3 (64-bit trace id) in kind, keeping the id width', async () => {
    let out: Record<string, string> = {};
    await withTelemetry(0, (t) => {
      const h = t.startSpan({ 'x-b3-traceid': 'a3ce929d0e0e4736', 'x-b3-spanid': PARENT, 'x-b3-sampled': '1' }, 'in')!;
      out = h.headers;
      t.httpRequestDone(httpRecord(), h);
    });
    expect(out['x-b3-traceid']).toBe('a3ce929d0e0e4736');
    expect(out['x-b3-parentspanid']).toBe(PARENT);
    expect(out['x-b3-sampled']).toBe('1');
    expect(out.traceparent).toBe(`00-0000000000000000a3ce929d0e0e4736-${out['x-b3-spanid']}-01`);
    expect(spans[0]!.traceId).toBe('0000000000000000a3ce929d0e0e4736');
  });

  it("honours the caller's not-sampled flag even at 100%: forwards the context untouched, exports nothing", async () => {
    const tp = `00-${TRACE}-${PARENT}-00`;
    await withTelemetry(100, (t) => {
      const h = t.startSpan({ traceparent: tp }, 'in')!;
      expect(h.sampled).toBe(false);
      expect(h.headers).toEqual({ traceparent: tp });
      t.httpRequestDone(httpRecord(), h);
      const b3 = t.startSpan({ b3: `${TRACE}-${PARENT}-0` }, 'in')!;
      expect(b3.headers).toEqual({ b3: `${TRACE}-${PARENT}-0` });
      t.httpRequestDone(httpRecord(), b3);
    });
    expect(spans).toHaveLength(0);
  });

  it('samples requests without a caller decision by samplingPercent (0% none, 100% a new root trace)', async () => {
    await withTelemetry(0, (t) => {
      const root = t.startSpan({}, 'in')!;
      expect(root.sampled).toBe(false);
      expect(root.headers.traceparent).toMatch(new RegExp(`^00-${root.traceId}-[0-9a-f]{16}-00$`));
      expect(t.startSpan({}, 'in')!.traceId).not.toBe(root.traceId);
      t.httpRequestDone(httpRecord(), root);
      const deferred = t.startSpan({ 'x-b3-traceid': TRACE, 'x-b3-spanid': PARENT }, 'in')!;
      expect(deferred.sampled).toBe(false);
      expect(deferred.headers).toEqual({ 'x-b3-traceid': TRACE, 'x-b3-spanid': PARENT });
    });
    expect(spans).toHaveLength(0);
    await withTelemetry(100, (t) => {
      const h = t.startSpan({}, 'root')!;
      expect(h.headers.traceparent).toMatch(new RegExp(`^00-${h.traceId}-[0-9a-f]{16}-01$`));
      t.httpRequestDone(httpRecord(), h);
    });
    expect(spans).toHaveLength(1);
    expect(spans[0]!.parentSpanId).toBeUndefined();
  });

  it("follows the listener's own sampling (pushed over xDS) over the configured one, both ways", async () => {
    await withTelemetry(0, (t) => {
      const h = t.startSpan({}, 'pushed', 'inbound', 100)!;
      expect(h.sampled).toBe(true);
      t.httpRequestDone(httpRecord(), h);
    });
    await withTelemetry(100, (t) => {
      const h = t.startSpan({}, 'off', 'inbound', 0)!;
      expect(h.sampled).toBe(false);
      expect(h.headers.traceparent).toMatch(/-00$/);
      t.httpRequestDone(httpRecord(), h);
    });
    expect(spans.map((s) => s.name)).toEqual(['pushed']);
  });

  it('exports in batches of at most 64 spans (a short stall each) and loses none', async () => {
    await withTelemetry(100, (t) => {
      for (let i = 0; i < 150; i++) t.httpRequestDone(httpRecord(), t.startSpan({}, 'in'));
    });
    expect(spans).toHaveLength(150);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(150);
    expect(Math.max(...batches)).toBe(64);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(150);
  });

  it('takes its own export batch size', async () => {
    const t = createTelemetry({ node, tracing: { exporter: 'otlp', endpoint, samplingPercent: 100, exportBatchSize: 10 } });
    for (let i = 0; i < 25; i++) t.httpRequestDone(httpRecord(), t.startSpan({}, 'in'));
    await t.flush();
    await t.shutdown();
    expect(spans).toHaveLength(25);
    expect(Math.max(...batches)).toBe(10);
  });

  it('counts exported and refused spans, and says once a minute that spans are being lost', async () => {
    // A collector that refuses every export (400: not retried).
    const refusing = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/v1/traces`;
    const warnings: Record<string, unknown>[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (msg: string, f?: Record<string, unknown>) => warnings.push({ msg, ...f }), child: () => logger };
    const t = createTelemetry({ node, logger, tracing: { exporter: 'otlp', endpoint: url, samplingPercent: 100, exportBatchSize: 10 } });
    try {
      for (let i = 0; i < 25; i++) t.httpRequestDone(httpRecord(), t.startSpan({}, 'in'));
      await t.flush().catch(() => {}); // a flush reports the refused export
      const failedSpans = async () =>
        parseExposition(await t.registry.metrics()).find((m) => m.name === 'tsmesh_tracing_spans_exported_total' && m.labels.result === 'failure')?.value;
      for (let i = 0; i < 100 && (await failedSpans()) !== 25; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await failedSpans()).toBe(25);
      expect(warnings).toHaveLength(1); // three refused batches, one warning
      expect(warnings[0]).toMatchObject({ msg: 'tracing: spans not exported', endpoint: url, spans: 10 });
    } finally {
      await t.shutdown();
      await new Promise((r) => refusing.close(r));
    }
    const good = createTelemetry({ node, tracing: { exporter: 'otlp', endpoint, samplingPercent: 100 } });
    good.httpRequestDone(httpRecord(), good.startSpan({}, 'in'));
    await good.flush();
    expect(parseExposition(await good.registry.metrics()).find((m) => m.name === 'tsmesh_tracing_spans_exported_total' && m.labels.result === 'success')?.value).toBe(1);
    await good.shutdown();
  });

  it("with exporter none, even a sampled caller's context is only forwarded", async () => {
    const t = createTelemetry({ node, tracing: { exporter: 'none', samplingPercent: 100 } });
    const tp = `00-${TRACE}-${PARENT}-01`;
    const h = t.startSpan({ traceparent: tp }, 'in')!;
    expect(h).toMatchObject({ sampled: false, traceId: TRACE, headers: { traceparent: tp } });
    expect(t.startSpan({}, 'in')).toBeUndefined();
    await t.shutdown();
  });

  it('rejects a bad sampling percentage or endpoint with a clear error', () => {
    expect(() => createTelemetry({ node, tracing: { exporter: 'otlp', samplingPercent: 150 } })).toThrow(
      /samplingPercent must be between 0 and 100/,
    );
    expect(() => createTelemetry({ node, tracing: { exporter: 'otlp', endpoint: 'not a url' } })).toThrow(
      /tracing.endpoint is not a valid URL/,
    );
    expect(() => createTelemetry({ node, tracing: { exporter: 'otlp', exportBatchSize: 4096 } })).toThrow(
      /exportBatchSize must be an integer between 1 and 2048, got 4096/,
    );
    expect(() => createTelemetry({ node, tracing: { exporter: 'otlp', protocol: 'grpc' as 'http/json' } })).toThrow(
      /tracing.protocol must be http\/protobuf or http\/json, got grpc/,
    );
  });
});

describe('trace context parsing', () => {
  it('ignores invalid traceparent values (version ff, zero ids, wrong lengths)', () => {
    for (const tp of [
      `ff-${TRACE}-${PARENT}-01`,
      `00-${'0'.repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.slice(1)}-${PARENT}-01`,
      `00-${TRACE}-${PARENT}-01-extra`,
    ]) {
      expect(extractContext({ traceparent: tp }), tp).toBeUndefined();
    }
    expect(extractContext({ traceparent: `01-${TRACE}-${PARENT}-01-future` })?.traceId).toBe(TRACE);
  });

  it('never throws on arbitrary header values', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (a, b, c) => {
        const ctx = extractContext({ traceparent: a, b3: b, 'x-b3-traceid': c, 'x-b3-spanid': b });
        if (ctx) expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/);
      }),
      { numRuns: 500 },
    );
  });
});

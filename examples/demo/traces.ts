// The demo's trace collector: an OTLP/HTTP endpoint in this process that the
// sidecars export their spans to (JSON encoding, so reading it needs no proto
// decoder), and the summary the demo prints — how many traces arrived, and
// one whole request's spans from web's sidecar down to db's.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** 2 SERVER (a sidecar's inbound side), 3 CLIENT (its outbound side). */
  kind: number;
  start: bigint;
  durationMs: number;
  /** The sidecar's workload (service.name plus the version from the node). */
  service: string;
  status: string;
}

/** Ids as OTLP JSON carries them: hex (OpenTelemetry JS) or base64 (the protobuf JSON mapping). */
const hex = (v: unknown): string => (typeof v !== 'string' || v === '' ? '' : /^[0-9a-f]+$/i.test(v) ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex'));

export class TraceCollector {
  readonly spans: DemoSpan[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 8 * 1024 * 1024) chunks.push(c);
      });
      req.on('end', () => {
        try {
          this.take(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch {
          res.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/traces`;
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private take(doc: any): void {
    for (const rs of doc.resourceSpans ?? []) {
      const attrs = new Map<string, string>((rs.resource?.attributes ?? []).map((a: any) => [a.key, a.value?.stringValue ?? '']));
      const service = `${attrs.get('service.name') ?? '?'}${attrs.get('service.version') ? `-${attrs.get('service.version')}` : ''}`;
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const start = BigInt(s.startTimeUnixNano ?? 0);
          const status = (s.attributes ?? []).find((a: any) => a.key === 'http.response.status_code')?.value;
          this.spans.push({
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            name: s.name,
            kind: s.kind,
            start,
            durationMs: Number(BigInt(s.endTimeUnixNano ?? 0) - start) / 1e6,
            service,
            status: String(status?.intValue ?? status?.stringValue ?? '?'),
          });
        }
      }
    }
  }

  private byTrace(): Map<string, DemoSpan[]> {
    const byTrace = new Map<string, DemoSpan[]>();
    for (const s of this.spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    return byTrace;
  }

  /** Spans in the longest trace so far (5 for one request web → api → db: each sidecar's inbound, web's and api's outbound). */
  longestTrace(): number {
    return Math.max(0, ...[...this.byTrace().values()].map((t) => t.length));
  }

  /** Lines for the demo's output: the trace count and the longest trace's spans as a call tree. */
  summary(): string[] {
    const byTrace = this.byTrace();
    const lines = [`${byTrace.size} traces, ${this.spans.length} spans from ${new Set(this.spans.map((s) => s.service)).size} sidecars`];
    const longest = [...byTrace.values()].sort((a, b) => b.length - a.length)[0];
    if (!longest) return lines;
    lines.push(`trace ${longest[0]!.traceId}: ${longest.length} spans`);
    const children = new Map<string, DemoSpan[]>();
    for (const s of longest) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
    const ids = new Set(longest.map((s) => s.spanId));
    const walk = (s: DemoSpan, depth: number): void => {
      lines.push(`${'  '.repeat(depth)}${s.service.padEnd(7)} ${s.kind === 2 ? 'inbound ' : 'outbound'} ${s.name} ${s.status} ${s.durationMs.toFixed(1)}ms`);
      for (const c of (children.get(s.spanId) ?? []).sort((a, b) => (a.start < b.start ? -1 : 1))) walk(c, depth + 1);
    };
    for (const root of longest.filter((s) => !ids.has(s.parentSpanId)).sort((a, b) => (a.start < b.start ? -1 : 1))) walk(root, 0);
    return lines;
  }
}

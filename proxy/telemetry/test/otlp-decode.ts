// An OTLP/HTTP trace collector for tests, and its decoder: an export body,
// either encoding, in the shape of the OTLP JSON mapping (camelCase fields,
// ids as hex or base64 strings, int64 as strings), so both read the same way.
// The proto schema holds only the fields the tests look at; the field numbers
// are opentelemetry-proto's (collector/trace/v1, trace/v1, common/v1).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  repeated KeyValue attributes = 9;
  Status status = 15;
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
  }
}
`;

const request = protobuf.parse(SCHEMA).root.lookupType('otlp.ExportTraceServiceRequest');

export type OtlpEncoding = 'protobuf' | 'json';

export function decodeTraceExport(contentType: string | undefined, body: Buffer): { encoding: OtlpEncoding; doc: any } {
  if (contentType?.startsWith('application/json')) return { encoding: 'json', doc: JSON.parse(body.toString('utf8')) };
  if (contentType?.startsWith('application/x-protobuf')) {
    return { encoding: 'protobuf', doc: request.toObject(request.decode(body), { longs: String, bytes: String, oneofs: false }) };
  }
  throw new Error(`not an OTLP/HTTP content type: ${contentType}`);
}

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
  /** service.name of the resource the span came with. */
  service: string | undefined;
}

const hex = (v: string | undefined): string => (v === undefined || v === '' ? '' : /^[0-9a-f]+$/i.test(v) ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex'));

/** A collector on 127.0.0.1 that keeps every span exported to it (either encoding), for tests with real sidecars. */
export async function startOtlpCollector(): Promise<{ url: string; spans: CollectedSpan[]; encodings: OtlpEncoding[]; close(): Promise<void> }> {
  const spans: CollectedSpan[] = [];
  const encodings: OtlpEncoding[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { encoding, doc } = decodeTraceExport(req.headers['content-type'], Buffer.concat(chunks));
      encodings.push(encoding);
      for (const rs of doc.resourceSpans ?? []) {
        const service = (rs.resource?.attributes ?? []).find((a: { key: string }) => a.key === 'service.name')?.value?.stringValue;
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? []) spans.push({ ...s, traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), attributes: s.attributes ?? [], service });
      }
      if (encoding === 'json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    spans,
    encodings,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A span's attribute as a string (ints come as strings from the protobuf decoding). */
export function spanAttr(s: CollectedSpan, key: string): string | undefined {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue;
}

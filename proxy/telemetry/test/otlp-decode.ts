// Decodes an OTLP/HTTP trace export body, either encoding, into the shape of
// the OTLP JSON mapping (camelCase fields, ids as hex or base64 strings,
// int64 as strings), so a test collector reads both the same way. The proto
// schema holds only the fields the tests look at; the field numbers are
// opentelemetry-proto's (collector/trace/v1, trace/v1, common/v1).

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

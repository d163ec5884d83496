import { describe, expect, it } from 'vitest';
import { ENVOY_DEFAULT_FORMAT, ISTIO_TEXT_FORMAT, LogFormatError, JsonLogFormatError, compileJsonFormat, compileTextFormat } from '../log-format.js';
import { httpRecord, tcpRecord } from './records.js';

// A request as the chain records it when an access log is on (HTTP/1.1, mTLS inbound).
const logged = httpRecord({
  url: '/reviews/1?lang=fr',
  downstreamRemoteAddress: '10.0.0.9',
  downstreamRemotePort: 51000,
  downstreamLocalAddress: '10.0.0.7:9080',
  requestedServerName: 'outbound_.9080_._.reviews.default.svc.cluster.local',
  upstreamLocalAddress: '127.0.0.6:40122',
  routeName: 'default',
  responseCodeDetails: 'via_upstream',
  requestHeaders: { 'user-agent': 'curl/8', 'x-request-id': 'req-1', 'x-forwarded-for': '192.0.2.1', 'x-multi': ['a', 'b'] },
  responseHeaders: ['content-type', 'text/plain', 'x-envoy-upstream-service-time', '2'],
});

describe('text formats (Envoy command operators)', () => {
  it("renders Istio's default TEXT line with '-' for what the request does not have", () => {
    expect(compileTextFormat(ISTIO_TEXT_FORMAT).render(logged)).toBe(
      '[2023-11-14T22:13:20.000Z] "GET /reviews/1?lang=fr HTTP/1.1" 200 - via_upstream - "-" 0 120 3 2 "192.0.2.1" "curl/8" "req-1" ' +
        '"reviews.default.svc.cluster.local:9080" "127.0.0.1:9080" inbound|9080|| 127.0.0.6:40122 10.0.0.7:9080 10.0.0.9:51000 ' +
        'outbound_.9080_._.reviews.default.svc.cluster.local default',
    );
  });

  it('renders a TCP connection with the HTTP-only operators as - and the response code 0, as Envoy', () => {
    const line = compileTextFormat(ENVOY_DEFAULT_FORMAT).render(tcpRecord({ responseFlags: ['UF'] }));
    expect(line).toBe('[2023-11-14T22:13:20.000Z] "- - -" 0 UF 100 2500 50 - "-" "-" "-" "-" "10.0.1.1:6379"');
  });

  it('reads headers case-insensitively, falls back to the alternative, truncates, joins repeated values', () => {
    const f = compileTextFormat('%REQ(User-Agent)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %REQ(:AUTHORITY):7% %REQ(X-MULTI)% %RESP(Content-Type)% %RESP(:STATUS)% %REQ(x-absent)%');
    expect(f.render(logged)).toBe('curl/8 /reviews/1?lang=fr reviews a,b text/plain 200 -');
    const rewritten = httpRecord({ ...logged, requestHeaders: { ...logged.requestHeaders, 'x-envoy-original-path': '/old' } });
    expect(compileTextFormat('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%').render(rewritten)).toBe('/old');
  });

  it('formats START_TIME with strftime specifiers (UTC), %% as a literal percent', () => {
    const r = httpRecord({ startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 67) });
    expect(compileTextFormat('%START_TIME(%Y/%m/%dT%H:%M:%S.%3f%z)% %START_TIME(%s)% 100%%').render(r)).toBe('2026/01/02T03:04:05.067+0000 1767323045 100%');
  });

  it('prints gRPC status names as Envoy does (camel, snake, number)', () => {
    const r = httpRecord({ protocol: 'grpc', httpVersion: 'HTTP/2', grpcStatus: 14 });
    expect(compileTextFormat('%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)% %GRPC_STATUS(NUMBER)% %GRPC_STATUS_NUMBER%').render(r)).toBe('Unavailable UNAVAILABLE 14 14');
    expect(compileTextFormat('%GRPC_STATUS%').render(httpRecord())).toBe('-');
  });

  it('names the peer certificate on the side that presented it', () => {
    const f = compileTextFormat('%DOWNSTREAM_PEER_URI_SAN% %UPSTREAM_PEER_URI_SAN%');
    expect(f.render(logged)).toBe('spiffe://cluster.local/ns/default/sa/productpage -');
    expect(f.render(tcpRecord())).toBe('- spiffe://cluster.local/ns/cache/sa/redis');
  });

  it.each([
    ['%BOGUS%', /unknown or unsupported command operator %BOGUS% .*\(column 1\)/],
    ['ok %REQ()%', /%REQ\(HEADER\)% needs a header name \(column 4\)/],
    ['%REQ(a?b?c)%', /takes a header name, or two as NAME\?ALTERNATIVE/],
    ['%REQ(:FOO)%', /unknown pseudo-header :foo/],
    ['%DURATION(x)%', /%DURATION% takes no argument/],
    ['%START_TIME(%Q)%', /unsupported strftime specifier %Q/],
    ['%GRPC_STATUS(HEX)%', /CAMEL_STRING, SNAKE_STRING or NUMBER/],
    ['50% off', /a command operator must look like %NAME%.*\(column 3\)/],
    ['a\nb', /a newline inside the format/],
    ['%DURATION:0%', /at least 1/],
  ])('refuses %j with the reason and the column', (format, message) => {
    expect(() => compileTextFormat(format)).toThrow(LogFormatError);
    expect(() => compileTextFormat(format)).toThrow(message);
  });
});

describe('JSON formats', () => {
  it('keeps a lone operator typed, renders mixed strings as text, nulls what is missing, nests objects', () => {
    const f = compileJsonFormat({
      code: '%RESPONSE_CODE%',
      took: '%DURATION%ms',
      ua: '%REQ(USER-AGENT)%',
      trace: '%TRACE_ID%',
      fixed: 'tsmesh',
      n: 3,
      peer: { addr: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', sni: '%REQUESTED_SERVER_NAME%' },
    });
    expect(JSON.parse(f.render(logged))).toEqual({
      code: 200,
      took: '3ms',
      ua: 'curl/8',
      trace: null,
      fixed: 'tsmesh',
      n: 3,
      peer: { addr: '10.0.0.9', sni: 'outbound_.9080_._.reviews.default.svc.cluster.local' },
    });
  });

  it('omits empty values when asked (omit_empty_values)', () => {
    const f = compileJsonFormat({ code: '%RESPONSE_CODE%', trace: '%TRACE_ID%', method: '%REQ(:METHOD)%' }, true);
    expect(JSON.parse(f.render(tcpRecord()))).toEqual({ code: 0 });
  });

  it('names the key of a bad value', () => {
    expect(() => compileJsonFormat({ ok: '%DURATION%', peer: { addr: '%NOPE%' } })).toThrow(JsonLogFormatError);
    expect(() => compileJsonFormat({ ok: '%DURATION%', peer: { addr: '%NOPE%' } })).toThrow(/^peer\.addr: unknown or unsupported command operator %NOPE%/);
    expect(() => compileJsonFormat({ list: ['%DURATION%'] })).toThrow(/list: a JSON format value must be a string, number, boolean or object, got a list/);
  });
});

// gRPC through the sidecar's resilience layer: a trailers-only UNAVAILABLE is
// retried under retryOn: unavailable, and a route timeout answers
// DEADLINE_EXCEEDED (HTTP 200 trailers-only, flag UT) — as Envoy does.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Sidecar } from '../sidecar.js';
import { node, RecordingTelemetry, startSidecar } from './helpers.js';

const proto = protoLoader.loadSync(fileURLToPath(new URL('./protos/echo.proto', import.meta.url)));
const Echo = (grpc.loadPackageDefinition(proto) as any).tsmesh.test.Echo;

describe('gRPC retries and deadlines through the sidecar', () => {
  let server: grpc.Server;
  let sidecar: Sidecar;
  let client: any;
  const attempts: string[] = [];
  let flakyCalls = 0;
  const telemetry = new RecordingTelemetry();

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(Echo.service, {
      Unary: (call: any, cb: any) => {
        const text: string = call.request.text;
        if (text === 'hang') return; // never answers
        if (text === 'flaky') {
          attempts.push(String(call.metadata.get('x-envoy-attempt-count')[0]));
          if (++flakyCalls <= 2) return cb({ code: grpc.status.UNAVAILABLE, details: 'warming up' });
        }
        cb(null, { text: `echo:${text}` });
      },
      Bidi: () => {},
      ServerStream: (call: any) => call.end(),
      ClientStream: (_call: any, cb: any) => cb(null, { text: '' }),
    });
    const port = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    const yaml = `${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - name: http
          filter: { kind: http, rdsRouteConfigName: routes }
  routeConfigurations:
    - name: routes
      virtualHosts:
        - name: all
          domains: ["*"]
          routes:
            - match: { prefix: /tsmesh.test.Echo/, grpc: true }
              route:
                cluster: grpc
                timeout: 300ms
                retryPolicy:
                  retryOn: [unavailable]
                  numRetries: 3
                  retryBackOff: { baseInterval: 1ms, maxInterval: 5ms }
  clusters:
    - name: grpc
      connectTimeout: 1s
      upstreamProtocol: http2
      loadAssignment:
        endpoints: [{ address: { address: 127.0.0.1, port: ${port} } }]
`;
    const started = await startSidecar(yaml, telemetry);
    sidecar = started.sidecar;
    client = new Echo(`127.0.0.1:${started.port()}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await sidecar?.close();
    server?.forceShutdown();
  });

  const unary = (text: string) =>
    new Promise<{ err: grpc.ServiceError | null; res: { text: string } | undefined }>((resolve) =>
      client.Unary({ text }, (err: grpc.ServiceError | null, res: { text: string }) => resolve({ err, res })),
    );

  it('retries UNAVAILABLE and answers OK on the third attempt', async () => {
    const { err, res } = await unary('flaky');
    expect(err).toBeNull();
    expect(res!.text).toBe('echo:flaky');
    expect(attempts).toEqual(['1', '2', '3']);
    const rec = telemetry.records.at(-1)!;
    expect(rec.attempts).toBe(3);
    expect(rec.grpcStatus).toBe(0);
  });

  it('a route timeout answers DEADLINE_EXCEEDED with flag UT', async () => {
    const { err } = await unary('hang');
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const rec = telemetry.records.at(-1)!;
    expect(rec.responseFlags).toEqual(['UT']);
    expect(rec.grpcStatus).toBe(4);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import WebSocket, { WebSocketServer } from 'ws';
import { request, Agent } from 'undici';
import { close, cluster, echoUpstream, listen, node, portOf, startSidecar } from './helpers.js';
import { selfSigned } from './certs.js';
import type { Sidecar } from '../sidecar.js';

const proto = protoLoader.loadSync(fileURLToPath(new URL('./protos/echo.proto', import.meta.url)));
const Echo = (grpc.loadPackageDefinition(proto) as any).tsmesh.test.Echo;

describe('protocols through the sidecar', () => {
  let upstream: Awaited<ReturnType<typeof echoUpstream>>;
  let grpcServer: grpc.Server;
  let grpcPort: number;
  let wss: WebSocketServer;
  let tcpEcho: net.Server;
  let sidecar: Sidecar;
  let ports: (n?: string) => number;
  let cert: { cert: string; key: string };

  beforeAll(async () => {
    cert = await selfSigned();
    upstream = await echoUpstream('up');
    grpcServer = new grpc.Server();
    grpcServer.addService(Echo.service, {
      Unary: (call: any, cb: any) => {
        if (call.request.text === 'fail') return cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        const md = new grpc.Metadata();
        md.set('x-trailer', 'kept');
        cb(null, { text: `echo:${call.request.text}` }, md);
      },
      Bidi: (call: any) => {
        call.on('data', (m: any) => call.write({ text: `bidi:${m.text}` }));
        call.on('end', () => {
          const md = new grpc.Metadata();
          md.set('x-done', 'yes');
          call.end(md);
        });
      },
      ServerStream: (call: any) => {
        for (let i = 0; i < 3; i++) call.write({ text: `${call.request.text}${i}` });
        call.end();
      },
      ClientStream: (call: any, cb: any) => {
        const got: string[] = [];
        call.on('data', (m: any) => got.push(m.text));
        call.on('end', () => cb(null, { text: got.join('+') }));
      },
    });
    grpcPort = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    const wsHttp = await listen(net.createServer());
    await close(wsHttp);
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => ws.on('message', (m, bin) => ws.send(bin ? m : `ws:${m}`)));
    tcpEcho = await listen(net.createServer((s) => s.pipe(s)));

    const yaml = `${node}
staticResources:
  secrets:
    - name: server-cert
      tlsCertificate:
        certificateChain: ${JSON.stringify(cert.cert)}
        privateKey: ${JSON.stringify(cert.key)}
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - name: tls
          filterChainMatch: { transportProtocol: tls }
          transportSocket: { certificateSecret: server-cert }
          filter: { kind: http, rdsRouteConfigName: routes }
        - name: plain
          filterChainMatch: { applicationProtocols: [http/1.1, h2c] }
          filter: { kind: http, rdsRouteConfigName: routes }
        - name: tcp
          filter: { kind: tcp, cluster: tcp-echo }
  routeConfigurations:
    - name: routes
      virtualHosts:
        - name: all
          domains: ["*"]
          routes:
            - match: { prefix: /tsmesh.test.Echo/, grpc: true }
              route: { cluster: grpc, timeout: 0s }
            - match: { prefix: /ws }
              route: { cluster: ws }
            - match: { prefix: / }
              route: { cluster: up }
        - name: grpc-only
          domains: [grpc-only.test]
          routes:
            - match: { prefix: /tsmesh.test.Echo/, grpc: true }
              route: { cluster: grpc }
  clusters:${cluster('up', portOf(upstream))}${cluster('grpc', grpcPort, '\n      upstreamProtocol: http2')}${cluster('ws', (wss.address() as net.AddressInfo).port)}${cluster('tcp-echo', portOf(tcpEcho))}
`;
    const s = await startSidecar(yaml);
    sidecar = s.sidecar;
    ports = s.port;
  });
  afterAll(async () => {
    await sidecar?.close();
    grpcServer?.forceShutdown();
    wss?.close();
    await Promise.all([close(upstream), close(tcpEcho)]);
  });

  const h2get = (url: string, opts: http2.SecureClientSessionOptions = {}) =>
    new Promise<{ status: number; body: string; alpn?: string | false }>((resolve, reject) => {
      const session = http2.connect(url, opts);
      session.on('error', reject);
      const req = session.request({ ':path': '/h2-test', ':method': 'GET' });
      let body = '';
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const alpn = (session.socket as { alpnProtocol?: string | false }).alpnProtocol;
        session.close();
        resolve({ status, body, alpn });
      });
      req.on('error', reject);
      req.end();
    });

  it('proxies HTTP/2 cleartext with prior knowledge, advertising 100 concurrent streams', async () => {
    const session = http2.connect(`http://127.0.0.1:${ports()}`);
    const settings = await new Promise<http2.Settings>((r) => session.once('remoteSettings', r));
    expect(settings.maxConcurrentStreams).toBe(100);
    session.close();
    const r = await h2get(`http://127.0.0.1:${ports()}`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).url).toBe('/h2-test');
  });

  it('terminates TLS and serves h2 (ALPN) and HTTP/1.1 over TLS', async () => {
    const r = await h2get(`https://localhost:${ports()}`, { ca: cert.cert, servername: 'localhost' });
    expect(r.status).toBe(200);
    expect(r.alpn).toBe('h2');
    expect(JSON.parse(r.body).headers['x-forwarded-proto']).toBe('https');
    const agent = new Agent({ connect: { ca: cert.cert, servername: 'localhost' } });
    const res = await request(`https://127.0.0.1:${ports()}/over-tls`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { url: string }).url).toBe('/over-tls');
    await agent.close();
  });

  it('proxies gRPC unary with status, messages and trailers preserved', async () => {
    const client = new Echo(`127.0.0.1:${ports()}`, grpc.credentials.createInsecure());
    const trailers = new Promise<grpc.Metadata>((r) => {
      const call = client.Unary({ text: 'hi' }, (err: Error | null, res: { text: string }) => {
        expect(err).toBeNull();
        expect(res.text).toBe('echo:hi');
      });
      call.on('status', (s: grpc.StatusObject) => r(s.metadata));
    });
    expect((await trailers).get('x-trailer')).toEqual(['kept']);
    const err = await new Promise<grpc.ServiceError>((r) => client.Unary({ text: 'fail' }, (e: grpc.ServiceError) => r(e)));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('no such thing');
    client.close();
  });

  it('proxies gRPC bidi, server and client streaming', async () => {
    const client = new Echo(`127.0.0.1:${ports()}`, grpc.credentials.createInsecure());
    const call = client.Bidi();
    const got: string[] = [];
    const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
    call.on('data', (m: { text: string }) => {
      got.push(m.text);
      if (got.length < 3) call.write({ text: `m${got.length}` });
      else call.end();
    });
    call.write({ text: 'm0' });
    const st = await status;
    expect(got).toEqual(['bidi:m0', 'bidi:m1', 'bidi:m2']);
    expect(st.code).toBe(grpc.status.OK);
    expect(st.metadata.get('x-done')).toEqual(['yes']);
    const ss: string[] = [];
    await new Promise<void>((r) => client.ServerStream({ text: 's' }).on('data', (m: { text: string }) => ss.push(m.text)).on('end', r));
    expect(ss).toEqual(['s0', 's1', 's2']);
    const cs = await new Promise<string>((r, j) => {
      const c = client.ClientStream((e: Error | null, m: { text: string }) => (e ? j(e) : r(m.text)));
      c.write({ text: 'a' });
      c.write({ text: 'b' });
      c.end();
    });
    expect(cs).toBe('a+b');
    client.close();
  });

  it('answers gRPC requests without a route with UNIMPLEMENTED in a trailers-only response', async () => {
    const client = new grpc.Client(`127.0.0.1:${ports()}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'grpc-only.test' });
    const err = await new Promise<grpc.ServiceError>((r) =>
      client.makeUnaryRequest('/other.Service/Call', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => r(e as grpc.ServiceError)),
    );
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.metadata.get('x-tsmesh-error')).toEqual(['MESH_NO_ROUTE']);
    client.close();
  });

  it('passes WebSocket upgrades through', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports()}/ws`);
    const msgs: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => ws.send('hello'));
      ws.on('message', (m) => {
        msgs.push(String(m));
        if (msgs.length === 1) ws.send('again');
        else ws.close();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    expect(msgs).toEqual(['ws:hello', 'ws:again']);
  });

  it('proxies opaque TCP, including server-speaks-first clients that send nothing at first', async () => {
    const s = net.connect(ports(), '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (c) => got.push(c));
    // Send only after the detection timeout passed: the listener must not hang.
    await new Promise((r) => setTimeout(r, 250));
    s.write('\x00\x01binary-not-http');
    await new Promise((r) => setTimeout(r, 100));
    s.end('!');
    await new Promise((r) => s.on('close', r));
    expect(Buffer.concat(got).toString('latin1')).toBe('\x00\x01binary-not-http!');
  });
});

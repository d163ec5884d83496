import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import tls from 'node:tls';
import { close, cluster, echoUpstream, node, portOf, startSidecar } from './helpers.js';
import { selfSigned } from './certs.js';
import type { Sidecar } from '../sidecar.js';

function peerFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['h2'] }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
  });
}

function get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = session.request({ ':path': path });
    r.on('response', (h) => resolve(Number(h[':status'])));
    r.on('error', reject);
    r.resume();
    r.end();
  });
}

describe('runtime TLS material (the workload certificate `default`)', () => {
  let up: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar;
  let port: number;
  let first: { cert: string; key: string };
  let second: { cert: string; key: string };

  beforeAll(async () => {
    [first, second] = await Promise.all([selfSigned(), selfSigned()]);
    up = await echoUpstream('up');
    const s = await startSidecar(`${node}
staticResources:
  listeners:
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - name: mtls
          filterChainMatch: { transportProtocol: tls }
          transportSocket: { certificateSecret: default }
          filter:
            kind: http
            routeConfig:
              name: inbound
              virtualHosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: / }, route: { cluster: up } }] }]
  clusters:${cluster('up', portOf(up))}
`);
    sidecar = s.sidecar;
    port = s.port();
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(up);
  });

  it('refuses TLS until the certificate arrives, then hot-swaps it without dropping open connections', async () => {
    await expect(peerFingerprint(port, first.cert)).rejects.toThrow();
    sidecar.updateSecret({ name: 'default', tlsCertificate: { certificateChain: first.cert, privateKey: first.key } });
    const fp1 = await peerFingerprint(port, first.cert);
    const session = http2.connect(`https://localhost:${port}`, { ca: [first.cert, second.cert] });
    expect(await get(session, '/before')).toBe(200);

    sidecar.updateSecret({ name: 'default', tlsCertificate: { certificateChain: second.cert, privateKey: second.key } });
    const fp2 = await peerFingerprint(port, second.cert);
    expect(fp2).not.toBe(fp1);
    // The connection opened with the old certificate keeps serving.
    expect(await get(session, '/after')).toBe(200);
    session.close();
  });
});

// TLS origination to a server outside the mesh: the app speaks plain HTTP to
// its sidecar, the sidecar opens TLS to a real HTTPS server, verifying its
// chain against roots from a file on the sidecar (`file-root:<path>`) or
// Node's bundled ones (`system-roots`) and its DNS name (not a SPIFFE ID).
// A server that fails either check gets no request, and a cluster whose roots
// cannot be read never falls back to plaintext.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { Sidecar } from '../sidecar.js';
import { createTelemetry, type SidecarTelemetry } from '../telemetry/index.js';
import { selfSigned } from './certs.js';
import { httpBootstrap, startSidecar } from './helpers.js';
import { close, get, listen, portOf, routeTo } from './resilience-helpers.js';

describe('TLS origination (matchDnsSubjectAltNames, file-root: and system-roots trust)', () => {
  let dir: string;
  let server: https.Server;
  const seen: { sni: string | false; url: string | undefined }[] = [];
  let connections = 0;
  const agent = new Agent();
  const sidecars: Sidecar[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-tls-origination-'));
    const m = await selfSigned(); // CN=localhost, SAN DNS:localhost, IP:127.0.0.1
    writeFileSync(join(dir, 'ca.pem'), m.cert);
    server = https.createServer({ cert: m.cert, key: m.key }, (req, res) => {
      seen.push({ sni: (req.socket as TLSSocket).servername, url: req.url });
      req.resume();
      res.end(`secure ${req.url}`);
    });
    server.on('connection', (_s: net.Socket) => connections++);
    await listen(server);
  });
  afterEach(async () => {
    for (const s of sidecars.splice(0)) await s.close();
    seen.length = 0;
    connections = 0;
  });
  afterAll(async () => {
    await agent.close();
    await close(server);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (tls: string, telemetry?: SidecarTelemetry) => {
    const cluster = `
    - name: ext
      connectTimeout: 1s
      transportSocket: ${tls}
      loadAssignment:
        endpoints: [{ address: { address: 127.0.0.1, port: ${portOf(server)} } }]`;
    const s = await startSidecar(httpBootstrap(routeTo('ext', '/', 'ext'), cluster), telemetry);
    sidecars.push(s.sidecar);
    return s.port();
  };
  const roots = () => `file-root:${join(dir, 'ca.pem')}`;

  it('plain HTTP in, TLS out: verified chain and name, the SNI sent', async () => {
    const p = await start(`{ validationSecret: "${roots()}", matchDnsSubjectAltNames: [localhost], sni: localhost, alpnProtocols: [http/1.1] }`);
    expect(await get(agent, p, '/charge')).toMatchObject({ status: 200, body: 'secure /charge' });
    expect(seen).toEqual([{ sni: 'localhost', url: '/charge' }]);
  });

  it('a certificate for another name is refused before any request is sent', async () => {
    const p = await start(`{ validationSecret: "${roots()}", matchDnsSubjectAltNames: [api.example.com], sni: api.example.com }`);
    const r = await get(agent, p, '/charge');
    expect(r.status).toBe(503);
    expect(seen).toEqual([]);
  });

  it('the access log says why: via_upstream and the local address, or the TLS layer\'s refusal', async () => {
    const path = join(dir, 'access.log');
    const format = '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_LOCAL_ADDRESS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"';
    const telemetry = createTelemetry({ node: { id: 'web', cluster: 'web', namespace: 'default', serviceAccount: 'web', workload: 'web', labels: {}, trustDomain: 'cluster.local' }, accessLog: { path, format: { text: format } } });
    const good = await start(`{ validationSecret: "${roots()}", matchDnsSubjectAltNames: [localhost], sni: localhost }`, telemetry);
    expect((await get(agent, good, '/ok')).status).toBe(200);
    const bad = await start(`{ validationSecret: "${roots()}", matchDnsSubjectAltNames: [api.example.com], sni: api.example.com }`, telemetry);
    expect((await get(agent, bad, '/no')).status).toBe(503);
    await telemetry.shutdown();
    const [ok, refused] = readFileSync(path, 'utf8').trim().split('\n');
    expect(ok).toMatch(/^200 - via_upstream 127\.0\.0\.1:\d+ "-"$/);
    expect(refused).toMatch(/^503 UF upstream_reset_before_response_started\{connection_failure\} - "MESH_UPSTREAM_IDENTITY: upstream identity refused: .*api\.example\.com.*"$/);
  });

  it('roots that do not vouch for the server (Node\'s bundled roots, a self-signed server) are refused', async () => {
    const p = await start(`{ validationSecret: system-roots, matchDnsSubjectAltNames: [localhost], sni: localhost }`);
    expect((await get(agent, p, '/charge')).status).toBe(503);
    expect(seen).toEqual([]);
  });

  it('roots that cannot be read: 503, and never a plaintext connection', async () => {
    const p = await start(`{ validationSecret: "file-root:${join(dir, 'missing.pem')}", matchDnsSubjectAltNames: [localhost], sni: localhost }`);
    const r = await get(agent, p, '/charge');
    expect(r.status).toBe(503);
    expect(r.headers['x-envoy-response-flags'] ?? r.body).toMatch(/UH|no healthy upstream/);
    expect(connections).toBe(0);
  });
});

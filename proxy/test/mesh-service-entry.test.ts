// A host outside the mesh through real processes: a ServiceEntry applied
// through the admin API makes the caller's sidecar route its Host to a server
// that runs no sidecar, resolving the entry's endpoint name by DNS (the system
// resolver: localhost); the request is reported with the host as its
// destination service; an HTTPRoute attached to the entry shapes those calls;
// a DestinationPolicy with tls SIMPLE makes the sidecar originate TLS to a
// real HTTPS server, verified by name; deleting the entry takes the route away.
// Needs the build: `npx tsc -p .` first.

import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSigned } from './certs.js';
import { parseExposition } from '../telemetry/test/records.js';
import { Mesh, eventually, get, type App, type SidecarProc } from './mesh-harness.js';

const entry = (port: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: weather }
spec:
  hosts: [api.weather.test]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${port} }]
  endpoints: [{ address: localhost }]
`;

describe('ServiceEntry: a host outside the mesh', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let outside: App;

  beforeAll(async () => {
    await mesh.startControlPlane();
    const appA = await mesh.app('a');
    outside = await mesh.app('weather'); // no sidecar in front of it
    a = await mesh.sidecar('a', 'v1', appA);
    await mesh.waitConnected(1);
  }, 20_000);
  afterAll(() => mesh.close());

  it('before the entry the host is unknown; with it, the sidecar resolves the endpoint and forwards in plaintext', async () => {
    expect((await get(a.outbound, 'api.weather.test')).status).toBe(404);
    await mesh.admin.apply(entry(outside.port));
    const r = await eventually('routed to the outside server', async () => {
      const x = await get(a.outbound, 'api.weather.test', '/today');
      if (x.status !== 200) throw new Error(`${x.status} ${x.body.slice(0, 80)}`);
      return x;
    });
    expect(JSON.parse(r.body)).toMatchObject({ app: 'weather', url: '/today', headers: { host: 'api.weather.test' } });
    // No mesh identity travels to a server outside the mesh.
    expect(outside.last?.['x-forwarded-client-cert']).toBeUndefined();
    const series = parseExposition(await (await fetch(`http://127.0.0.1:${a.admin}/stats/prometheus`)).text()).filter(
      (x) => x.name === 'istio_requests_total' && x.labels.reporter === 'source' && x.labels.response_code === '200',
    );
    // Named as Istio names a ServiceEntry host: whole, in the entry's namespace, no app or workload behind it.
    expect(series.find((x) => x.labels.destination_service === 'api.weather.test')?.labels).toMatchObject({
      destination_service_name: 'api.weather.test',
      destination_service_namespace: 'default',
      destination_app: 'unknown',
      destination_workload: 'unknown',
    });
  });

  it("an HTTPRoute attached to the entry (Istio's parentRef kind ServiceEntry) shapes the calls that leave the mesh", async () => {
    await mesh.admin.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: weather }
spec:
  parentRefs: [{ group: networking.istio.io, kind: ServiceEntry, name: weather }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /forecast } }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-egress-route, value: forecast }] } }]
      backendRefs: [{ group: networking.istio.io, kind: Hostname, name: api.weather.test, port: 80 }]
`);
    await eventually('the route applies', async () => {
      const x = await get(a.outbound, 'api.weather.test', '/forecast/tomorrow');
      expect(JSON.parse(x.body).headers['x-egress-route']).toBe('forecast');
    });
    // Paths the route does not match have no rule on the entry's host now: 404, as for any route.
    expect((await get(a.outbound, 'api.weather.test', '/today')).status).toBe(404);
    await mesh.admin.delete({ kind: 'HTTPRoute', namespace: 'default', name: 'weather' });
  });

  it('with a DestinationPolicy tls SIMPLE the sidecar originates TLS: the app speaks HTTP, the server outside gets HTTPS for its own name', async () => {
    const m = await selfSigned(); // DNS:localhost
    const caFile = join(mesh.dir, 'outside-ca.pem');
    writeFileSync(caFile, m.cert);
    const secure = https.createServer({ cert: m.cert, key: m.key }, (req, res) => {
      req.resume();
      res.end(JSON.stringify({ secure: true, sni: (req.socket as TLSSocket).servername, url: req.url }));
    });
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (secure.address() as AddressInfo).port;
      await mesh.admin.apply(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: vault }
spec:
  hosts: [vault.weather.test]
  resolution: DNS
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: ${port} }]
  endpoints: [{ address: localhost }]
---
apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: vault-tls }
spec:
  targetRef: { group: networking.istio.io, kind: ServiceEntry, name: vault }
  tls: { mode: SIMPLE, sni: localhost, caCertificates: ${caFile} }
`);
      const r = await eventually('TLS originated', async () => {
        const x = await get(a.outbound, 'vault.weather.test', '/secret');
        if (x.status !== 200) throw new Error(`${x.status} ${x.body.slice(0, 80)}`);
        return x;
      });
      expect(JSON.parse(r.body)).toEqual({ secure: true, sni: 'localhost', url: '/secret' });
      // Verified by name: asking for another name than the certificate's fails closed.
      await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: vault-tls }
spec:
  targetRef: { group: networking.istio.io, kind: ServiceEntry, name: vault }
  tls: { mode: SIMPLE, sni: vault.weather.test, caCertificates: ${caFile} }
`);
      await eventually('refused for the wrong name', async () => expect((await get(a.outbound, 'vault.weather.test', '/secret')).status).toBe(503));
      await mesh.admin.delete({ kind: 'DestinationPolicy', namespace: 'default', name: 'vault-tls' });
      await mesh.admin.delete({ kind: 'ServiceEntry', namespace: 'default', name: 'vault' });
    } finally {
      secure.closeAllConnections();
      await new Promise((r) => secure.close(() => r(undefined)));
    }
  });

  it('deleting the entry takes the route away', async () => {
    await eventually('the entry host answers without the route', async () => expect((await get(a.outbound, 'api.weather.test', '/today')).status).toBe(200));
    await mesh.admin.delete({ kind: 'ServiceEntry', namespace: 'default', name: 'weather' });
    await eventually('no route again', async () => expect((await get(a.outbound, 'api.weather.test')).status).toBe(404));
  });
});

// useOriginalDst on loopback (no iptables): the config field, and that a connection
// that was not redirected is never "passed through" back to the listener itself.
// The redirected case runs for real in k8s/iptables/test/interception.test.ts.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { parseBootstrap } from '../../config/bootstrap.js';
import { decodeResource, encodeResource, fromProtoObject, toProtoObject } from '../../xds/codec/index.js';
import * as fx from '../../xds/codec/test/fixtures.js';
import type { Listener } from '../../config/resources.js';
import { nativeAddonAvailable } from '../../../native/index.js';
import { close, cluster, echoUpstream, node, portOf, startSidecar } from '../../test/helpers.js';
import type { Sidecar } from '../../sidecar.js';

const bootstrap = (extra: string, clusters = '') => `${node}
staticResources:
  listeners:
    - name: outbound
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: OUTBOUND
${extra}
      filterChains:
        - filterChainMatch: { applicationProtocols: [http/1.1] }
          filter:
            kind: http
            routeConfig: { name: out, virtualHosts: [{ name: app, domains: [app], routes: [{ match: { prefix: / }, route: { cluster: app } }] }] }
  clusters:${clusters || cluster('app', 1)}
`;

describe('Listener.useOriginalDst (config)', () => {
  it('is read as an optional boolean', () => {
    const on = parseBootstrap(bootstrap('      useOriginalDst: true'), 'b.yaml');
    expect(on.snapshot.resources.listener.get('outbound')!.useOriginalDst).toBe(true);
    const off = parseBootstrap(bootstrap(''), 'b.yaml');
    expect(off.snapshot.resources.listener.get('outbound')!.useOriginalDst).toBeUndefined();
  });

  it('rejects a non-boolean with the file, line and field path', () => {
    expect(() => parseBootstrap(bootstrap('      useOriginalDst: sometimes'), 'b.yaml')).toThrow(/b\.yaml:\d+: staticResources\.listeners\[0\]\.useOriginalDst/);
  });
});

describe.skipIf(!nativeAddonAvailable())('Listener.useOriginalDst (not redirected)', () => {
  let app: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar;
  let port: number;

  beforeAll(async () => {
    app = await echoUpstream('app');
    const s = await startSidecar(bootstrap('      useOriginalDst: true', cluster('app', portOf(app))));
    sidecar = s.sidecar;
    port = s.port('outbound');
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(app);
  });

  it('still routes HTTP by Host', async () => {
    const r = await request(`http://127.0.0.1:${port}/x`, { headers: { host: 'app' } });
    expect(r.statusCode).toBe(200);
    expect(await r.body.text()).toContain('app');
  });

  it('closes opaque TCP no chain claims instead of passing it back to itself', async () => {
    const s = net.connect(port, '127.0.0.1');
    s.write('PING\r\n');
    let got = '';
    s.on('data', (d) => (got += d));
    await new Promise((r) => s.on('close', r));
    expect(got).toBe('');
    expect(app.hits).toBe(1);
  });
});

describe('Listener.useOriginalDst over xDS', () => {
  // A complete Envoy-shaped listener (router filter and all) from the codec's fixtures.
  const listener: Listener = { ...fx.listener, useOriginalDst: true };

  it('survives the Envoy wire encoding (use_original_dst)', () => {
    const back = decodeResource('listener', encodeResource('listener', listener));
    expect(back.useOriginalDst).toBe(true);
    const { useOriginalDst: _, ...plain } = listener;
    expect(decodeResource('listener', encodeResource('listener', plain)).useOriginalDst).toBeUndefined();
  });

  it("is also set by Istio's original_dst listener filter", () => {
    const { useOriginalDst: _, ...plain } = listener;
    const obj = JSON.parse(JSON.stringify(toProtoObject('listener', plain)));
    obj.listener_filters.push({ name: 'envoy.filters.listener.original_dst' });
    expect(fromProtoObject('listener', obj).useOriginalDst).toBe(true);
  });
});

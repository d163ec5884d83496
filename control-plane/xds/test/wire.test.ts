// Pre-encoded responses decode to exactly what encoding the whole message
// would give: the shared body plus a stream's nonce (SotW), the shared
// resource entries plus a stream's own fields (delta).
import { describe, expect, it } from 'vitest';
import { TYPE_URLS } from '../../../proxy/config/resources.js';
import * as fx from '../../../proxy/xds/codec/test/fixtures.js';
import { messageType } from '../../../proxy/xds/proto-root.js';
import { buildSnapshot, emptyResources } from '../snapshot.js';
import { encodeDeltaResponse, encodeSotwResponse, serverAdsDefinition } from '../wire.js';

const OPTS = { longs: Number, enums: String, bytes: Buffer, defaults: false, arrays: false } as const;

function snapshot() {
  const r = emptyResources();
  const a = structuredClone(fx.clusterLoadAssignment);
  const b = { ...structuredClone(fx.clusterLoadAssignment), clusterName: 'other' };
  (r.clusterLoadAssignment as Map<string, typeof a>).set(a.clusterName, a).set(b.clusterName, b);
  return buildSnapshot('v1', r).types.clusterLoadAssignment;
}

describe('pre-encoded ADS responses', () => {
  it('SotW: body shared across streams, each with its own nonce', () => {
    const set = snapshot();
    const type = messageType('envoy.service.discovery.v3.DiscoveryResponse');
    const all = () => [...set.resources.values()].map((r) => r.any);
    const one = encodeSotwResponse(set, TYPE_URLS.clusterLoadAssignment, 'k', 'n1', all);
    const two = encodeSotwResponse(set, TYPE_URLS.clusterLoadAssignment, 'k', 'n2', () => {
      throw new Error('the body is cached: resources are not selected again');
    });
    const whole = type.encode({ version_info: set.version, resources: all(), type_url: TYPE_URLS.clusterLoadAssignment, nonce: 'n2' }).finish();
    expect(type.toObject(type.decode(two), OPTS)).toEqual(type.toObject(type.decode(whole), OPTS));
    expect(type.toObject(type.decode(one), OPTS).nonce).toBe('n1');
  });

  it('delta: entries encoded once, the stream fields its own', () => {
    const set = snapshot();
    const type = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const send = [...set.resources.values()];
    const head = { system_version_info: set.version, type_url: TYPE_URLS.clusterLoadAssignment, removed_resources: ['gone'], nonce: 'n7' };
    const got = encodeDeltaResponse(head, send);
    const whole = type.encode({ ...head, resources: send.map((r) => ({ name: r.name, version: r.version, resource: r.any })) }).finish();
    expect(type.toObject(type.decode(got), OPTS)).toEqual(type.toObject(type.decode(whole), OPTS));
  });

  it('the server definition passes Buffers through and still encodes message objects', () => {
    const m = serverAdsDefinition().StreamAggregatedResources!;
    const buf = Buffer.from([1, 2, 3]);
    expect(m.responseSerialize(buf)).toBe(buf);
    expect(m.responseSerialize({ version_info: 'x', resources: [], type_url: 't', nonce: 'n' }).length).toBeGreaterThan(0);
  });
});

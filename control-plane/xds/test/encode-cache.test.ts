// Equal resources built as separate objects (as the controller translates
// every proxy afresh) share one encoding; any difference in content — also
// inside Maps, Sets or non-finite numbers — gets its own.
import { describe, expect, it } from 'vitest';
import { decodeResource } from '../../../proxy/xds/codec/index.js';
import * as fx from '../../../proxy/xds/codec/test/fixtures.js';
import { encodeOne } from '../encode-cache.js';
import { buildSnapshot, emptyResources } from '../snapshot.js';

const clone = <T>(v: T): T => structuredClone(v);

describe('encode cache', () => {
  it('encodes equal content once, and different content separately', () => {
    const a = clone(fx.clusterLoadAssignment);
    const b = clone(fx.clusterLoadAssignment);
    const ea = encodeOne('clusterLoadAssignment', a.clusterName, a);
    expect(encodeOne('clusterLoadAssignment', b.clusterName, b)).toBe(ea);
    const c = clone(fx.clusterLoadAssignment);
    c.endpoints = [...c.endpoints, { ...c.endpoints[0]!, address: { ...c.endpoints[0]!.address, port: 1 } }];
    const ec = encodeOne('clusterLoadAssignment', c.clusterName, c);
    expect(ec).not.toBe(ea);
    expect(ec.version).not.toBe(ea.version);
    expect(decodeResource('clusterLoadAssignment', ec.any.value).endpoints).toHaveLength(c.endpoints.length);
    // Same content under another name is another resource.
    expect(encodeOne('clusterLoadAssignment', 'other', { ...clone(fx.clusterLoadAssignment), clusterName: 'other' })).not.toBe(ea);
  });

  it('snapshots of separately built equal configs share their type sets (and so their encoded responses)', () => {
    const mk = () => {
      const r = emptyResources();
      const cla = clone(fx.clusterLoadAssignment);
      (r.clusterLoadAssignment as Map<string, typeof cla>).set(cla.clusterName, cla);
      return r;
    };
    const s1 = buildSnapshot('v1', mk());
    const s2 = buildSnapshot('v1', mk());
    expect(s2.types.clusterLoadAssignment).toBe(s1.types.clusterLoadAssignment);
  });
});

import { describe, expect, it } from 'vitest';
import { parseMeshHost } from '../mesh-host.js';

describe('parseMeshHost', () => {
  it('reads the Kubernetes DNS forms, with or without a port', () => {
    expect(parseMeshHost('reviews', 'shop')).toEqual({ kind: 'name', name: 'reviews', namespace: 'shop' });
    expect(parseMeshHost('Reviews.Prod:9080', 'shop')).toEqual({ kind: 'name', name: 'reviews', namespace: 'prod' });
    expect(parseMeshHost('reviews.prod.svc', 'shop')).toEqual({ kind: 'name', name: 'reviews', namespace: 'prod' });
    expect(parseMeshHost('reviews.prod.svc.cluster.local:80', 'shop')).toEqual({ kind: 'name', name: 'reviews', namespace: 'prod' });
  });

  it('reads virtual IPs, IPv6 with or without brackets', () => {
    expect(parseMeshHost('10.96.0.12:5432', 'shop')).toEqual({ kind: 'ip', address: '10.96.0.12' });
    expect(parseMeshHost('[fd00:10:96::c]:5432', 'shop')).toEqual({ kind: 'ip', address: 'fd00:10:96::c' });
    expect(parseMeshHost('fd00:10:96::c', 'shop')).toEqual({ kind: 'ip', address: 'fd00:10:96::c' });
  });

  it('refuses what no service can be', () => {
    for (const h of ['api.example.com', 'www.github.com:443', 'a..b', '', 'x'.repeat(261)]) expect(parseMeshHost(h, 'shop'), h).toBeUndefined();
  });
});

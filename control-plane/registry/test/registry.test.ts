import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedRegistry } from '../embedded-registry.js';
import { ServicesFileWatcher } from '../file-source.js';
import type { RegistryEvent } from '../types.js';

const node = (id: string, metadata: Record<string, unknown>) => ({ id, cluster: 'reviews', metadata });
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('EmbeddedRegistry', () => {
  it('registers sidecars from xDS node metadata and removes them on disconnect', () => {
    const reg = new EmbeddedRegistry({ trustDomain: 'example.org' });
    const events: RegistryEvent[] = [];
    reg.onChange((e) => events.push(e));
    reg.registerFromNode(node('reviews-v1-a', { serviceAccount: 'reviews', inboundAddress: '127.0.0.1', inboundPort: 15006, appPort: 9080, labels: { version: 'v1' } }));
    reg.registerFromNode(node('reviews-v2-a', { serviceAccount: 'reviews', inboundAddress: '127.0.0.2', inboundPort: 15006, appPort: 9080, version: 'v2' }));
    expect(reg.service('default', 'reviews')).toEqual({ name: 'reviews', namespace: 'default', hostname: 'reviews.default.svc.cluster.local', ports: [{ port: 9080, protocol: 'http' }], labels: {} });
    expect(reg.endpoints('default', 'reviews').map((e) => [e.id, e.address, e.inboundPort, e.version, e.identity])).toEqual([
      ['reviews-v1-a', '127.0.0.1', 15006, 'v1', 'spiffe://example.org/ns/default/sa/reviews'],
      ['reviews-v2-a', '127.0.0.2', 15006, 'v2', 'spiffe://example.org/ns/default/sa/reviews'],
    ]);
    expect(events).toEqual([
      { type: 'service', namespace: 'default', name: 'reviews' },
      { type: 'endpoints', namespace: 'default', name: 'reviews' },
      { type: 'endpoints', namespace: 'default', name: 'reviews' },
    ]);
    reg.unregister('reviews-v1-a');
    reg.unregister('reviews-v2-a');
    expect(reg.service('default', 'reviews')).toBeUndefined();
    expect(reg.endpoints('default', 'reviews')).toEqual([]);
  });

  it('refuses bad node metadata with the field named', () => {
    const reg = new EmbeddedRegistry();
    expect(() => reg.registerFromNode(node('x', { inboundPort: 70000, namespace: 'Bad NS' }))).toThrow(
      'invalid node metadata of "x" (3 problems):\n' +
        '  metadata.inboundPort: must be ≤ 65535, got 70000\n' +
        '  metadata.namespace: "Bad NS" is not valid (a DNS-1123 name)\n' +
        '  metadata.inboundAddress: is required',
    );
    expect(reg.services()).toEqual([]);
  });

  it('loads a watched services file and keeps the last good one on a bad edit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsmesh-reg-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'services.yaml');
    await writeFile(file, 'services:\n  - name: ratings\n    ports: [{ port: 9080 }]\n    endpoints: [{ address: 10.0.0.4, inboundPort: 15006, serviceAccount: ratings }]\n');
    const reg = new EmbeddedRegistry();
    const w = new ServicesFileWatcher(file, reg, { debounceMs: 10 });
    closers.push(() => w.close());
    await w.start();
    expect(reg.endpoints('default', 'ratings').map((e) => e.address)).toEqual(['10.0.0.4']);

    const changed = new Promise<void>((resolve) => reg.onChange(() => resolve()));
    // Replace by rename, as editors do.
    await writeFile(file + '.new', 'services:\n  - name: ratings\n    ports: [{ port: 9080 }]\n    endpoints: [{ address: 10.0.0.9, inboundPort: 15006 }]\n');
    await rename(file + '.new', file);
    await changed;
    expect(reg.endpoints('default', 'ratings').map((e) => e.address)).toEqual(['10.0.0.9']);

    await expect(
      (async () => {
        await writeFile(file, 'services:\n  - name: ratings\n    prots: []\n');
        await w.load();
      })(),
    ).rejects.toThrow(`invalid services file ${file} (1 problem):\n  ${file}:3: services[0].prots: unknown field (expected one of: name, namespace, ports, endpoints, labels)`);
    expect(reg.endpoints('default', 'ratings').map((e) => e.address)).toEqual(['10.0.0.9']);
  });
});

describe('node registration from the sidecar xDS client', () => {
  it('reads the Istio-style upper-case metadata keys, flattened to strings', () => {
    const reg = new EmbeddedRegistry();
    const r = reg.registerFromNode({
      id: 'reviews-v2-7',
      cluster: 'reviews',
      metadata: { NAMESPACE: 'prod', SERVICE_ACCOUNT: 'reviews', VERSION: 'v2', LABELS: '{"app":"reviews"}', INBOUND_ADDRESSES: '10.1.0.7:15006', OUTBOUND_ADDRESSES: '127.0.0.1:15101', APP_PORT: '9080', TRUST_DOMAIN: 'cluster.local' },
    });
    expect(r).toEqual({
      nodeId: 'reviews-v2-7',
      service: 'reviews',
      namespace: 'prod',
      serviceAccount: 'reviews',
      version: 'v2',
      labels: { app: 'reviews', version: 'v2' },
      inboundAddress: '10.1.0.7',
      inboundPort: 15006,
      appPort: 9080,
      servicePort: 9080,
      protocol: 'http',
      outboundPort: 15101,
    });
    expect(reg.endpoints('prod', 'reviews')[0]!.identity).toBe('spiffe://cluster.local/ns/prod/sa/reviews');
  });
});

describe('node metadata fuzzing', () => {
  it('any metadata either registers or is refused with a ValidationError', async () => {
    const fc = (await import('fast-check')).default;
    const { ValidationError } = await import('../../../common/errors.js');
    const reg = new EmbeddedRegistry();
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant('10.0.0.1:15006'), fc.constant('{"a":"b"}'), fc.anything({ maxDepth: 2 }));
    const md = fc.dictionary(
      fc.constantFrom('service', 'namespace', 'serviceAccount', 'labels', 'inboundAddress', 'inboundPort', 'appPort', 'protocol', 'LABELS', 'INBOUND_ADDRESSES', 'OUTBOUND_ADDRESSES', 'APP_PORT', 'NAMESPACE', 'x'),
      value,
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), fc.oneof(md, fc.anything({ maxDepth: 2 })), (id, metadata) => {
        try {
          reg.registerFromNode({ id, cluster: 'svc', metadata });
          reg.unregister(id);
        } catch (e) {
          expect(e).toBeInstanceOf(ValidationError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

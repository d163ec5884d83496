// The applier against a real Sidecar: a listener whose port another socket
// holds is bound once the port is free, with no new push; a newer snapshot
// replaces a pending retry; other failures are not retried.
import net from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../common/log.js';
import { parseBootstrap } from '../../config/bootstrap.js';
import { Sidecar } from '../../sidecar.js';
import { close, cluster, echoUpstream, httpBootstrap, listen, portOf } from '../../test/helpers.js';
import { SnapshotApplier } from '../snapshot-applier.js';

describe('SnapshotApplier', () => {
  let up: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar | undefined;
  let applier: SnapshotApplier | undefined;
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
  const bootstrap = (port: number) =>
    parseBootstrap(
      httpBootstrap(`
            - match: { prefix: / }
              route: { cluster: up }`, cluster('up', portOf(up))).replace('port: 0 }', `port: ${port} }`),
    );
  const snapshot = (port: number) => bootstrap(port).snapshot;
  const newSidecar = () => new Sidecar({ node: bootstrap(0).node, drainTimeout: 500 });

  beforeAll(async () => {
    up = await echoUpstream('up');
  });
  afterEach(async () => {
    applier?.stop();
    await sidecar?.close();
    lines.length = 0;
  });
  afterAll(() => close(up));

  it('binds a listener whose port was taken as soon as it is free, without a new push', async () => {
    const holder = await listen(net.createServer((s) => s.destroy()));
    const port = portOf(holder);
    sidecar = newSidecar();
    const applied: number[] = [];
    applier = new SnapshotApplier(sidecar, logger, { initialRetryMs: 20, maxRetryMs: 100, onApplied: () => applied.push(port) });
    applier.apply(snapshot(port));
    await vi.waitFor(() => expect(lines.filter((l) => l.includes('cannot bind')).length).toBeGreaterThanOrEqual(2));
    expect(lines.find((l) => l.includes('cannot bind'))).toContain('EADDRINUSE');
    expect(sidecar.listenerPort('http')).toBeUndefined();
    expect(applied).toEqual([]);

    await close(holder);
    await vi.waitFor(() => expect(sidecar!.listenerPort('http')).toBe(port), { timeout: 5000 });
    expect(applied).toEqual([port]);
    expect((await request(`http://127.0.0.1:${port}/`)).statusCode).toBe(200);
    expect(lines.some((l) => l.includes('config applied after its listeners could bind'))).toBe(true);
  });

  it('a newer snapshot replaces the one being retried', async () => {
    const holder = await listen(net.createServer((s) => s.destroy()));
    const taken = portOf(holder);
    const probe = await listen(net.createServer());
    const free = portOf(probe);
    await close(probe);
    sidecar = newSidecar();
    applier = new SnapshotApplier(sidecar, logger, { initialRetryMs: 20, maxRetryMs: 50 });
    applier.apply(snapshot(taken));
    await vi.waitFor(() => expect(lines.some((l) => l.includes('cannot bind'))).toBe(true));
    applier.apply(snapshot(free));
    await applier.settled();
    expect(sidecar.listenerPort('http')).toBe(free);
    // The stale snapshot is not retried over the newer one, even once its port is free.
    await close(holder);
    const before = lines.length;
    await new Promise((r) => setTimeout(r, 200));
    await applier.settled();
    expect(sidecar.listenerPort('http')).toBe(free);
    expect(lines.slice(before).filter((l) => l.includes('cannot bind'))).toEqual([]);
  });

  it('reports other failures once and does not retry them', async () => {
    sidecar = newSidecar();
    applier = new SnapshotApplier(sidecar, logger, { initialRetryMs: 10 });
    const good = snapshot(0);
    const broken = { ...good, resources: { ...good.resources, cluster: new Map() } }; // the route's cluster is missing
    applier.apply(broken);
    await applier.settled();
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.filter((l) => l.includes('could not be applied'))).toHaveLength(1);
    expect(lines.some((l) => l.includes('cannot bind'))).toBe(false);
  });
});

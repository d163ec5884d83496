import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { request } from 'undici';
import { ValidationError } from '../../common/errors.js';
import { parseBootstrap } from '../config/bootstrap.js';
import { close, cluster, echoUpstream, httpBootstrap, listen, node, portOf, startSidecar } from './helpers.js';
import type { Sidecar } from '../sidecar.js';
import type { TcpConnectionRecord, Telemetry } from '../telemetry/types.js';

describe('Sidecar.applySnapshot', () => {
  let a: Awaited<ReturnType<typeof echoUpstream>>;
  let b: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar;
  beforeAll(async () => {
    a = await echoUpstream('a');
    b = await echoUpstream('b');
  });
  afterAll(async () => {
    await sidecar?.close();
    await Promise.all([close(a), close(b)]);
  });
  const yaml = (target: string) =>
    httpBootstrap(`
            - match: { prefix: / }
              route: { cluster: ${target} }`, cluster('a', portOf(a)) + cluster('b', portOf(b)));

  it('swaps routes in place, refuses an inconsistent snapshot whole and keeps serving the old one', async () => {
    const s = await startSidecar(yaml('a'));
    sidecar = s.sidecar;
    const port = s.port();
    const name = async () => ((await (await request(`http://127.0.0.1:${port}/`)).body.json()) as { name: string }).name;
    expect(await name()).toBe('a');
    await sidecar.applySnapshot(parseBootstrap(yaml('b')).snapshot);
    expect(sidecar.listenerPort('http')).toBe(port);
    expect(await name()).toBe('b');
    const good = parseBootstrap(yaml('a')).snapshot;
    const broken = { ...good, resources: { ...good.resources, cluster: new Map() } };
    await expect(sidecar.applySnapshot(broken)).rejects.toBeInstanceOf(ValidationError);
    expect(await name()).toBe('b');
    expect(sidecar.snapshot().resources.cluster.size).toBe(2);
  });
});

describe('listener address changes', () => {
  it('binds the new address and stops accepting on the old one', async () => {
    const up = await echoUpstream('up');
    const yaml = (port: number) =>
      httpBootstrap(`
            - match: { prefix: / }
              route: { cluster: up }`, cluster('up', portOf(up))).replace('port: 0 }', `port: ${port} }`);
    const { sidecar, port } = await startSidecar(yaml(0));
    const oldPort = port();
    const probe = await listen(net.createServer());
    const newPort = portOf(probe);
    await close(probe);
    await sidecar.applySnapshot(parseBootstrap(yaml(newPort)).snapshot);
    expect(sidecar.listenerPort('http')).toBe(newPort);
    expect((await request(`http://127.0.0.1:${newPort}/`)).statusCode).toBe(200);
    await expect(request(`http://127.0.0.1:${oldPort}/`)).rejects.toThrow();
    await sidecar.close();
    await close(up);
  });
});

describe('TCP proxy', () => {
  it('splits connections by weight and counts bytes both ways', async () => {
    const closed: TcpConnectionRecord[] = [];
    const telemetry: Telemetry = {
      startSpan: () => undefined,
      httpRequestDone: () => {},
      tcpConnectionOpened: () => {},
      tcpConnectionClosed: (r) => closed.push(r),
    };
    const mk = (tag: string) => listen(net.createServer((s) => s.on('data', (d) => s.write(`${tag}:${d}`)).on('end', () => s.end())));
    const [x, y] = await Promise.all([mk('x'), mk('y')]);
    const { sidecar } = await startSidecar(
      `${node}
staticResources:
  listeners:
    - name: tcp
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - filter: { kind: tcp, weightedClusters: [{ name: x, weight: 3 }, { name: y, weight: 1 }] }
  clusters:${cluster('x', portOf(x))}${cluster('y', portOf(y))}
`,
      telemetry,
    );
    const port = sidecar.listenerPort('tcp')!;
    const answers: string[] = [];
    for (let i = 0; i < 200; i++) {
      answers.push(
        await new Promise<string>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => s.write('ping'));
          let out = '';
          s.on('data', (d) => {
            out += d;
            s.end();
          });
          s.on('close', () => resolve(out));
          s.on('error', reject);
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(answers.every((a) => a === 'x:ping' || a === 'y:ping')).toBe(true);
    const xs = answers.filter((a) => a === 'x:ping').length;
    expect(xs).toBeGreaterThan(120); // expected 150 of 200; sd ≈ 6
    expect(xs).toBeLessThan(180);
    expect(closed).toHaveLength(200);
    expect(closed.every((r) => r.bytesReceived === 4 && r.bytesSent === 6 && (r.clusterName === 'x' || r.clusterName === 'y'))).toBe(true);
    await sidecar.close();
    await Promise.all([close(x), close(y)]);
  });
});

// mesh-control-plane (real process) serves xDS only over TLS with its
// CA-issued certificate and only to a node whose bootstrap token is for the
// identity the node claims. Needs the build: `npx tsc -p .` first.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NodeInfo } from '../../proxy/config/resources.js';
import { XdsClient } from '../../proxy/xds/client.js';
import { Mesh, eventually } from '../../proxy/test/mesh-harness.js';

const PERMISSION_DENIED = 7;

const node = (sa: string): NodeInfo => ({
  id: `sidecar~127.0.0.1~${sa}-v1.default~default.svc.cluster.local`,
  cluster: sa,
  namespace: 'default',
  serviceAccount: sa,
  workload: `${sa}-v1`,
  labels: { app: sa },
  trustDomain: 'cluster.local',
});

describe('mesh-control-plane node authorization', () => {
  const mesh = new Mesh();
  const clients: XdsClient[] = [];
  let root: Buffer;

  beforeAll(async () => {
    await mesh.startControlPlane();
    const info = JSON.parse(readFileSync(join(mesh.stateDir, 'control-plane.json'), 'utf8')) as { xds: string; rootCertFile: string; tls: boolean };
    expect(info).toMatchObject({ xds: `127.0.0.1:${mesh.xdsPort}`, tls: true });
    root = readFileSync(info.rootCertFile);
  }, 15_000);
  afterEach(() => {
    for (const c of clients.splice(0)) c.stop();
  });
  afterAll(() => mesh.close());

  const tlsWithToken = (token: string): ChannelCredentials =>
    credentials.combineChannelCredentials(
      credentials.createSsl(root),
      credentials.createFromMetadataGenerator((_p, cb) => {
        const md = new Metadata();
        md.set('authorization', `Bearer ${token}`);
        cb(null, md);
      }),
    );

  function client(info: NodeInfo, creds: ChannelCredentials, applied: string[]): XdsClient {
    const c = new XdsClient({
      server: `127.0.0.1:${mesh.xdsPort}`,
      credentials: creds,
      node: info,
      nodeExtras: { inboundAddresses: ['127.0.0.1:1'], metadata: { APP_PORT: '2', PROTOCOL: 'http' } },
      apply: (s) => void applied.push([...s.resources.listener.keys()].join(',')),
      backoff: { initialMs: 100, maxMs: 500, jitter: 0 },
    });
    clients.push(c);
    c.start();
    return c;
  }

  it('serves a node whose token is for its own identity', async () => {
    const applied: string[] = [];
    client(node('api'), tlsWithToken(await mesh.token('api')), applied);
    await eventually('config applied', async () => expect(applied.length).toBeGreaterThan(0));
    expect(applied[0]).toContain('virtualInbound');
  }, 15_000);

  it('refuses a node that claims another identity than its token (PERMISSION_DENIED, no config)', async () => {
    const applied: string[] = [];
    const c = client(node('payments'), tlsWithToken(await mesh.token('api')), applied);
    await eventually('stream refused', async () => expect(c.lastStreamError?.code).toBe(PERMISSION_DENIED));
    expect(c.lastStreamError?.message).toContain('token is for spiffe://cluster.local/ns/default/sa/api');
    expect(applied).toEqual([]);
  }, 15_000);

  it('refuses a node with no token, and a plaintext client never gets a stream', async () => {
    const noToken: string[] = [];
    const c = client(node('api'), credentials.createSsl(root), noToken);
    await eventually('stream refused', async () => expect(c.lastStreamError?.code).toBe(PERMISSION_DENIED));
    const plain: string[] = [];
    const p = client(node('api'), credentials.createInsecure(), plain);
    await eventually('plaintext fails', async () => expect(p.lastStreamError).toBeDefined());
    expect(p.lastStreamError?.code).not.toBe(0);
    expect([...noToken, ...plain]).toEqual([]);
  }, 15_000);
});

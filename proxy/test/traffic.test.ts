import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { request, Agent } from 'undici';
import { close, cluster, echoUpstream, httpBootstrap, listen, portOf, RecordingTelemetry, startSidecar } from './helpers.js';
import type { Sidecar } from '../sidecar.js';

/** Runs `n` requests with `concurrency` in flight; returns the status codes and bodies. */
async function load(n: number, concurrency: number, one: (i: number) => Promise<string>): Promise<string[]> {
  const out: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await one(i);
      }
    }),
  );
  return out;
}

describe('canary splits, mirroring and timeouts', () => {
  let stable: Awaited<ReturnType<typeof echoUpstream>>;
  let canary: Awaited<ReturnType<typeof echoUpstream>>;
  let shadow: http.Server;
  let hanging: http.Server;
  const shadowSeen: { host?: string; bytes: number }[] = [];
  let sidecar: Sidecar;
  let port: number;
  const telemetry = new RecordingTelemetry();
  const agent = new Agent({ connections: 16 });

  beforeAll(async () => {
    stable = await echoUpstream('stable');
    canary = await echoUpstream('canary');
    // A shadow that reads the request and then never answers.
    shadow = await listen(
      http.createServer((req) => {
        const rec = { host: req.headers.host, bytes: 0 };
        shadowSeen.push(rec);
        req.on('data', (c: Buffer) => (rec.bytes += c.length));
      }),
    );
    hanging = await listen(http.createServer(() => {}));
    const routes = `
            - name: split
              match: { prefix: /split }
              route:
                weightedClusters:
                  - { name: stable, weight: 90 }
                  - name: canary
                    weight: 10
                    responseHeadersToAdd: [{ header: { key: x-canary, value: "true" } }]
            - name: mirrored
              match: { prefix: /mirrored }
              route:
                cluster: stable
                requestMirrorPolicies: [{ cluster: shadow, percent: 50 }]
            - name: slow
              match: { prefix: /slow }
              route: { cluster: hanging, timeout: 200ms }`;
    const s = await startSidecar(
      httpBootstrap(routes, cluster('stable', portOf(stable)) + cluster('canary', portOf(canary)) + cluster('shadow', portOf(shadow)) + cluster('hanging', portOf(hanging))),
      telemetry,
    );
    sidecar = s.sidecar;
    port = s.port();
  });
  afterAll(async () => {
    await sidecar?.close();
    await agent.close();
    await Promise.all([close(stable), close(canary), close(shadow), close(hanging)]);
  });

  it('splits 90/10 within ±2 points over 2,000 requests, with per-cluster response headers', async () => {
    const names = await load(2000, 16, async () => {
      const r = await request(`http://127.0.0.1:${port}/split`, { dispatcher: agent });
      const body = (await r.body.json()) as { name: string };
      if (body.name === 'canary' && r.headers['x-canary'] !== 'true') throw new Error('canary response header missing');
      return body.name;
    });
    const share = names.filter((n) => n === 'canary').length / names.length;
    expect(share).toBeGreaterThanOrEqual(0.08);
    expect(share).toBeLessThanOrEqual(0.12);
  });

  it('mirrors ≈ the configured share to a hanging shadow without failing or delaying the primary', async () => {
    shadowSeen.length = 0;
    const n = 400;
    const statuses = await load(n, 8, async (i) => {
      const r = await request(`http://127.0.0.1:${port}/mirrored/${i}`, { dispatcher: agent, method: 'POST', body: `payload-${i}`, headersTimeout: 5000 });
      const body = (await r.body.json()) as { name: string; bytes: number };
      return `${r.statusCode}:${body.name}:${body.bytes}`;
    });
    expect(statuses.every((s, i) => s === `200:stable:${`payload-${i}`.length}`)).toBe(true);
    // The primary never waited on the shadow: every request finished although the shadow answers nothing.
    await new Promise((r) => setTimeout(r, 200));
    const share = shadowSeen.length / n;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    expect(shadowSeen.every((s) => s.host === `127.0.0.1-shadow:${port}`)).toBe(true);
    expect(shadowSeen.some((s) => s.bytes > 0)).toBe(true);
    expect(telemetry.records.filter((r) => r.path.startsWith('/mirrored/') && r.responseCode !== 200)).toEqual([]);
  });

  it('answers 504 UT when the route timeout passes', async () => {
    const r = await request(`http://127.0.0.1:${port}/slow`, { dispatcher: agent });
    expect(r.statusCode).toBe(504);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_UPSTREAM_TIMEOUT');
    await r.body.text();
    expect(telemetry.records.some((x) => x.path === '/slow' && x.responseFlags.includes('UT'))).toBe(true);
  });
});

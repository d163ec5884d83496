// HTTP/2 clients over an HTTP/1.1 mTLS hop (DestinationPolicy h2UpgradePolicy:
// DO_NOT_UPGRADE), with real processes: open-loop POSTs with bodies, and the
// client sidecar stalled for a moment mid-run. Each HTTP/2 stream needs a
// connection of its own on the hop, and a full mTLS handshake costs
// milliseconds of CPU on both sides; a pool that opened one connection per
// waiting request fed on itself (each handshake delayed enough requests to
// start more), opened up to all 1,024 it may, starved both sidecars for
// seconds and answered 503 UO (pending overflow).
// Needs the build: `npx tsc -p .` first.

import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../telemetry/test/records.js';
import { Mesh, doNotUpgrade, eventually, h2Call, type SidecarProc } from './mesh-harness.js';

const RATE_PER_S = 600;
const SECONDS = 3;

describe('mesh path: HTTP/2 clients over an HTTP/1.1 mTLS hop, open loop', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair({ b: { accessLog: true } }));
    await mesh.admin.apply(doNotUpgrade('b'));
    // One HTTP/2 request at a time until B logs one that crossed as HTTP/1.1: b is known to A (on-demand
    // discovery), the policy is in force, and the hop has its first connection — and no more.
    await eventually('HTTP/1.1 on the hop', async () => {
      const probe = http2.connect(`http://127.0.0.1:${a.outbound}`);
      probe.on('error', () => {}); // refused until A has its outbound listener: the answer says so
      try {
        const { status } = await h2Call(probe, { ':path': '/probe', ':authority': 'b:8080' });
        if (status !== 200 || !/"path":"\/probe"[^\n]*"protocol":"HTTP\/1\.1"/.test(b.proc.out)) throw new Error(`status ${status}`);
      } finally {
        probe.close();
      }
    }, 15_000);
  }, 30_000);
  afterAll(() => mesh.close());

  /** Upstream connections sidecar A holds to b (its circuit breaker's gauge). */
  async function connectionsToB(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${a.admin}/stats/prometheus`)).text();
    const sample = parseExposition(text).find((s) => s.name === 'envoy_cluster_upstream_cx_active' && /\bb\b/.test(s.labels.cluster_name ?? ''));
    if (!sample) throw new Error(`no upstream_cx_active for b in:\n${text.slice(0, 2000)}`);
    return sample.value;
  }

  it('answers every request whole, and opens tens of connections, not the pool limit', async () => {
    const sessions = Array.from({ length: 16 }, () => http2.connect(`http://127.0.0.1:${a.outbound}`));
    const failures: string[] = [];
    const pending: Promise<void>[] = [];
    const one = async (i: number): Promise<void> => {
      const body = Buffer.alloc(512 + (i % 7) * 300, 97);
      const r = await h2Call(sessions[i % sessions.length]!, { ':method': 'POST', ':path': '/upload', ':authority': 'b:8080', 'x-id': String(i) }, body);
      let seen: { headers: Record<string, string>; bytes: number } | undefined;
      try {
        seen = JSON.parse(r.body) as typeof seen;
      } catch {}
      if (r.status !== 200 || seen?.headers['x-id'] !== String(i) || seen.bytes !== body.length) failures.push(`${i}: status ${r.status}, reset ${r.rstCode}, ${r.body.slice(0, 120)}`);
    };
    // Open loop: requests go out on schedule whether or not earlier ones were answered.
    const total = RATE_PER_S * SECONDS;
    const start = performance.now();
    try {
      // A's process stalls for 300 ms half a second in (what a GC pause or a noisy neighbour does):
      // some 180 requests are waiting for a connection at once when it wakes.
      setTimeout(() => {
        a.proc.child.kill('SIGSTOP');
        setTimeout(() => a.proc.child.kill('SIGCONT'), 300);
      }, 500);
      await new Promise<void>((done) => {
        let sent = 0;
        const tick = (): void => {
          const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE_PER_S));
          while (sent < due) pending.push(one(sent++));
          if (sent < total) setTimeout(tick, 1);
          else done();
        };
        tick();
      });
      await Promise.all(pending);
    } finally {
      for (const s of sessions) s.close();
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(failures.length).toBe(0);
    // Measured here: 51–55. Without the cap on connects in flight: 429–568 (and at 1,000 req/s with a
    // 200 ms stop, 926 and 503 UO; this rate leaves room for the suite's other files on a 2-core machine).
    expect(await connectionsToB()).toBeLessThan(300);
  }, 60_000);
});

// Traffic mirroring compares each shadow response with the primary's: the
// status code, and when the statuses agree, a SHA-256 of each body — what the
// canary's mirror phase reads (tsmesh_mirror_responses_total and
// tsmesh_mirror_bodies_total).
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MirrorOutcome } from '../telemetry/types.js';
import { close, cluster, httpBootstrap, listen, portOf, RecordingTelemetry, startSidecar } from './helpers.js';
import type { Sidecar } from '../sidecar.js';

class MirrorTelemetry extends RecordingTelemetry {
  statuses: MirrorOutcome[] = [];
  bodies: MirrorOutcome[] = [];
  mirrorResponse(_p: string, _m: string, outcome: MirrorOutcome) {
    this.statuses.push(outcome);
  }
  mirrorBody(_p: string, _m: string, outcome: MirrorOutcome) {
    this.bodies.push(outcome);
  }
}

/** An upstream answering per path; chunked (no length) so the body is hashed across several writes. */
function app(answers: Record<string, [number, string]>): Promise<http.Server> {
  return listen(
    http.createServer((req, res) => {
      const [status, body] = answers[req.url!] ?? [404, 'none'];
      res.writeHead(status, { 'content-type': 'text/plain' });
      for (const part of body.match(/.{1,3}/g) ?? []) res.write(part);
      res.end();
    }),
  );
}

describe('mirror comparison', () => {
  const telemetry = new MirrorTelemetry();
  let primary: http.Server;
  let shadow: http.Server;
  let sidecar: Sidecar;
  let port: number;

  beforeAll(async () => {
    primary = await app({ '/same': [200, 'hello world'], '/diff': [200, 'hello world'], '/status': [200, 'ok'] });
    shadow = await app({ '/same': [200, 'hello world'], '/diff': [200, 'hello World'], '/status': [500, 'ok'] });
    const s = await startSidecar(
      httpBootstrap(
        `            - match: { prefix: / }
              route:
                cluster: primary
                requestMirrorPolicies: [{ cluster: shadow }]`,
        `${cluster('primary', portOf(primary))}${cluster('shadow', portOf(shadow))}`,
      ),
      telemetry,
    );
    sidecar = s.sidecar;
    port = s.port();
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(primary);
    await close(shadow);
  });

  async function send(path: string): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return r.text();
  }

  async function settled(n: number): Promise<void> {
    for (let i = 0; i < 200 && telemetry.statuses.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  }

  it('same status and same body: both match', async () => {
    expect(await send('/same')).toBe('hello world');
    await settled(1);
    expect(telemetry.statuses).toEqual(['match']);
    expect(telemetry.bodies).toEqual(['match']);
  });

  it('same status, a body differing in one byte: the body comparison is a mismatch', async () => {
    expect(await send('/diff')).toBe('hello world'); // the client only ever sees the primary
    await settled(2);
    expect(telemetry.statuses).toEqual(['match', 'match']);
    expect(telemetry.bodies).toEqual(['match', 'mismatch']);
  });

  it('a different status is a status mismatch, and the bodies are not compared', async () => {
    expect(await send('/status')).toBe('ok');
    await settled(3);
    expect(telemetry.statuses).toEqual(['match', 'match', 'mismatch']);
    expect(telemetry.bodies).toEqual(['match', 'mismatch']);
  });
});

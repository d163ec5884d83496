// Smoke test of `npm run demo` (quick mode): the whole mesh as real processes;
// the story must go as told and every process must be gone afterwards.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'dist', 'examples', 'demo', 'run.js');

describe('npm run demo', () => {
  it('the control plane promotes api v2, rolls back the mirrored api v3 on its own, shows the mesh, exits 0', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [script, '--quick'], { timeout: 100_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(stderr).not.toContain('demo FAILED');
    expect(code).toBe(0);
    expect(stdout).toContain('$ meshctl canary watch api-v2');
    expect(stdout).toMatch(/\[██░+\]  10%  start: 10% of traffic to api-v2/);
    expect(stdout).toMatch(/\[█████░+\]  25%  advanced to 25%: success 100%, p99 \d+ms, \d+ requests/);
    expect(stdout).toMatch(/ 50%  advanced to 50%: .*\| stable: success [\d.]+%, p99 \d+ms/);
    expect(stdout).toMatch(/100%  promoted: success 100%.*; all traffic to api-v2/);
    // Each step's propagation receipt counts every proxy (an apply that changes nothing for a proxy reaches it at once).
    expect(stdout).toMatch(/advanced to 50%.*\| reached 5\/5 proxies in \d+ ms/);
    expect(stdout).toContain('canary api-v2 promoted: all traffic to api-v2');
    expect(stdout).toContain('$ meshctl canary watch api-v3');
    expect(stdout).toMatch(/\[mirror ≫ canary,  0% live\]  start: mirroring traffic to api-v3 for 5s \(no live weight\)/);
    // v3 never takes live traffic: it is judged on the mirrored copies and rolled back.
    expect(stdout).not.toMatch(/ 10%  mirror passed/);
    expect(stdout).toMatch(/  0%  rolled back: .*mirror mismatch [\d.]+% > 5%.*\(2\/2 failed checks\); mirror removed, all traffic to api-v2/);
    expect(stdout).toMatch(/5 proxies connected/);
    expect(stdout).toMatch(/SERVICE\s+VERSION\s+RPS\s+SUCCESS\s+P50\s+P99/);
    expect(stdout).toMatch(/api-v2\s+HTTPRoute\/api\s+api-v1\s+api-v2\s+100%\s+Promoted/);
    expect(stdout).toMatch(/api-v3\s+HTTPRoute\/api\s+api-v2\s+api-v3\s+0%\s+RolledBack/);
    expect(stdout).toMatch(/ in  GET api:9080\/ 200 [\d.]+ms \S+ → api-v2/);
    // Canary steps, the mirror and the rollback change routes under load: no user request may fail.
    expect(stdout).toMatch(/traffic: (\d+) requests sent, \1 answered 200 \(100\.0%\)/);
    // Traces: MeshConfig's 10 % sampling, pushed over xDS; the apps forward the context, so one request's
    // spans from all three hops join into one trace (web's sidecar in and out, api's in and out, db's in).
    expect(stdout).toMatch(/applied MeshConfig: every sidecar traces 10% of new requests/);
    expect(stdout).toMatch(/\d+ traces, \d+ spans from 5 sidecars/);
    const trace = stdout.slice(stdout.search(/trace [0-9a-f]{32}: \d+ spans/));
    expect(trace).toMatch(/^trace [0-9a-f]{32}: \d+ spans\n/);
    for (const hop of [
      /\]   web-v1  inbound  web:8080\/ 200 /,
      /\]     web-v1  outbound api:9080\/ 200 /,
      /\]       api-v\d  inbound  api:9080\/ 200 /,
      /\]         api-v\d  outbound db:7070\/ 200 /,
      /\]           db-v1   inbound  db:7070\/ 200 /,
    ]) expect(trace).toMatch(hop);
    expect(stdout).toContain('demo complete');
  }, 120_000);
});

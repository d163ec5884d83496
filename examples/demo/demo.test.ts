// Smoke test of `npm run demo` (quick mode): the whole mesh as real processes;
// the story must go as told and every process must be gone afterwards.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'dist', 'examples', 'demo', 'run.js');

describe('npm run demo', () => {
  it('promotes api v2, rolls back api v3 on its own, shows the mesh, exits 0', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [script, '--quick'], { timeout: 100_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(stderr).not.toContain('demo FAILED');
    expect(code).toBe(0);
    expect(stdout).toContain('$ meshctl canary start api-v2');
    expect(stdout).toMatch(/\[█████░+\]  25%  advanced to 25%: success 100%/);
    expect(stdout).toMatch(/100%  promoted: success 100%.*; all traffic to api-v2/);
    expect(stdout).toContain('$ meshctl canary start api-v3');
    expect(stdout).toMatch(/  0%  rolled back: (success rate [\d.]+% < 95%|p99 \d+ms > 250ms).*\(2\/2 failed checks\); all traffic to api-v2/);
    expect(stdout).toMatch(/5 proxies connected/);
    expect(stdout).toMatch(/SERVICE\s+VERSION\s+RPS\s+SUCCESS\s+P50\s+P99/);
    expect(stdout).toMatch(/api-v3\s+HTTPRoute\/api\s+api-v2\s+api-v3\s+0%/);
    expect(stdout).toMatch(/ in  GET api:9080\/ 200 [\d.]+ms \S+ → api-v2/);
    expect(stdout).toContain('demo complete');
  }, 120_000);
});

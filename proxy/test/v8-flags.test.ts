// The V8 settings the sidecar applies to itself at startup (proxy/v8-flags.ts).
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { boundOldGenerationGrowth, keepWasmOnBaselineCompiler, releaseStartupGarbage, skipAllocationSitePretenuring, skipBaselineCompiler } from '../v8-flags.js';

describe('sidecar V8 flags', () => {
  it("an operator's own flags win over the sidecar's defaults", () => {
    expect(boundOldGenerationGrowth(['--heap-growing-percent=30'], undefined)).toBe(false);
    expect(boundOldGenerationGrowth([], '--max-semi-space-size=2 --heap_growing_percent=80')).toBe(false);
    expect(keepWasmOnBaselineCompiler(['--no-liftoff'], undefined)).toBe(false);
    expect(boundOldGenerationGrowth([], '--max-semi-space-size=2')).toBe(true);
    expect(skipAllocationSitePretenuring(['--allocation-site-pretenuring'], undefined)).toBe(false);
    expect(skipAllocationSitePretenuring([], '--no-allocation_site_pretenuring')).toBe(false);
    expect(skipAllocationSitePretenuring([], '--max-semi-space-size=2')).toBe(true);
    expect(skipBaselineCompiler(['--sparkplug'], undefined)).toBe(false);
    expect(skipBaselineCompiler([], '--always-sparkplug')).toBe(false);
    expect(skipBaselineCompiler([], '--max-semi-space-size=2')).toBe(true);
  });

  it('releaseStartupGarbage runs one full collection and leaves no global gc behind', async () => {
    const hadGc = typeof (globalThis as { gc?: unknown }).gc;
    const majors: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e.detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(e.startTime);
    });
    obs.observe({ entryTypes: ['gc'] });
    releaseStartupGarbage();
    await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
    obs.disconnect();
    expect(majors.length).toBeGreaterThanOrEqual(1);
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe(hadGc);
  });
});

import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadBootstrapFile } from '../bootstrap.js';
import { checkSnapshot } from '../check.js';
import type { ConfigSnapshot } from '../resources.js';

const sample = fileURLToPath(new URL('../../../examples/bootstrap/http-one-hop.yaml', import.meta.url));

/** The sample's snapshot with its only cluster removed, as after a CDS push that dropped it. */
function withoutCluster(): ConfigSnapshot {
  const snap = loadBootstrapFile(sample).snapshot;
  const cluster = new Map(snap.resources.cluster);
  cluster.delete('backend');
  return { ...snap, resources: { ...snap.resources, cluster } };
}

describe('checkSnapshot cluster references', () => {
  it('refuses a route to a missing cluster by default (static config, Envoy validate_clusters)', () => {
    const issues = checkSnapshot(withoutCluster());
    expect(issues.map((i) => i.message)).toContain('cluster "backend" is not defined');
  });

  it('accepts it for xDS-delivered config, where the request gets 503 instead of the update a NACK', () => {
    expect(checkSnapshot(withoutCluster(), { validateClusters: false })).toEqual([]);
  });
});

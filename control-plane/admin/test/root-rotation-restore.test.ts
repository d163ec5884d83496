// An unfinished root rotation across a control-plane restart: what
// rotation-store.ts saves comes back, and RootRotation puts the CA back in
// the phase the mesh had confirmed (bundle and signer), resumable.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../../certs/ca.js';
import { generateCa, loadOrCreateCa } from '../../../certs/ca-store.js';
import { bundleFingerprints } from '../../../proxy/identity/trust-bundle.js';
import { RootRotation } from '../root-rotation.js';
import { loadSavedRotation, saveNextCa, saveProgress } from '../rotation-store.js';

const dir = mkdtempSync(join(tmpdir(), 'rotation-restore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function restartedWith(done: string[]) {
  const caDir = join(dir, done.join('-') || 'none');
  const old = await loadOrCreateCa({ stateDir: caDir, trustDomain: 'cluster.local', intermediate: true });
  const next = await generateCa({ trustDomain: 'cluster.local', intermediate: true });
  await saveNextCa(caDir, next);
  await saveProgress(caDir, done);
  // The restart: the CA loads its files as before, the saved rotation comes back from disk.
  const ca = new CertificateAuthority(await loadOrCreateCa({ stateDir: caDir, trustDomain: 'cluster.local', intermediate: true }));
  const saved = (await loadSavedRotation(caDir))!;
  const rotation = new RootRotation({ ca, trustDomain: 'cluster.local', caDir, proxies: () => [], published: () => undefined, workloads: () => [], republish: () => {}, restored: saved });
  return { ca, rotation, old, next, saved, caDir };
}

describe('an unfinished rotation after a restart', () => {
  it('the saved new CA loads back whole (same root, same intermediate, its key signs)', async () => {
    const { saved, next } = await restartedWith(['generate']);
    expect(saved.done).toEqual(['generate']);
    expect(saved.next.material.rootsPem).toEqual(next.material.rootsPem);
    expect(saved.next.material.intermediatesPem).toEqual(next.material.intermediatesPem);
  });

  it('after overlap: the bundle is old+new again and the old root still signs', async () => {
    const { ca, rotation, old, next } = await restartedWith(['generate', 'overlap']);
    expect(bundleFingerprints(ca.trustBundlePem)).toEqual([...bundleFingerprints(old.rootsPem[0]!), ...bundleFingerprints(next.material.rootsPem[0]!)]);
    expect(ca.currentMaterial.intermediatesPem).toEqual(old.intermediatesPem);
    const st = rotation.status();
    expect(st.state).toBe('failed');
    expect(st.steps.map((s) => s.state)).toEqual(['done', 'done', 'pending', 'pending', 'pending', 'pending']);
    expect(st.error).toBe('the control plane restarted during the rotation; it is back at step 3/6 with the same new root — run meshctl certs rotate-root to resume');
  });

  it('after switch: the new root signs and the bundle is new+old', async () => {
    const { ca, old, next, saved } = await restartedWith(['generate', 'overlap', 'switch']);
    expect(ca.currentMaterial).toBe(saved.next.material);
    expect(ca.currentMaterial.intermediatesPem).toEqual(next.material.intermediatesPem);
    expect(bundleFingerprints(ca.trustBundlePem)).toEqual([...bundleFingerprints(next.material.rootsPem[0]!), ...bundleFingerprints(old.rootsPem[0]!)]);
  });

  it('after drop-old: only the new root is trusted', async () => {
    const { ca, next } = await restartedWith(['generate', 'overlap', 'switch', 'reissue', 'drop-old']);
    expect(bundleFingerprints(ca.trustBundlePem)).toEqual(bundleFingerprints(next.material.rootsPem[0]!));
  });

  it('a damaged state file is refused with its path', async () => {
    const caDir = join(dir, 'damaged');
    await loadOrCreateCa({ stateDir: caDir, trustDomain: 'cluster.local', intermediate: true });
    writeFileSync(join(caDir, 'rotation.json'), '{"format":2}');
    await expect(loadSavedRotation(caDir)).rejects.toThrow(`${join(caDir, 'rotation.json')}: not a root rotation state (want { "format": 1, "done": [step, …] })`);
  });
});

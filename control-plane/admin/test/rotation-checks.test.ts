// The root rotation's checks: the bundle receipt (who runs the new trust
// bundle, who refused it, who is pending) and persisting the new CA.

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CA_FILES, generateCa, loadOrCreateCa } from '../../../certs/ca-store.js';
import { bundleReceipt, persistNewCa } from '../rotation-checks.js';
import type { ProxyStatus } from '../types.js';

const proxy = (nodeId: string, secret: ProxyStatus['types']['secret']): ProxyStatus => ({ nodeId, service: 's', namespace: 'default', connectedAt: 0, types: { ...(secret ? { secret } : {}) } });

describe('bundleReceipt', () => {
  const published = (m: Record<string, { secretVersion: string; bundle: string }>) => (id: string) => m[id];

  it('counts a proxy as reached only once it ACKed the secret version carrying this bundle', () => {
    const r = bundleReceipt(
      'NEW',
      [
        proxy('acked', { sentVersion: 'v2', ackedVersion: 'v2' }),
        proxy('sent-not-acked', { sentVersion: 'v2', ackedVersion: 'v1' }),
        proxy('old-bundle-published', { sentVersion: 'v1', ackedVersion: 'v1' }),
        proxy('nacked', { sentVersion: 'v2', ackedVersion: 'v1', nack: { version: 'v2', error: 'bad PEM', at: 1 } }),
        proxy('no-config', undefined),
      ],
      published({
        acked: { secretVersion: 'v2', bundle: 'NEW' },
        'sent-not-acked': { secretVersion: 'v2', bundle: 'NEW' },
        'old-bundle-published': { secretVersion: 'v1', bundle: 'OLD' },
        nacked: { secretVersion: 'v2', bundle: 'NEW' },
      }),
    );
    expect(r).toEqual({ total: 4, reached: 1, pending: ['sent-not-acked', 'old-bundle-published'], nacked: ['nacked: bad PEM'], skipped: ['no-config'] });
  });

  it('an old NACK of an earlier version does not count against the new bundle', () => {
    const r = bundleReceipt('NEW', [proxy('p', { sentVersion: 'v3', ackedVersion: 'v3', nack: { version: 'v2', error: 'x', at: 1 } })], published({ p: { secretVersion: 'v3', bundle: 'NEW' } }));
    expect(r.reached).toBe(1);
    expect(r.nacked).toEqual([]);
  });
});

describe('persistNewCa', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rotation-persist-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('moves the old CA files aside, writes the new ones (keys 0600), leaves the token key, and the next load uses the new root', async () => {
    const caDir = join(dir, 'ca');
    const old = await loadOrCreateCa({ stateDir: caDir, trustDomain: 'cluster.local', intermediate: true });
    writeFileSync(join(caDir, 'token-hmac.key'), 'k', { mode: 0o600 });
    const next = await generateCa({ trustDomain: 'cluster.local', intermediate: true });
    const retired = await persistNewCa(caDir, next, Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(retired).toBe(join(caDir, 'retired-2026-01-02T03-04-05-000Z'));
    expect(readdirSync(retired).sort()).toEqual(Object.values(CA_FILES).sort());
    expect(readFileSync(join(retired, 'root-cert.pem'), 'utf8')).toBe(old.rootsPem[0]);
    expect(statSync(retired).mode & 0o777).toBe(0o700);
    expect(statSync(join(caDir, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(caDir, 'root-key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(caDir, 'token-hmac.key'), 'utf8')).toBe('k');
    const loaded = await loadOrCreateCa({ stateDir: caDir, trustDomain: 'cluster.local', intermediate: true });
    expect(loaded.rootsPem).toEqual(next.material.rootsPem);
    expect(loaded.intermediatesPem).toEqual(next.material.intermediatesPem);
  });
});

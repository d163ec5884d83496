import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { CallerAuthError } from '../auth-error.js';
import { BootstrapTokenAuthenticator, loadOrCreateTokenKey, mintBootstrapToken, verifyBootstrapToken } from '../bootstrap-token.js';
import { PerCallerRateLimiter } from '../rate-limit.js';

const key = Buffer.alloc(32, 1);
let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bootstrap tokens', () => {
  it('bind trust domain, namespace and service account until they expire', () => {
    const clock = new ManualClock(1_800_000_000_000);
    const t = mintBootstrapToken({ key, trustDomain: 'td.local', namespace: 'shop', serviceAccount: 'cart', ttlMs: 60_000, clock });
    expect(verifyBootstrapToken(t, key, clock)).toBe('spiffe://td.local/ns/shop/sa/cart');
    clock.advance(59_999);
    expect(verifyBootstrapToken(t, key, clock)).toBe('spiffe://td.local/ns/shop/sa/cart');
    clock.advance(1);
    expect(() => verifyBootstrapToken(t, key, clock)).toThrow(/expired at 2027-01-15T08:01:00.000Z/);
  });

  it('the authenticator, which remembers verified tokens, still refuses one once it expires, and edited ones', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const auth = new BootstrapTokenAuthenticator(key, 'td.local', clock);
    const t = mintBootstrapToken({ key, trustDomain: 'td.local', namespace: 'shop', serviceAccount: 'cart', ttlMs: 60_000, clock });
    expect(await auth.authenticate(t)).toBe('spiffe://td.local/ns/shop/sa/cart');
    const [, payload, sig] = t.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const edited = `tsmesh1.${Buffer.from(JSON.stringify({ ...claims, sa: 'admin' })).toString('base64url')}.${sig}`;
    await expect(auth.authenticate(edited)).rejects.toThrow(/signature is invalid/);
    clock.advance(59_999);
    expect(await auth.authenticate(t)).toBe('spiffe://td.local/ns/shop/sa/cart');
    clock.advance(1);
    await expect(auth.authenticate(t)).rejects.toThrow(/expired at 2027-01-15T08:01:00.000Z/);
    const other = mintBootstrapToken({ key, trustDomain: 'other.local', namespace: 'shop', serviceAccount: 'cart', clock });
    await expect(auth.authenticate(other)).rejects.toThrow(/another trust domain/);
  });

  it('refuses edited claims, other keys and garbage', () => {
    const t = mintBootstrapToken({ key, trustDomain: 'td.local', namespace: 'shop', serviceAccount: 'cart' });
    const [, payload, sig] = t.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const edited = `tsmesh1.${Buffer.from(JSON.stringify({ ...claims, sa: 'admin' })).toString('base64url')}.${sig}`;
    expect(() => verifyBootstrapToken(edited, key)).toThrow(/signature is invalid/);
    expect(() => verifyBootstrapToken(t, Buffer.alloc(32, 2))).toThrow(CallerAuthError);
    for (const bad of ['', 'tsmesh1.', 'tsmesh1.abc', 'Bearer x', 'tsmesh1.' + 'a'.repeat(5000)]) {
      expect(() => verifyBootstrapToken(bad, key), bad.slice(0, 20)).toThrow(CallerAuthError);
    }
    expect(() => mintBootstrapToken({ key, trustDomain: 'TD', namespace: 'a', serviceAccount: 'b' })).toThrow(/lowercase/);
    expect(() => mintBootstrapToken({ key: Buffer.alloc(8), trustDomain: 'td', namespace: 'a', serviceAccount: 'b' })).toThrow(/32 bytes/);
  });

  it('keeps its HMAC key in the state dir, 0600, the same across restarts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsmesh-tok-'));
    const a = await loadOrCreateTokenKey(join(dir, 'ca'));
    expect((await stat(join(dir, 'ca', 'token-hmac.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'ca'))).mode & 0o777).toBe(0o700);
    expect((await loadOrCreateTokenKey(join(dir, 'ca'))).equals(a)).toBe(true);
  });
});

describe('PerCallerRateLimiter', () => {
  it('allows a burst, then refills at the configured rate, per caller', () => {
    const clock = new ManualClock();
    const rl = new PerCallerRateLimiter({ burst: 2, perSecond: 0.5, clock });
    expect([rl.tryTake('a'), rl.tryTake('a'), rl.tryTake('a')]).toEqual([true, true, false]);
    expect(rl.tryTake('b')).toBe(true);
    clock.advance(1999);
    expect(rl.tryTake('a')).toBe(false);
    clock.advance(1);
    expect(rl.tryTake('a')).toBe(true);
    expect(rl.tryTake('a')).toBe(false);
  });

  it('forgets the oldest caller beyond maxCallers (bounded memory)', () => {
    const rl = new PerCallerRateLimiter({ burst: 1, perSecond: 0, maxCallers: 2, clock: new ManualClock() });
    expect(rl.tryTake('a')).toBe(true);
    expect(rl.tryTake('b')).toBe(true);
    expect(rl.tryTake('c')).toBe(true); // evicts a
    expect(rl.tryTake('b')).toBe(false);
    expect(rl.tryTake('a')).toBe(true); // a starts afresh
  });
});

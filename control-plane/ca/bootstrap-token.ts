// Local mode: per-workload bootstrap tokens, HMAC-SHA256 signed by the CA,
// binding trust domain, namespace and service account, with an expiry.
// Format: `tsmesh1.<base64url(JSON claims)>.<base64url(HMAC(key, "tsmesh1." + claims))>`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { formatWorkloadId } from '../../certs/spiffe.js';
import { CallerAuthError, type CallerAuthenticator } from './auth-error.js';

const PREFIX = 'tsmesh1.';
export const MAX_TOKEN_LENGTH = 4096;
export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;
export const TOKEN_KEY_FILE = 'token-hmac.key';

export interface TokenClaims {
  td: string;
  ns: string;
  sa: string;
  /** Expiry, unix seconds. */
  exp: number;
  iat: number;
}

export interface MintOptions {
  key: Buffer;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  ttlMs?: number;
  clock?: Clock;
}

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(PREFIX).update(payload).digest();
}

/** Mints a bootstrap token (what `meshctl token create` prints). */
export function mintBootstrapToken(o: MintOptions): string {
  formatWorkloadId(o.trustDomain, o.namespace, o.serviceAccount); // validates the parts
  if (o.key.length < 32) throw new Error('token key must be at least 32 bytes');
  const now = (o.clock ?? systemClock).now();
  const claims: TokenClaims = {
    td: o.trustDomain,
    ns: o.namespace,
    sa: o.serviceAccount,
    iat: Math.floor(now / 1000),
    exp: Math.floor((now + (o.ttlMs ?? DEFAULT_TOKEN_TTL_MS)) / 1000),
  };
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${PREFIX}${payload}.${mac(o.key, payload).toString('base64url')}`;
}

/** Verifies a bootstrap token; returns the SPIFFE ID it binds or throws CallerAuthError. */
export function verifyBootstrapToken(token: string, key: Buffer, clock: Clock = systemClock): string {
  if (token.length > MAX_TOKEN_LENGTH) throw new CallerAuthError('bootstrap token too long');
  if (!token.startsWith(PREFIX)) throw new CallerAuthError('not a tsmesh bootstrap token');
  const rest = token.slice(PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot < 0) throw new CallerAuthError('malformed bootstrap token');
  const payload = rest.slice(0, dot);
  const sig = Buffer.from(rest.slice(dot + 1), 'base64url');
  const want = mac(key, payload);
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) throw new CallerAuthError('bootstrap token signature is invalid');
  let c: TokenClaims;
  try {
    c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
  } catch (err) {
    throw new CallerAuthError('bootstrap token claims are not JSON', { cause: err });
  }
  if (typeof c.exp !== 'number' || typeof c.td !== 'string' || typeof c.ns !== 'string' || typeof c.sa !== 'string') {
    throw new CallerAuthError('bootstrap token claims are incomplete');
  }
  if (clock.now() >= c.exp * 1000) throw new CallerAuthError(`bootstrap token expired at ${new Date(c.exp * 1000).toISOString()}`);
  try {
    return formatWorkloadId(c.td, c.ns, c.sa);
  } catch (err) {
    throw new CallerAuthError(`bootstrap token names an invalid identity: ${(err as Error).message}`, { cause: err });
  }
}

/** Verified tokens remembered (a workload renews with the same token every few hours; a restart storm repeats them). */
const VERIFIED_CACHE_SIZE = 1024;

export class BootstrapTokenAuthenticator implements CallerAuthenticator {
  /**
   * Token → identity and expiry, for tokens that verified: a repeat skips the HMAC and JSON work
   * (~20 µs of a certificate request's CPU) but not the expiry check. Insertion-ordered, oldest evicted.
   */
  private readonly verified = new Map<string, { id: string; expMs: number }>();

  constructor(
    private readonly key: Buffer,
    private readonly trustDomain: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async authenticate(token: string): Promise<string> {
    return this.authenticateSync(token);
  }

  authenticateSync(token: string): string {
    const hit = this.verified.get(token);
    if (hit) {
      if (this.clock.now() < hit.expMs) return hit.id;
      this.verified.delete(token);
    }
    const id = verifyBootstrapToken(token, this.key, this.clock);
    if (!id.startsWith(`spiffe://${this.trustDomain}/`)) throw new CallerAuthError(`bootstrap token is for another trust domain than ${this.trustDomain}`);
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { id, expMs: tokenExpiryMs(token) });
    return id;
  }
}

/** The `exp` claim of a token that verified, in ms. */
function tokenExpiryMs(token: string): number {
  const payload = token.slice(PREFIX.length, token.indexOf('.', PREFIX.length));
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims).exp * 1000;
}

/** The HMAC key in `stateDir` (0600), created on first use. */
export async function loadOrCreateTokenKey(stateDir: string): Promise<Buffer> {
  const path = join(stateDir, TOKEN_KEY_FILE);
  try {
    const k = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    if (k.length >= 32) return k;
    throw new Error(`${path} holds fewer than 32 bytes`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  const k = randomBytes(32);
  await writeFile(path, k.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return k;
}

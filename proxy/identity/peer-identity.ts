// The peer's SPIFFE ID, read from its certificate as parsed by node:crypto
// (cert-facts.ts: the SAN list with Node's unambiguous quoting, the CA flag).
// Facts are cached per certificate fingerprint so a connection from a known
// peer costs one Map lookup.
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { StringMatcher } from '../config/resources.js';
import { certFacts, type CertFacts } from './cert-facts.js';
import { parseSpiffeId } from '../../certs/spiffe.js';
import { compileAnyOf, type StringPredicate } from './string-matcher.js';

export type PeerCheck = { ok: true; spiffeId: string } | { ok: false; reason: string };

const MAX_CACHE = 4096;
const factsCache = new Map<string, CertFacts | Error>();

/** Certificate facts by SHA-256 fingerprint; bounded, oldest evicted first. */
export function certFactsFor(cert: X509Certificate): CertFacts | Error {
  const fingerprint256 = cert.fingerprint256;
  let f = factsCache.get(fingerprint256);
  if (f === undefined) {
    try {
      f = certFacts(cert);
    } catch (err) {
      f = err instanceof Error ? err : new Error(String(err));
    }
    if (factsCache.size >= MAX_CACHE) factsCache.delete(factsCache.keys().next().value!);
    factsCache.set(fingerprint256, f);
  }
  return f;
}

/** How many certificates are cached (for tests and the admin page). */
export function peerCacheSize(): number {
  return factsCache.size;
}

export interface PeerPolicy {
  /** Trust domains whose identities are accepted; empty = any. */
  allowedTrustDomains: readonly string[];
  /** Outbound: the SAN matchers of the cluster; inbound: allowed principals. Empty = any trusted identity. */
  matchSubjectAltNames: readonly StringMatcher[];
}

/** Checks the SPIFFE identity of a peer whose chain Node has already verified. Built once per policy. */
export class PeerIdentityVerifier {
  private readonly domains: ReadonlySet<string> | undefined;
  private readonly match: StringPredicate;

  constructor(policy: PeerPolicy) {
    this.domains = policy.allowedTrustDomains.length ? new Set(policy.allowedTrustDomains) : undefined;
    this.match = compileAnyOf(policy.matchSubjectAltNames);
  }

  /**
   * For an established TLSSocket: chain verified by Node (`authorized`) and
   * identity acceptable. `resumedIdentity` is the identity verified on the
   * full handshake of a resumed client session (TlsSessionCache.identity).
   */
  verify(socket: TLSSocket, resumedIdentity?: string): PeerCheck {
    const cert = socket.getPeerX509Certificate();
    if (!socket.authorized) {
      if (!cert) return { ok: false, reason: 'peer presented no certificate' };
      return { ok: false, reason: `peer certificate not trusted: ${String(socket.authorizationError ?? 'unverified')}` };
    }
    if (!cert) {
      if (resumedIdentity !== undefined && socket.isSessionReused()) return this.checkId(resumedIdentity);
      return { ok: false, reason: 'peer presented no certificate' };
    }
    return this.check(certFactsFor(cert));
  }

  check(f: CertFacts | Error): PeerCheck {
    if (f instanceof Error) return { ok: false, reason: `peer certificate cannot be parsed: ${f.message}` };
    if (f.isCa) return { ok: false, reason: 'peer leaf certificate is a CA (basicConstraints cA=true)' };
    if (f.uriSans.length !== 1) return { ok: false, reason: `peer certificate has ${f.uriSans.length} URI SANs, exactly one is required` };
    return this.checkId(f.uriSans[0]!);
  }

  /** Trust domain and SAN matchers for an already-extracted SPIFFE ID. */
  checkId(uri: string): PeerCheck {
    let td: string;
    try {
      td = parseSpiffeId(uri).trustDomain;
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    if (this.domains && !this.domains.has(td)) return { ok: false, reason: `peer trust domain ${td} is not allowed` };
    if (!this.match(uri)) return { ok: false, reason: `peer identity ${uri} does not match the expected subject alt names` };
    return { ok: true, spiffeId: uri };
  }
}

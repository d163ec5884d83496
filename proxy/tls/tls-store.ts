// Secrets (static ones from the config, runtime ones from the identity
// manager) and the TLS contexts built from them. Secure contexts are costly
// (~1.6 ms each): each is built once per secret version and reused.

import type { SecureContext, TlsOptions, SecureContextOptions } from 'node:tls';
import { tls } from '../lazy-builtins.js';
import type { DownstreamTlsContext, Secret, UpstreamTlsContext } from '../config/resources.js';
import type { PoolSettings } from '../upstream/endpoint-pools.js';
import { PeerIdentityVerifier } from '../identity/peer-identity.js';
import { MESH_CIPHER_OPTIONS } from './mesh-defaults.js';
import { DnsNameVerifier, type UpstreamVerifier } from '../identity/dns-name-verifier.js';
import { isRootsName, loadRoots } from './file-roots.js';

export class TlsStore {
  constructor(private readonly warn: (msg: string, fields: Record<string, unknown>) => void = () => {}) {}

  private configSecrets = new Map<string, Secret>();
  private runtimeSecrets = new Map<string, Secret>();
  private versions = new Map<string, number>();
  private contexts = new Map<string, SecureContext>();
  private verifiers = new Map<string, UpstreamVerifier>();

  /** Secrets from a new snapshot; returns true when any secret changed. */
  setConfigSecrets(secrets: ReadonlyMap<string, Secret>): boolean {
    let changed = false;
    for (const [name, s] of secrets) if (this.configSecrets.get(name) !== s) changed = this.bump(name) || changed;
    for (const name of this.configSecrets.keys()) if (!secrets.has(name)) changed = this.bump(name) || changed;
    this.configSecrets = new Map(secrets);
    // Files named by file-root: are read again under the new config (a rotated mount takes effect); only a
    // changed bundle gets a new version, so unchanged clusters keep their TLS context and pooled connections.
    for (const [name, old] of this.fileRoots) {
      const now = loadRoots(name);
      this.fileRoots.set(name, now);
      const pem = (r: Secret | Error) => (r instanceof Error ? undefined : r.validationContext?.trustedCa);
      if (pem(now) !== pem(old)) changed = this.bump(name) || changed;
      if (now instanceof Error && !(old instanceof Error)) this.warn('TLS roots unavailable; clusters that need them have no hosts', { roots: name, error: now.message });
    }
    return changed;
  }

  /** A secret pushed at runtime (workload certificate `default`, trust bundle `ROOTCA`); it wins over config. */
  updateSecret(secret: Secret): void {
    this.runtimeSecrets.set(secret.name, secret);
    this.bump(secret.name);
  }

  get(name: string): Secret | undefined {
    return this.runtimeSecrets.get(name) ?? this.configSecrets.get(name) ?? this.roots(name);
  }

  /** `file-root:<path>` and `system-roots`, read once per configuration (a new config reads the files again). */
  private fileRoots = new Map<string, Secret | Error>();

  private roots(name: string): Secret | undefined {
    if (!isRootsName(name)) return undefined;
    let r = this.fileRoots.get(name);
    if (r === undefined) {
      r = loadRoots(name);
      this.fileRoots.set(name, r);
      if (!(r instanceof Error)) this.bump(name);
      // Its clusters get no hosts (503 UH): say why (again only if a later re-read fails anew).
      else this.warn('TLS roots unavailable; clusters that need them have no hosts', { roots: name, error: r.message });
    }
    return r instanceof Error ? undefined : r;
  }


  private bump(name: string): boolean {
    this.versions.set(name, (this.versions.get(name) ?? 0) + 1);
    return true;
  }

  /** Context key: changes whenever a secret the context uses changes. */
  private key(...names: (string | undefined)[]): string {
    return names.map((n) => (n ? `${n}@${this.versions.get(n) ?? 0}` : '-')).join('|');
  }

  /**
   * Server-side TLS options for a filter chain (for createSecureServer and
   * setSecureContext), or undefined while its certificate is missing. `key`
   * changes exactly when the material does, so callers swap only then.
   */
  downstream(t: DownstreamTlsContext): { key: string; options: TlsOptions } | undefined {
    const cert = this.get(t.certificateSecret)?.tlsCertificate;
    if (!cert) return undefined;
    const ca = t.validationSecret ? this.get(t.validationSecret)?.validationContext?.trustedCa : undefined;
    const key = `down|${this.key(t.certificateSecret, t.validationSecret)}|${t.params.minVersion}|${t.requireClientCertificate}`;
    return {
      key,
      options: {
        cert: cert.certificateChain,
        key: cert.privateKey,
        ...(ca ? { ca } : {}),
        minVersion: t.params.minVersion,
        ...MESH_CIPHER_OPTIONS,
        requestCert: t.requireClientCertificate || ca !== undefined,
        rejectUnauthorized: t.requireClientCertificate,
      },
    };
  }

  /** What an upstream pool needs to originate TLS, or undefined while the trust bundle is missing. */
  upstream(t: UpstreamTlsContext): PoolSettings['tls'] {
    const ca = this.get(t.validationSecret)?.validationContext?.trustedCa;
    if (!ca) return undefined;
    const cert = t.certificateSecret ? this.get(t.certificateSecret)?.tlsCertificate : undefined;
    const web = t.matchDnsSubjectAltNames !== undefined && t.matchDnsSubjectAltNames.length > 0;
    const key = `up|${this.key(t.certificateSecret, t.validationSecret)}|${t.params.minVersion}|${web ? 'web' : 'mesh'}`;
    // A server outside the mesh gets Node's default cipher list: the mesh's narrower one is for peers we run.
    const context = this.context(key, { ca, ...(cert ? { cert: cert.certificateChain, key: cert.privateKey } : {}), minVersion: t.params.minVersion, ...(web ? {} : MESH_CIPHER_OPTIONS) });
    const sans = web ? `dns:${JSON.stringify(t.matchDnsSubjectAltNames)}` : JSON.stringify(t.matchSubjectAltNames);
    let verifier = this.verifiers.get(sans);
    if (!verifier) {
      verifier = web ? new DnsNameVerifier(t.matchDnsSubjectAltNames!) : new PeerIdentityVerifier({ allowedTrustDomains: [], matchSubjectAltNames: t.matchSubjectAltNames });
      this.verifiers.set(sans, verifier);
    }
    return {
      secureContext: context,
      alpn: t.alpnProtocols.length ? t.alpnProtocols : ['h2', 'http/1.1'],
      key: `${key}|${sans}`,
      verifier,
      ...(t.sni ? { servername: t.sni } : {}),
    };
  }

  private context(key: string, opts: SecureContextOptions): SecureContext {
    let c = this.contexts.get(key);
    if (!c) {
      c = tls().createSecureContext(opts);
      this.contexts.set(key, c);
      if (this.contexts.size > 256) this.contexts.delete(this.contexts.keys().next().value!);
    }
    return c;
  }
}

// The signer: issues SPIFFE X.509-SVIDs from checked CSRs. Loading and
// persisting the CA's own key material lives in ca-store.ts.
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { EC_SIGN_ALG, type KeyPair, generateKeyPair, privateKeyToPem, randomSerialHex, x509 } from './crypto.js';
import { CaMaterialError, CsrRejectedError } from './errors.js';
import { checkCsrSync } from './csr.js';
import { LeafSigner } from './leaf-signer.js';

export const DEFAULT_WORKLOAD_TTL_MS = 24 * 3600_000;
export const DEFAULT_MAX_WORKLOAD_TTL_MS = 90 * 24 * 3600_000; // Istio's max workload cert TTL
/** notBefore is set this far in the past so peers with slightly slow clocks accept a fresh cert. */
export const CLOCK_SKEW_BACKDATE_MS = 5 * 60_000;

/** The CA's signing certificate and key, its chain up to (excluding) the root, and the roots to distribute. */
export interface CaMaterial {
  signingCert: x509.X509Certificate;
  signingKeys: KeyPair;
  /** Intermediates between the signing cert and the root, signing cert first (PEM); empty when the root signs. */
  intermediatesPem: string[];
  /** Trusted roots, PEM (the active root first). */
  rootsPem: string[];
}

export interface CaOptions {
  clock?: Clock;
  defaultTtlMs?: number;
  maxTtlMs?: number;
}

export interface IssuedCertificate {
  /** Leaf then intermediates, PEM (what a TLS server/client presents). */
  certChainPem: string;
  /** All roots the workload must trust, PEM. */
  trustBundlePem: string;
  spiffeId: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

export class CertificateAuthority {
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  private readonly clock: Clock;
  private extraRootsPem: string[] = [];

  constructor(
    private material: CaMaterial,
    opts: CaOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.defaultTtlMs = opts.defaultTtlMs ?? DEFAULT_WORKLOAD_TTL_MS;
    this.maxTtlMs = opts.maxTtlMs ?? DEFAULT_MAX_WORKLOAD_TTL_MS;
    if (!(this.defaultTtlMs > 0 && this.defaultTtlMs <= this.maxTtlMs)) {
      throw new CaMaterialError(`default TTL ${this.defaultTtlMs}ms must be > 0 and ≤ the maximum ${this.maxTtlMs}ms`);
    }
  }

  private signer: { material: CaMaterial; signer: Promise<LeafSigner> } | undefined;
  /** Issuer name, fixed extensions and the signing key of `material`, encoded/imported once (see leaf-signer.ts). */
  private leafSigner(material: CaMaterial): Promise<LeafSigner> {
    if (this.signer?.material === material) return this.signer.signer;
    const signer = LeafSigner.create(material);
    this.signer = { material, signer };
    signer.catch(() => {
      if (this.signer?.signer === signer) this.signer = undefined;
    });
    return signer;
  }

  /** PEM bundle of every root workloads must trust (active + any set for a rotation overlap). */
  get trustBundlePem(): string {
    return [...this.material.rootsPem, ...this.extraRootsPem].join('');
  }

  /** Roots distributed in addition to the CA's own, e.g. the old or next root during a rotation. */
  setAdditionalTrustedRoots(pems: string[]): void {
    this.extraRootsPem = pems.map((p) => (p.endsWith('\n') ? p : p + '\n'));
  }

  /** The signing material in use (a root rotation reads the old one before switching). */
  get currentMaterial(): CaMaterial {
    return this.material;
  }

  /** Root rotation's switch: sign with other material from now on (certificates already issued stay valid). */
  replaceMaterial(material: CaMaterial): void {
    this.material = material;
    this.signer = undefined;
  }

  /** Checks `csrPem` against `spiffeId` (the caller's proven identity) and signs it. */
  async issueWorkloadCertificate(csrPem: string, spiffeId: string, ttlMs?: number): Promise<IssuedCertificate> {
    const ttl = ttlMs === undefined || ttlMs === 0 ? this.defaultTtlMs : ttlMs;
    if (!Number.isFinite(ttl) || ttl < 0) throw new CsrRejectedError('MESH_CSR_INVALID', `requested TTL ${ttlMs}ms is not a positive duration`);
    if (ttl > this.maxTtlMs) {
      throw new CsrRejectedError('MESH_CSR_TTL_TOO_LONG', `requested TTL ${ttl}ms exceeds the CA maximum ${this.maxTtlMs}ms`);
    }
    const { spkiDer } = checkCsrSync(csrPem, spiffeId);
    // One material for the whole issuance, even if a rotation switches it meanwhile.
    const material = this.material;
    const signer = await this.leafSigner(material);
    const now = this.clock.now();
    const caNotAfter = material.signingCert.notAfter.getTime();
    if (caNotAfter <= now) {
      throw new CaMaterialError(`the CA signing certificate expired at ${material.signingCert.notAfter.toISOString()}`);
    }
    const notBefore = new Date(now - CLOCK_SKEW_BACKDATE_MS);
    // Never outlive the signing certificate.
    const notAfter = new Date(Math.min(now + ttl, caNotAfter));
    const leaf = signer.sign({ spkiDer, spiffeId, notBefore, notAfter });
    const serialNumber = leaf.serialNumber;
    return {
      certChainPem: [leaf.pem + '\n', ...material.intermediatesPem].join(''),
      trustBundlePem: this.trustBundlePem,
      spiffeId,
      serialNumber,
      notBefore,
      notAfter,
    };
  }

  /**
   * A serving certificate for the CA's own gRPC endpoint (DNS/IP SANs, serverAuth),
   * with a key generated here. Not a SPIFFE SVID.
   */
  async issueServingCertificate(opts: { dnsNames: string[]; ipAddresses?: string[]; ttlMs?: number }): Promise<{
    certChainPem: string;
    privateKeyPem: string;
  }> {
    const keys = await generateKeyPair();
    const now = this.clock.now();
    const names = [
      ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerialHex(),
      subject: `CN=${opts.dnsNames[0] ?? 'tsmesh-ca'}`,
      issuer: this.material.signingCert.subject,
      notBefore: new Date(now - CLOCK_SKEW_BACKDATE_MS),
      notAfter: new Date(Math.min(now + (opts.ttlMs ?? 365 * 24 * 3600_000), this.material.signingCert.notAfter.getTime())),
      publicKey: keys.publicKey as never,
      signingKey: this.material.signingKeys.privateKey as never,
      signingAlgorithm: EC_SIGN_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(names, false),
      ],
    });
    return {
      certChainPem: [cert.toString('pem') + '\n', ...this.material.intermediatesPem].join(''),
      privateKeyPem: privateKeyToPem(keys.privateKey),
    };
  }
}

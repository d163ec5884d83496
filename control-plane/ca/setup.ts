// One call that assembles the CA for mesh-control-plane: key material
// (state dir, bring-your-own files, or already loaded, e.g. from the
// Kubernetes Secret), caller authentication (local tokens or Kubernetes
// TokenReview), rate limit, and TLS credentials for the shared
// gRPC server, whose serving certificate the CA issues itself.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { CertificateAuthority, type CaMaterial } from '../../certs/ca.js';
import { loadCaFromFiles, loadOrCreateCa } from '../../certs/ca-store.js';
import { readCrossSignedRoot } from '../../certs/cross-sign.js';
import type { CallerAuthenticator } from './auth-error.js';
import { BootstrapTokenAuthenticator, loadOrCreateTokenKey } from './bootstrap-token.js';
import { PerCallerRateLimiter } from './rate-limit.js';
import { addCertificateService } from './service.js';
import { TokenReviewAuthenticator, type TokenReviewOptions } from './token-review.js';

export interface CaSetupOptions {
  trustDomain: string;
  /** The CA's files live in `<stateDir>/ca` (0700). */
  stateDir: string;
  intermediate?: boolean;
  /** Bring your own CA instead of creating one. */
  byo?: { certFile: string; keyFile: string; rootFile: string };
  /** CA material already loaded (Kubernetes mode: the `tsmesh-ca` Secret); wins over `byo` and the state dir. */
  material?: CaMaterial;
  auth: { mode: 'local' } | ({ mode: 'kubernetes' } & Omit<TokenReviewOptions, 'trustDomain'>);
  defaultTtlMs?: number;
  maxTtlMs?: number;
  /** Per authenticated caller; default burst 10, 0.5/s. */
  rateLimit?: { burst: number; perSecond: number };
  /** Per peer address before authentication; default burst 100, 20/s. */
  peerRateLimit?: { burst: number; perSecond: number };
  /** DNS names clients use to reach the control plane (its serving certificate's SANs). */
  dnsNames?: string[];
  clock?: Clock;
  logger?: Logger;
}

export interface CaSetup {
  ca: CertificateAuthority;
  /** Roots clients trust (for the sidecar's --ca-root file). */
  rootPem: string;
  /** HMAC key for `meshctl token create` (local mode). */
  tokenKey?: Buffer;
  authenticator: CallerAuthenticator;
  /** TLS credentials for the shared grpc.Server (pass as ControlPlaneOptions.credentials). */
  credentials: grpc.ServerCredentials;
  /** A ServicePlugin: `services: [setup.plugin]`. */
  plugin: (server: grpc.Server) => void;
}

export async function setupCa(o: CaSetupOptions): Promise<CaSetup> {
  const caDir = join(o.stateDir, 'ca');
  const material = o.material
    ? o.material
    : o.byo
    ? await loadCaFromFiles(o.byo)
    : await loadOrCreateCa({ stateDir: caDir, trustDomain: o.trustDomain, intermediate: o.intermediate ?? false, ...(o.clock ? { clock: o.clock } : {}) });
  const ca = new CertificateAuthority(material, {
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.defaultTtlMs ? { defaultTtlMs: o.defaultTtlMs } : {}),
    ...(o.maxTtlMs ? { maxTtlMs: o.maxTtlMs } : {}),
  });
  let tokenKey: Buffer | undefined;
  let authenticator: CallerAuthenticator;
  if (o.auth.mode === 'local') {
    tokenKey = await loadOrCreateTokenKey(caDir);
    authenticator = new BootstrapTokenAuthenticator(tokenKey, o.trustDomain, o.clock);
  } else {
    const { mode: _mode, ...tr } = o.auth;
    authenticator = new TokenReviewAuthenticator({ ...tr, trustDomain: o.trustDomain });
  }
  const serving = await ca.issueServingCertificate({ dnsNames: o.dnsNames ?? ['localhost', 'tsmesh-control-plane'], ipAddresses: ['127.0.0.1', '::1'] });
  // After a root rotation, sidecars started before it still trust only the old root for this connection:
  // the new root cross-signed by the old one (left in the CA dir by the rotation) completes their chain.
  const cross = o.material || o.byo ? undefined : await readCrossSignedRoot(caDir, material.rootsPem[0]);
  const credentials = grpc.ServerCredentials.createSsl(null, [
    { cert_chain: Buffer.from(serving.certChainPem + (cross ?? '')), private_key: Buffer.from(serving.privateKeyPem) },
  ]);
  const rateLimiter = new PerCallerRateLimiter({ ...(o.rateLimit ?? { burst: 10, perSecond: 0.5 }), ...(o.clock ? { clock: o.clock } : {}) });
  const peerRateLimiter = new PerCallerRateLimiter({ ...(o.peerRateLimit ?? { burst: 100, perSecond: 20 }), ...(o.clock ? { clock: o.clock } : {}) });
  return {
    ca,
    rootPem: material.rootsPem.join(''),
    ...(tokenKey ? { tokenKey } : {}),
    authenticator,
    credentials,
    plugin: (server) => addCertificateService(server, { ca, authenticator, rateLimiter, peerRateLimiter, ...(o.logger ? { logger: o.logger } : {}) }),
  };
}

// tsmesh.ca.v1.CertificateService: authenticate the caller, rate-limit per
// caller, check the CSR against the caller's identity, sign. Every refusal
// carries one precise gRPC status.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import type { CertificateAuthority } from '../../certs/ca.js';
import { CaMaterialError, CsrRejectedError, type CsrRejectCode } from '../../certs/errors.js';
import { certificateServiceDefinition, type CreateCertificateRequest, type CreateCertificateResponse } from '../../certs/ca-proto.js';
import { CallerAuthError, type CallerAuthenticator } from './auth-error.js';
import type { PerCallerRateLimiter } from './rate-limit.js';

export interface CertificateServiceDeps {
  ca: CertificateAuthority;
  authenticator: CallerAuthenticator;
  /** Per authenticated caller (SPIFFE ID). */
  rateLimiter?: PerCallerRateLimiter;
  /** Per peer address, before authentication: bounds token guessing and TokenReview calls. */
  peerRateLimiter?: PerCallerRateLimiter;
  logger?: Logger;
  /** Called after each decision (for metrics). */
  onResult?: (result: 'issued' | 'refused', code: grpc.status) => void;
}

const CSR_STATUS: Record<CsrRejectCode, grpc.status> = {
  MESH_CSR_INVALID: grpc.status.INVALID_ARGUMENT,
  MESH_CSR_BAD_SIGNATURE: grpc.status.INVALID_ARGUMENT,
  MESH_CSR_TTL_TOO_LONG: grpc.status.INVALID_ARGUMENT,
  MESH_CSR_IDENTITY_MISMATCH: grpc.status.PERMISSION_DENIED,
};

const MAX_VALIDITY_SECONDS = 10 * 365 * 24 * 3600;

function bearer(md: grpc.Metadata): string | undefined {
  const v = md.get('authorization');
  if (v.length !== 1 || typeof v[0] !== 'string') return undefined;
  const m = /^Bearer +(\S+)$/i.exec(v[0]);
  return m?.[1];
}

/** "ipv4:10.0.0.1:5000" / "ipv6:[::1]:5000" → the address without the port. */
function peerHost(peer: string): string {
  const i = peer.lastIndexOf(':');
  return i > 0 ? peer.slice(0, i) : peer;
}

class Refusal extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export function addCertificateService(server: grpc.Server, deps: CertificateServiceDeps): void {
  const log = deps.logger ?? silentLogger;
  const create = async (call: grpc.ServerUnaryCall<CreateCertificateRequest, CreateCertificateResponse>): Promise<CreateCertificateResponse> => {
    if (deps.peerRateLimiter && !deps.peerRateLimiter.tryTake(peerHost(call.getPeer()))) {
      throw new Refusal(grpc.status.RESOURCE_EXHAUSTED, 'too many certificate requests from this address; retry later');
    }
    const token = bearer(call.metadata);
    if (!token) throw new Refusal(grpc.status.UNAUTHENTICATED, 'missing "authorization: Bearer <token>" metadata');
    let caller: string;
    try {
      caller = await deps.authenticator.authenticate(token);
    } catch (err) {
      if (err instanceof CallerAuthError) throw new Refusal(grpc.status.UNAUTHENTICATED, err.message);
      throw err;
    }
    if (deps.rateLimiter && !deps.rateLimiter.tryTake(caller)) {
      throw new Refusal(grpc.status.RESOURCE_EXHAUSTED, `certificate requests from ${caller} are rate limited; retry later`);
    }
    const secs = Number(call.request.validitySeconds || '0');
    if (!Number.isSafeInteger(secs) || secs < 0 || secs > MAX_VALIDITY_SECONDS) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, `validity_seconds ${call.request.validitySeconds} is out of range`);
    }
    try {
      const out = await deps.ca.issueWorkloadCertificate(call.request.csrPem, caller, secs * 1000);
      log.info('issued workload certificate', { spiffeId: caller, serial: out.serialNumber, notAfter: out.notAfter.toISOString() });
      return { certChainPem: out.certChainPem, trustBundlePem: out.trustBundlePem, notAfterUnixMs: String(out.notAfter.getTime()) };
    } catch (err) {
      if (err instanceof CsrRejectedError) throw new Refusal(CSR_STATUS[err.code], `${err.code}: ${err.message}`);
      if (err instanceof CaMaterialError) throw new Refusal(grpc.status.FAILED_PRECONDITION, `${err.code}: ${err.message}`);
      throw err;
    }
  };

  server.addService(certificateServiceDefinition().service, {
    CreateCertificate(
      call: grpc.ServerUnaryCall<CreateCertificateRequest, CreateCertificateResponse>,
      cb: grpc.sendUnaryData<CreateCertificateResponse>,
    ) {
      create(call).then(
        (res) => {
          deps.onResult?.('issued', grpc.status.OK);
          cb(null, res);
        },
        (err: unknown) => {
          const code = err instanceof Refusal ? err.code : grpc.status.INTERNAL;
          const details = err instanceof Refusal ? err.message : 'internal error while signing';
          if (!(err instanceof Refusal)) log.error('certificate service failure', { error: err as Error });
          else log.warn('refused certificate request', { code: grpc.status[code], details });
          deps.onResult?.('refused', code);
          cb({ code, details });
        },
      );
    },
  });
}

export interface CaServer {
  /** host:port the server listens on. */
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A standalone gRPC server over TLS with only the certificate service, its
 * serving certificate issued by `deps.ca` (clients trust `ca.trustBundlePem`).
 */
export async function startCaServer(
  deps: CertificateServiceDeps & { host?: string; port?: number; dnsNames?: string[] },
): Promise<CaServer> {
  const host = deps.host ?? '127.0.0.1';
  const serving = await deps.ca.issueServingCertificate({
    dnsNames: deps.dnsNames ?? ['localhost', 'tsmesh-ca'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  // channelz (grpc-js's per-call introspection, on by default and unused here) costs CPU on every RPC.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024, 'grpc.enable_channelz': 0 });
  addCertificateService(server, deps);
  const creds = grpc.ServerCredentials.createSsl(null, [
    { cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.privateKeyPem) },
  ]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${deps.port ?? 0}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000).unref();
      }),
  };
}

// The workload's gRPC client for tsmesh.ca.v1.CertificateService, over TLS
// with the CA's root read from a configured file — or over an existing
// channel: the sidecar's CA is its xDS server, and a certificate rotation
// hours after the last one on a channel of its own would pay a new TCP and TLS
// handshake (grpc-js drops an idle connection after 30 minutes), ~3 ms of the
// CA's CPU against ~0.3 ms for the RPC on the live ADS connection.
import * as grpc from '@grpc/grpc-js';
import { MeshError } from '../../common/errors.js';
import { certificateServiceDefinition, type CreateCertificateRequest, type CreateCertificateResponse } from '../../certs/ca-proto.js';

export interface CertificateSource {
  /** Sends a CSR; resolves with the chain and trust bundle or rejects (CaCallError). */
  requestCertificate(csrPem: string, ttlMs: number): Promise<{ certChainPem: string; trustBundlePem: string }>;
}

export class CaCallError extends MeshError {
  constructor(
    readonly grpcCode: grpc.status,
    message: string,
  ) {
    super('MESH_CA_CALL_FAILED', `certificate request failed (${grpc.status[grpcCode] ?? grpcCode}): ${message}`);
  }

  /** The CA was not reached (or did not answer in time), as opposed to a refusal of this request. */
  get unreachable(): boolean {
    return this.grpcCode === grpc.status.UNAVAILABLE || this.grpcCode === grpc.status.DEADLINE_EXCEEDED;
  }
}

export interface CaClientOptions {
  /** host:port of the CA. */
  address: string;
  /** PEM root(s) that sign the CA's serving certificate. */
  caRootPem: string;
  /**
   * Bootstrap or projected service-account token, read per call (it may be refreshed on disk).
   * Omit when `channel`'s credentials already send it.
   */
  token?: () => string;
  /** An open channel to the CA (the ADS channel) to send the RPCs on instead of a channel of its own. */
  channel?: ReturnType<grpc.Client['getChannel']>;
  /** TLS name to verify the CA as, when it differs from the address host. */
  serverName?: string;
  timeoutMs?: number;
}

type Client = grpc.Client & {
  CreateCertificate(
    req: CreateCertificateRequest,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: CreateCertificateResponse) => void,
  ): void;
};

export class CaClient implements CertificateSource {
  private readonly client: Client;
  constructor(private readonly o: CaClientOptions) {
    const Ctor = certificateServiceDefinition();
    const options: grpc.ClientOptions = o.channel ? { channelOverride: o.channel } : o.serverName ? { 'grpc.ssl_target_name_override': o.serverName } : {};
    this.client = new Ctor(o.address, grpc.credentials.createSsl(Buffer.from(o.caRootPem)), options) as unknown as Client;
  }

  requestCertificate(csrPem: string, ttlMs: number): Promise<{ certChainPem: string; trustBundlePem: string }> {
    const md = new grpc.Metadata();
    if (this.o.token) md.set('authorization', `Bearer ${this.o.token()}`);
    const req: CreateCertificateRequest = { csrPem, validitySeconds: String(Math.ceil(ttlMs / 1000)) };
    return new Promise((resolve, reject) => {
      this.client.CreateCertificate(req, md, { deadline: Date.now() + (this.o.timeoutMs ?? 10_000) }, (err, res) => {
        if (err) reject(new CaCallError(err.code, err.details || err.message));
        else resolve({ certChainPem: res!.certChainPem, trustBundlePem: res!.trustBundlePem });
      });
    });
  }

  /** Closes the client's own channel; a shared `channel` stays open (its owner closes it). */
  close(): void {
    if (!this.o.channel) this.client.close();
  }
}

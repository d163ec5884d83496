// The workload's gRPC client for tsmesh.ca.v1.CertificateService, over TLS
// with the CA's root read from a configured file.
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
}

export interface CaClientOptions {
  /** host:port of the CA. */
  address: string;
  /** PEM root(s) that sign the CA's serving certificate. */
  caRootPem: string;
  /** Bootstrap or projected service-account token, read per call (it may be refreshed on disk). */
  token: () => string;
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
    const options: grpc.ClientOptions = o.serverName ? { 'grpc.ssl_target_name_override': o.serverName } : {};
    this.client = new Ctor(o.address, grpc.credentials.createSsl(Buffer.from(o.caRootPem)), options) as unknown as Client;
  }

  requestCertificate(csrPem: string, ttlMs: number): Promise<{ certChainPem: string; trustBundlePem: string }> {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.o.token()}`);
    const req: CreateCertificateRequest = { csrPem, validitySeconds: String(Math.ceil(ttlMs / 1000)) };
    return new Promise((resolve, reject) => {
      this.client.CreateCertificate(req, md, { deadline: Date.now() + (this.o.timeoutMs ?? 10_000) }, (err, res) => {
        if (err) reject(new CaCallError(err.code, err.details || err.message));
        else resolve({ certChainPem: res!.certChainPem, trustBundlePem: res!.trustBundlePem });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

// Loads proto/tsmesh/ca/v1/ca.proto for both sides (CA server, workload client).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const CA_SERVICE_NAME = 'tsmesh.ca.v1.CertificateService';
const REL = join('proto', 'tsmesh', 'ca', 'v1', 'ca.proto');

export interface CreateCertificateRequest {
  csrPem: string;
  validitySeconds: string; // int64 as decimal string
}
export interface CreateCertificateResponse {
  certChainPem: string;
  trustBundlePem: string;
  notAfterUnixMs: string;
}

/** Finds the repo's proto/ folder from source (certs/) or build output (dist/certs/). */
function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, REL))) return join(dir, REL);
    dir = dirname(dir);
  }
  throw new Error(`cannot find ${REL} above ${fileURLToPath(import.meta.url)}`);
}

let cached: grpc.ServiceClientConstructor | undefined;

export function certificateServiceDefinition(): grpc.ServiceClientConstructor {
  if (!cached) {
    const def = protoLoader.loadSync(protoPath(), { keepCase: false, longs: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { tsmesh: { ca: { v1: { CertificateService: grpc.ServiceClientConstructor } } } };
    cached = pkg.tsmesh.ca.v1.CertificateService;
  }
  return cached;
}

// CA throughput on its own: CSRs signed per second per core (in-process, one
// at a time), the ECDSA P-256 operations under it, and CreateCertificate end
// to end over gRPC/TLS with the clients in another process. `npm run bench`
// runs the same measurements (bench/control-plane.ts).
//
//   node dist/bench/ca/csr-rate.js [--seconds 3] [--concurrency 8] [--only ecdsa,sign,grpc,fresh]   → JSON on stdout
import { caFixture, measureEcdsa, measureGrpc, measureSignOnly } from './rates.js';

async function main(): Promise<void> {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const seconds = arg('seconds', 3);
  const i = process.argv.indexOf('--only');
  const only = new Set(i > 0 ? process.argv[i + 1]!.split(',') : ['ecdsa', 'sign', 'grpc', 'fresh']);
  const when = <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => (only.has(name) ? fn() : Promise.resolve(undefined));
  const f = await caFixture();
  const ecdsa = await when('ecdsa', () => measureEcdsa(seconds));
  const result = {
    node: process.version,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    note: 'caSignCsr: sequential, in-process (≤ 1 core). grpcCreateCertificate: clients in a child process; perCpuSecond counts the CA process only; FreshChannel: a new channel and TLS handshake per RPC, as a sidecar rotating hours after its last call',
    ecdsaP256Sign: ecdsa?.sign,
    ecdsaP256Verify: ecdsa?.verify,
    caSignCsr: await when('sign', () => measureSignOnly(f, seconds)),
    grpcCreateCertificate: await when('grpc', () => measureGrpc(f, seconds, arg('concurrency', 8))),
    grpcCreateCertificateFreshChannel: await when('fresh', () => measureGrpc(f, seconds, arg('concurrency', 8), true)),
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

await main();

// CA throughput on its own: CSRs signed per second per core (in-process, one
// at a time), the ECDSA P-256 operations under it, and CreateCertificate end
// to end over gRPC/TLS with the clients in another process. `npm run bench`
// runs the same measurements (bench/control-plane.ts).
//
//   node dist/bench/ca/csr-rate.js [--seconds 3] [--concurrency 8]   → JSON on stdout
import { caFixture, measureEcdsa, measureGrpc, measureSignOnly } from './rates.js';

async function main(): Promise<void> {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const seconds = arg('seconds', 3);
  const f = await caFixture();
  const ecdsa = await measureEcdsa(seconds);
  const result = {
    node: process.version,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    note: 'caSignCsr: sequential, in-process (≤ 1 core). grpcCreateCertificate: clients in a child process; perCpuSecond counts the CA process only',
    ecdsaP256Sign: ecdsa.sign,
    ecdsaP256Verify: ecdsa.verify,
    caSignCsr: await measureSignOnly(f, seconds),
    grpcCreateCertificate: await measureGrpc(f, seconds, arg('concurrency', 8)),
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

await main();

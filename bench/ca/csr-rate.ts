// CA throughput: CSRs signed per second on one core, and the cost of the
// ECDSA P-256 operations behind it. Requests run one at a time, so the CA
// never uses more than one core; the rate is also reported per CPU-second
// (process CPU time, including libuv's crypto threads) to be exact.
//
//   node dist/bench/ca/csr-rate.js [--seconds 3]   → JSON on stdout
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { CertificateAuthority } from '../../certs/ca.js';
import { generateCa } from '../../certs/ca-store.js';
import { createWorkloadCsr } from '../../certs/csr.js';
import { BootstrapTokenAuthenticator, mintBootstrapToken } from '../../control-plane/ca/bootstrap-token.js';
import { startCaServer } from '../../control-plane/ca/service.js';
import { CaClient } from '../../proxy/identity/ca-client.js';

interface Rate {
  ops: number;
  wallSeconds: number;
  cpuSeconds: number;
  perSecond: number;
  perCpuSecond: number;
  meanMicros: number;
}

async function measure(seconds: number, op: (i: number) => unknown): Promise<Rate> {
  for (let i = 0; i < 20; i++) await op(i); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let ops = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await op(ops);
    ops++;
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  const cpu = (c.user + c.system) / 1e6;
  return { ops, wallSeconds: +wall.toFixed(3), cpuSeconds: +cpu.toFixed(3), perSecond: Math.round(ops / wall), perCpuSecond: Math.round(ops / cpu), meanMicros: Math.round((wall * 1e6) / ops) };
}

async function main(): Promise<void> {
  const argi = process.argv.indexOf('--seconds');
  const seconds = argi > 0 ? Number(process.argv[argi + 1]) : 3;
  const td = 'cluster.local';
  const gen = await generateCa({ trustDomain: td, intermediate: true });
  const ca = new CertificateAuthority(gen.material);
  const ids = Array.from({ length: 64 }, (_, i) => `spiffe://${td}/ns/bench/sa/w${i}`);
  const csrs = await Promise.all(ids.map((id) => createWorkloadCsr(id)));

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(256, 1);
  const sig = createSign('SHA256').update(data).sign(privateKey);

  const result: Record<string, unknown> = {
    node: process.version,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    note: 'sequential: one request at a time (≤ 1 core); perCpuSecond counts all process CPU',
    ecdsaP256Sign: await measure(seconds, () => createSign('SHA256').update(data).sign(privateKey)),
    ecdsaP256Verify: await measure(seconds, () => createVerify('SHA256').update(data).verify(publicKey, sig)),
    workloadCsrCreate: await measure(seconds, (i) => createWorkloadCsr(ids[i % ids.length]!)),
    caSignCsr: await measure(seconds, (i) => ca.issueWorkloadCertificate(csrs[i % csrs.length]!.csrPem, ids[i % ids.length]!)),
  };

  // The whole CreateCertificate RPC over gRPC/TLS with a bootstrap token.
  const key = Buffer.alloc(32, 5);
  const server = await startCaServer({ ca, authenticator: new BootstrapTokenAuthenticator(key, td) });
  const token = mintBootstrapToken({ key, trustDomain: td, namespace: 'bench', serviceAccount: 'w0' });
  const client = new CaClient({ address: server.address, caRootPem: gen.files.rootCert!, serverName: 'localhost', token: () => token });
  result.grpcCreateCertificate = await measure(seconds, () => client.requestCertificate(csrs[0]!.csrPem, 0));
  client.close();
  await server.close();
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

await main();

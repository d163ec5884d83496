// The CA's clients for bench/ca/rates.ts, in their own process so the CA
// process's CPU is the CA's alone: `concurrency` CreateCertificate RPCs in
// flight over one TLS channel for `seconds`, each with a bootstrap token and a
// real CSR. Started with fork(); gets its job over IPC and answers with counts
// and latencies, then exits.
import { CaClient } from '../../proxy/identity/ca-client.js';

export interface GrpcLoadJob {
  address: string;
  rootPem: string;
  token: string;
  csrPem: string;
  concurrency: number;
  seconds: number;
}

export interface GrpcLoadResult {
  ops: number;
  errors: number;
  firstError: string | null;
  wallSeconds: number;
  latencyMs: { p50: number; p99: number };
  clientCpuSeconds: number;
}

async function run(job: GrpcLoadJob): Promise<GrpcLoadResult> {
  const client = new CaClient({ address: job.address, caRootPem: job.rootPem, serverName: 'localhost', token: () => job.token });
  await client.requestCertificate(job.csrPem, 0); // connect + TLS handshake outside the window
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + job.seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await client.requestCertificate(job.csrPem, 0);
        lat.push(performance.now() - s);
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  client.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number) => Math.round((lat[Math.min(lat.length - 1, Math.ceil(p * lat.length) - 1)] ?? NaN) * 100) / 100;
  return { ops: lat.length, errors, firstError, wallSeconds: wall, latencyMs: { p50: pct(0.5), p99: pct(0.99) }, clientCpuSeconds: (c.user + c.system) / 1e6 };
}

process.once('message', (job: GrpcLoadJob) => {
  run(job).then(
    (r) => process.send!(r, () => process.exit(0)),
    (e: unknown) => process.send!({ fatal: (e as Error).message }, () => process.exit(1)),
  );
});

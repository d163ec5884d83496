// The CA's clients for bench/ca/rates.ts, in their own process so the CA
// process's CPU is the CA's alone: `concurrency` CreateCertificate RPCs in
// flight for `seconds`, each with a bootstrap token and a real CSR — over one
// shared TLS channel, or (`freshChannel`) each on a new channel with its own
// TLS handshake, as a sidecar's rotation hours after its last call is (grpc-js
// drops an idle channel's connection after 30 minutes). Started with fork();
// gets its job over IPC; after a warm-up (the CA is a long-running process: its
// JIT is warm) it says { warmed: true } and waits for 'go', so the parent
// counts the CA's CPU over exactly the measured window; answers with counts
// and latencies, then exits.
import { CaClient } from '../../proxy/identity/ca-client.js';

export interface GrpcLoadJob {
  address: string;
  rootPem: string;
  token: string;
  csrPem: string;
  concurrency: number;
  seconds: number;
  /** A new channel (TCP + TLS handshake) per RPC instead of one shared channel. */
  freshChannel?: boolean;
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
  const open = () => new CaClient({ address: job.address, caRootPem: job.rootPem, serverName: 'localhost', token: () => job.token });
  const client = open();
  await client.requestCertificate(job.csrPem, 0); // connect + TLS handshake outside the window (shared channel)
  const call = job.freshChannel
    ? async () => {
        const c = open();
        try {
          await c.requestCertificate(job.csrPem, 0);
        } finally {
          c.close();
        }
      }
    : () => client.requestCertificate(job.csrPem, 0);
  let lat: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let end = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await call();
        lat.push(performance.now() - s);
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  // Warm-up: a fifth of the run, at least 200 RPCs (as bench/ca/rates.ts's measure()).
  const w0 = performance.now();
  while (lat.length < 200 || performance.now() - w0 < job.seconds * 200) {
    end = performance.now() + 100;
    await Promise.all(Array.from({ length: job.concurrency }, worker));
    if (errors && !lat.length) break;
  }
  lat = [];
  errors = 0;
  firstError = null;
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send!({ warmed: true });
  await go;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  end = t0 + job.seconds * 1000;
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

// CA throughput, measured two ways:
// - sign only: CertificateAuthority.issueWorkloadCertificate in this process,
//   one request at a time (≤ 1 core), rate per CPU-second of this process;
// - end to end: the CA's gRPC service over TLS with token checks, the clients
//   in a child process (bench/ca/grpc-load.ts) with several RPCs in flight;
//   the rate per CPU-second counts the CA process's CPU only.
// Process CPU includes libuv's threads, so per CPU-second is per core used.
import { fork } from 'node:child_process';
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { CertificateAuthority } from '../../certs/ca.js';
import { generateCa, type GeneratedCa } from '../../certs/ca-store.js';
import { createWorkloadCsr } from '../../certs/csr.js';
import { BootstrapTokenAuthenticator, mintBootstrapToken } from '../../control-plane/ca/bootstrap-token.js';
import { startCaServer } from '../../control-plane/ca/service.js';
import type { GrpcLoadJob, GrpcLoadResult } from './grpc-load.js';

export interface Rate {
  ops: number;
  wallSeconds: number;
  cpuSeconds: number;
  perSecond: number;
  perCpuSecond: number;
  /** CPU per operation. */
  cpuMicros: number;
}

export interface GrpcRate extends Rate {
  concurrency: number;
  /** Each RPC on a new channel with its own TLS handshake (a sidecar's rotation) rather than one shared channel. */
  freshChannel: boolean;
  errors: number;
  firstError: string | null;
  latencyMs: { p50: number; p99: number };
  /** The client process's CPU per RPC (not part of perCpuSecond). */
  clientCpuMicros: number;
}

const TD = 'cluster.local';

function rate(ops: number, wallSeconds: number, cpuSeconds: number): Rate {
  return {
    ops,
    wallSeconds: +wallSeconds.toFixed(3),
    cpuSeconds: +cpuSeconds.toFixed(3),
    perSecond: Math.round(ops / wallSeconds),
    perCpuSecond: Math.round(ops / cpuSeconds),
    cpuMicros: Math.round((cpuSeconds * 1e6) / ops),
  };
}

/** Runs `op` back to back for `seconds` after a warm-up. */
export async function measure(seconds: number, op: (i: number) => unknown): Promise<Rate> {
  // Warm-up (JIT, caches): a fifth of the run, at least 100 operations.
  const w0 = performance.now();
  for (let i = 0; i < 100 || performance.now() - w0 < seconds * 200; i++) await op(i);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let ops = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await op(ops);
    ops++;
  }
  const c = process.cpuUsage(cpu0);
  return rate(ops, (performance.now() - t0) / 1000, (c.user + c.system) / 1e6);
}

export interface CaFixture {
  gen: GeneratedCa;
  ca: CertificateAuthority;
  ids: string[];
  csrs: string[];
}

export async function caFixture(): Promise<CaFixture> {
  const gen = await generateCa({ trustDomain: TD, intermediate: true });
  const ids = Array.from({ length: 64 }, (_, i) => `spiffe://${TD}/ns/bench/sa/w${i}`);
  const csrs = (await Promise.all(ids.map((id) => createWorkloadCsr(id)))).map((c) => c.csrPem);
  return { gen, ca: new CertificateAuthority(gen.material), ids, csrs };
}

/** CSRs checked and signed in-process, one at a time. */
export function measureSignOnly(f: CaFixture, seconds: number): Promise<Rate> {
  return measure(seconds, (i) => f.ca.issueWorkloadCertificate(f.csrs[i % f.csrs.length]!, f.ids[i % f.ids.length]!));
}

/** The OpenSSL floor under the signer: one ECDSA P-256 sign and one verify. */
export async function measureEcdsa(seconds: number): Promise<{ sign: Rate; verify: Rate }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.alloc(256, 1);
  const sig = createSign('SHA256').update(data).sign(privateKey);
  return {
    sign: await measure(seconds, () => createSign('SHA256').update(data).sign(privateKey)),
    verify: await measure(seconds, () => createVerify('SHA256').update(data).verify(publicKey, sig)),
  };
}

/** CreateCertificate over gRPC/TLS with a bootstrap token; clients in a child process. */
export async function measureGrpc(f: CaFixture, seconds: number, concurrency: number, freshChannel = false): Promise<GrpcRate> {
  const key = Buffer.alloc(32, 5);
  const server = await startCaServer({ ca: f.ca, authenticator: new BootstrapTokenAuthenticator(key, TD) });
  const child = fork(new URL('./grpc-load.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const job: GrpcLoadJob = {
      address: server.address,
      rootPem: f.gen.files.rootCert!,
      token: mintBootstrapToken({ key, trustDomain: TD, namespace: 'bench', serviceAccount: 'w0' }),
      csrPem: f.csrs[0]!,
      concurrency,
      seconds,
      freshChannel,
    };
    // The CA's CPU is counted from the client's 'warmed' (after its warm-up RPCs) to its result.
    let cpu0 = process.cpuUsage();
    const done = new Promise<GrpcLoadResult>((resolve, reject) => {
      child.on('message', (m) => {
        if ((m as { warmed?: boolean }).warmed) {
          cpu0 = process.cpuUsage();
          child.send('go');
        } else if ((m as { fatal?: string }).fatal) reject(new Error(`CA load client: ${(m as { fatal: string }).fatal}`));
        else resolve(m as GrpcLoadResult);
      });
      child.once('exit', (code) => reject(new Error(`CA load client exited (${code})`)));
    });
    child.send(job);
    const r = await done;
    const c = process.cpuUsage(cpu0);
    const base = rate(r.ops, r.wallSeconds, (c.user + c.system) / 1e6);
    return { ...base, concurrency, freshChannel, errors: r.errors, firstError: r.firstError, latencyMs: r.latencyMs, clientCpuMicros: r.ops ? Math.round((r.clientCpuSeconds * 1e6) / r.ops) : 0 };
  } finally {
    child.kill();
    await server.close();
  }
}

// Starts grpc-upstream-server.ts (the gRPC paths' upstream) pinned to the client core, and probes a gRPC path with one unary call.
import http2 from 'node:http2';
import path from 'node:path';
import { grpcFrame, protoBytesField } from '../loadgen/h2-session.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess } from '../lib/processes.js';
import { grpcResponseBody } from './grpc-response.js';

export interface GrpcUpstream {
  port: number;
  pids: number[];
  stop(): Promise<void>;
}

export async function startGrpcUpstream(core: number): Promise<GrpcUpstream> {
  const port = await freePort();
  const p = startProcess([process.execPath, path.join(import.meta.dirname, 'grpc-upstream-server.js'), String(port)], core);
  try {
    await waitForPort(port);
  } catch (e) {
    await stopProcess(p.child);
    throw new Error(`gRPC upstream did not start: ${p.stderr()}`, { cause: e });
  }
  return { port, pids: [p.pid], stop: () => stopProcess(p.child) };
}

/** One unary call over h2c before a gRPC path is measured: null when it answers 200 + grpc-status 0 with the 1 KiB message, else why not. */
export function probeGrpc(port: number, timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      resolve(`no gRPC response within ${timeoutMs} ms`);
    }, timeoutMs);
    const done = (why: string | null): void => {
      clearTimeout(timer);
      session.close();
      resolve(why);
    };
    session.on('error', (e) => done(`gRPC probe failed: ${e.message}`));
    const req = session.request({ ':method': 'POST', ':path': '/bench.Echo/Call', ':authority': 'upstream.bench', 'content-type': 'application/grpc', te: 'trailers' });
    let status = 0;
    let grpcStatus: string | undefined;
    let n = 0;
    let meshError = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['x-tsmesh-error'] !== undefined) meshError = ` (x-tsmesh-error: ${String(h['x-tsmesh-error'])})`;
    });
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status']);
    });
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('close', () => {
      const want = grpcResponseBody().length;
      done(status === 200 && grpcStatus === '0' && n === want ? null : `gRPC probe got HTTP ${status}, grpc-status ${grpcStatus ?? 'missing'}, ${n} of ${want} body bytes${meshError}`);
    });
    req.on('error', (e) => done(`gRPC probe failed: ${e.message}`));
    req.end(grpcFrame(protoBytesField(Buffer.from('probe'))));
  });
}

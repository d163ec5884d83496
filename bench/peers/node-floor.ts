// Starts a minimal Node proxy (node-floor-proxy.ts: http, tcp or h2 floor) as a pinned child process.
// The h2 floor forwards to the gRPC upstream; the others to the HTTP/1.1 upstream.
import path from 'node:path';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess } from '../lib/processes.js';
import type { BenchEnv, RunningTarget } from './types.js';

export async function startNodeFloor(env: BenchEnv, mode: 'http' | 'tcp' | 'h2' = 'http'): Promise<RunningTarget> {
  const port = await freePort();
  const script = path.join(import.meta.dirname, 'node-floor-proxy.js');
  const upstream = mode === 'h2' ? env.grpcUpstreamPort! : env.upstreamPort;
  const p = startProcess([process.execPath, script, String(port), String(upstream), mode], env.proxyCore);
  try {
    await waitForPort(port);
  } catch (e) {
    await stopProcess(p.child);
    throw new Error(`node floor proxy did not start: ${p.stderr()}`, { cause: e });
  }
  return { port, proxyPids: [p.pid], stop: () => stopProcess(p.child) };
}

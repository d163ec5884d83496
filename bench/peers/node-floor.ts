// Starts a minimal Node proxy (node-floor-proxy.ts: http or tcp floor) as a pinned child process.
import path from 'node:path';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess } from '../lib/processes.js';
import type { BenchEnv, RunningTarget } from './types.js';

export async function startNodeFloor(env: BenchEnv, mode: 'http' | 'tcp' = 'http'): Promise<RunningTarget> {
  const port = await freePort();
  const script = path.join(import.meta.dirname, 'node-floor-proxy.js');
  const p = startProcess([process.execPath, script, String(port), String(env.upstreamPort), mode], env.proxyCore);
  try {
    await waitForPort(port);
  } catch (e) {
    await stopProcess(p.child);
    throw new Error(`node floor proxy did not start: ${p.stderr()}`, { cause: e });
  }
  return { port, proxyPids: [p.pid], stop: () => stopProcess(p.child) };
}

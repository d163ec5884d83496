// The mesh path as a user runs it: tsmesh's control plane (xDS + CA) and two
// sidecars configured only over ADS, with certificates the CA issued to each
// workload. The server sidecar fronts the bench upstream as service
// `upstream` in namespace `bench` (port 80), so the bench's Host
// `upstream.bench` routes to it from the client sidecar's outbound listener,
// over mTLS, with the mesh's defaults (retries, circuit breakers, metrics).
// Beside the static two-hop paths (bootstrap files, certificates from files),
// this is what a sidecar in a real mesh costs: the gRPC client, the xDS
// protos and state and the workload identity live in the same process.
import fs from 'node:fs';
import path from 'node:path';
import { loadOrCreateTokenKey, mintBootstrapToken } from '../../control-plane/ca/bootstrap-token.js';
import { SIDECAR_NODE_FLAGS } from '../../proxy/node-flags.js';
import { probeHttp1 } from '../lib/probe.js';
import { probeGrpc } from './grpc-upstream.js';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess, type Started } from '../lib/processes.js';
import { proxyEntry } from './tsmesh.js';
import type { BenchEnv, RunningTarget } from './types.js';

const NAMESPACE = 'bench';
const TRUST_DOMAIN = 'cluster.local';

export function controlPlaneEntry(env: BenchEnv): string {
  return path.join(env.repoRoot, 'dist', 'control-plane', 'main.js');
}

export function meshUnavailable(env: BenchEnv): string | null {
  if (!fs.existsSync(proxyEntry(env))) return 'the proxy is not built yet (dist/proxy/main.js missing)';
  if (!fs.existsSync(controlPlaneEntry(env))) return 'the control plane is not built yet (dist/control-plane/main.js missing)';
  return null;
}

interface MeshSidecar {
  service: string;
  inbound: number;
  outbound: number;
  app: number;
  /** The app's protocol as the workload registers it (gRPC: HTTP/2 to the app, and on the mTLS hop). */
  protocol: 'http' | 'grpc';
}

/** An ADS-only bootstrap (JSON, as an injected sidecar reads it): identity, the control plane, and the workload's ports. */
export function meshBootstrap(s: MeshSidecar, cp: { xdsPort: number; rootCertFile: string; tokenFile: string }): object {
  return {
    node: {
      id: `sidecar~127.0.0.1~${s.service}-v1.${NAMESPACE}~${NAMESPACE}.svc.cluster.local`,
      cluster: s.service,
      namespace: NAMESPACE,
      serviceAccount: s.service,
      workload: `${s.service}-v1`,
      version: 'v1',
      labels: { app: s.service, version: 'v1' },
    },
    admin: { address: { address: '127.0.0.1', port: 0 } },
    drainTimeout: '1s',
    dynamicResources: {
      ads: {
        address: { address: '127.0.0.1', port: cp.xdsPort },
        caRootFile: cp.rootCertFile,
        tokenFile: cp.tokenFile,
        initialBackoff: '100ms',
        maxBackoff: '1s',
        nodeMetadata: {
          INBOUND_ADDRESSES: `127.0.0.1:${s.inbound}`,
          OUTBOUND_ADDRESSES: `127.0.0.1:${s.outbound}`,
          APP_PORT: String(s.app),
          SERVICE_PORT: '80',
          PROTOCOL: s.protocol,
        },
      },
    },
  };
}

async function waitForFile(file: string, p: Started, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (p.child.exitCode !== null) throw new Error(`the control plane exited with ${p.child.exitCode}: ${p.stderr().slice(0, 1500)}`);
    if (Date.now() > deadline) throw new Error(`the control plane wrote no ${path.basename(file)} within ${timeoutMs} ms: ${p.stderr().slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Until a request through the client sidecar reaches the upstream (config pushed, certificates issued, endpoints known). */
async function waitRoutable(port: number, grpc: boolean, procs: Started[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const bad = grpc ? await probeGrpc(port) : await probeHttp1(port, 2000);
    if (bad === null) return;
    const dead = procs.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`a mesh process exited with ${dead.child.exitCode}: ${dead.stderr().slice(0, 1500)}`);
    if (Date.now() > deadline) throw new Error(`the mesh path did not answer within ${timeoutMs} ms (${bad}): ${procs.map((p) => p.stderr().slice(0, 600)).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `grpc`: the gRPC variant, the server sidecar fronting the bench's gRPC upstream (registered as a grpc port). */
export async function startTsmeshMesh(env: BenchEnv, id: string, grpc = false): Promise<RunningTarget> {
  const stateDir = path.join(env.dir, `${id}-cp`);
  const xdsPort = await freePort();
  const started: Started[] = [];
  const stopAll = (): Promise<unknown> => Promise.all(started.map((s) => stopProcess(s.child)));
  try {
    // The control plane is not on the measured path: it runs beside the load generator, off the proxies' core.
    const cp = startProcess([process.execPath, controlPlaneEntry(env), '--listen', `127.0.0.1:${xdsPort}`, '--admin-listen', '127.0.0.1:0', '--state-dir', stateDir, '--log-level', 'warn'], env.clientCore);
    started.push(cp);
    await waitForFile(path.join(stateDir, 'control-plane.json'), cp, 20_000);
    await waitForPort(xdsPort, 10_000);
    const info = JSON.parse(fs.readFileSync(path.join(stateDir, 'control-plane.json'), 'utf8')) as { rootCertFile?: string };
    if (!info.rootCertFile) throw new Error('the control plane runs without its CA (no rootCertFile in control-plane.json)');
    const key = await loadOrCreateTokenKey(path.join(stateDir, 'ca'));
    const entry = await freePort();
    const sidecars: MeshSidecar[] = [
      { service: 'upstream', inbound: await freePort(), outbound: await freePort(), app: grpc ? env.grpcUpstreamPort! : env.upstreamPort, protocol: grpc ? 'grpc' : 'http' },
      // The client's own inbound side fronts nothing the bench calls.
      { service: 'client', inbound: await freePort(), outbound: entry, app: await freePort(), protocol: 'http' },
    ];
    for (const s of sidecars) {
      const tokenFile = path.join(env.dir, `${id}-${s.service}.token`);
      fs.writeFileSync(tokenFile, mintBootstrapToken({ key, trustDomain: TRUST_DOMAIN, namespace: NAMESPACE, serviceAccount: s.service, ttlMs: 6 * 3_600_000 }) + '\n', { mode: 0o600 });
      const file = path.join(env.dir, `${id}-${s.service}.json`);
      fs.writeFileSync(file, JSON.stringify(meshBootstrap(s, { xdsPort, rootCertFile: info.rootCertFile, tokenFile }), null, 2), { mode: 0o600 });
      const argv = [process.execPath, ...SIDECAR_NODE_FLAGS, ...(env.proxyNodeArgs ?? []), proxyEntry(env), '--config', file, '--no-watch'];
      started.push(startProcess(argv, env.proxyCore, { ...process.env, NODE_ENV: 'production', TSMESH_LOG_LEVEL: 'warn' }));
    }
    await waitRoutable(entry, grpc, started, 30_000);
    const proxies = started.slice(1);
    return {
      port: entry,
      ...(grpc ? {} : { h2Port: entry }), // the outbound listener detects HTTP/2 prior knowledge (gRPC paths: the entry itself)
      proxyPids: proxies.map((s) => s.pid),
      stop: async () => {
        await Promise.all(proxies.map((s) => stopProcess(s.child)));
        await stopProcess(cp.child);
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

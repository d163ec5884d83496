#!/usr/bin/env -S node --max-semi-space-size=2 --no-sparkplug
// (the flags of proxy/node-flags.ts: a shebang cannot import them)
// mesh-proxy --config <bootstrap.yaml>: load and check the bootstrap (exit 2
// listing every problem when invalid), start the sidecar and its admin
// listener, reload on SIGHUP or file change (a bad reload keeps the old
// config and logs why), drain and exit 0 on SIGTERM/SIGINT.
//
// The shebang caps V8's young generation at 2 MB per semi-space (Node 20 lets
// it grow to 16 MB): ~3 MB less RSS under load and a lower peak at maximum
// throughput, CPU per request unchanged (bench/results/memory.md). Heap sizes
// are fixed when the isolate is created, so the flag cannot be set from in
// here; `node dist/proxy/main.js` should pass it too (the injector's command).

// First: V8 flags that must be in place before any module compiles WebAssembly.
import { releaseStartupGarbage } from './v8-flags.js';
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createLogger } from '../common/log.js';
import { MeshError, ValidationError } from '../common/errors.js';
import type { Bootstrap } from './config/bootstrap.js';
import { Sidecar } from './sidecar.js';
import { readProxyEnv } from './env.js';
import { parseProxyArgs, USAGE, type ProxyArgs } from './main-args.js';
import { createTelemetry } from './telemetry/index.js';
import { startAdminServer } from './admin/server.js';
import type { MeshAgent } from './mesh-agent.js';
import { bootstrapFromEnv } from './config/env-bootstrap.js';
import { startHealthServer, type HealthServer } from './admin/health-server.js';
import { parseAppProbers, type AppProber } from './admin/app-probes.js';
import { startMetricsServer, type MetricsServer } from './admin/metrics-server.js';

async function main(): Promise<void> {
  const env = readProxyEnv();
  let opts: ProxyArgs;
  try {
    opts = parseProxyArgs(process.argv.slice(2), env.bootstrap);
  } catch (err) {
    process.stderr.write(`mesh-proxy: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  // Without --config an injected sidecar builds its bootstrap from the pod's environment.
  if (!opts.config && !env.sidecar) {
    process.stderr.write('mesh-proxy: --config <file> is required (or the injected TSMESH_CONTROL_PLANE_ADDRESS environment)\n');
    process.exit(2);
  }
  const file = opts.config ?? '';
  const logger = createLogger({ level: env.logLevel, base: { component: 'mesh-proxy' } });

  // The YAML reader loads only for a YAML bootstrap file (bootstrap-json.ts: a .json one is read without it);
  // an injected sidecar's bootstrap comes from its environment.
  const loadBootstrapFile = await bootstrapFileLoader(opts.config);
  let bootstrap: Bootstrap;
  // The app's own probes, rewritten by the injector to the health port (k8s/inject/probes.ts).
  let appProbers = new Map<string, AppProber>();
  try {
    bootstrap = loadBootstrapFile ? await loadBootstrapFile(file) : bootstrapFromEnv(env.sidecar!);
    if (!opts.config && env.sidecar?.TSMESH_KUBE_APP_PROBERS) appProbers = parseAppProbers(env.sidecar.TSMESH_KUBE_APP_PROBERS);
  } catch (err) {
    process.stderr.write(`mesh-proxy: ${(err as Error).message}\n`);
    process.exit(2);
  }

  const telemetry = createTelemetry({
    node: bootstrap.node,
    logger,
    ...(bootstrap.tracing ? { tracing: bootstrap.tracing } : {}),
    ...(bootstrap.accessLog ? { accessLog: bootstrap.accessLog } : {}),
  });
  const ads = bootstrap.dynamicResources?.ads;
  // The bootstrap loader already refused static routes to unknown clusters (with file:line); config that
  // comes over xDS may name a cluster a push just removed (Envoy: validate_clusters=false for RDS).
  const sidecar = new Sidecar({
    node: bootstrap.node,
    telemetry,
    logger,
    drainTimeout: bootstrap.drainTimeout,
    ...(ads ? { check: { validateClusters: false } } : {}),
  });
  const hasStatic = [...Object.values(bootstrap.snapshot.resources)].some((m) => m.size > 0);
  try {
    // With ADS and no static resources the proxy stays PRE_INITIALIZING until the control plane's config lands.
    if (!ads || hasStatic) await sidecar.applySnapshot(bootstrap.snapshot);
  } catch (err) {
    process.stderr.write(`mesh-proxy: ${(err as Error).message}\n`);
    process.exit(err instanceof ValidationError ? 2 : 1);
  }

  let agent: MeshAgent | undefined;
  let exiting = false;
  const shutdown = async (why: string) => {
    if (exiting) return;
    exiting = true;
    logger.info('draining', { reason: why, timeoutMs: bootstrap.drainTimeout });
    agent?.stop();
    await sidecar.drain(bootstrap.drainTimeout);
    await admin.close().catch(() => {});
    await health?.close().catch(() => {});
    await metrics?.close().catch(() => {});
    await telemetry.shutdown().catch(() => {});
    process.exit(0);
  };
  const admin = await startAdminServer({
    address: bootstrap.admin.address,
    source: Object.assign(sidecar, { quit: () => shutdown('quitquitquit') }),
    telemetry,
    logger,
  });

  // The kubelet-facing readiness port (TSMESH_HEALTH_PORT) on all interfaces; the admin API stays on 127.0.0.1.
  let health: HealthServer | undefined;
  if (!opts.config && env.sidecar?.TSMESH_HEALTH_PORT) {
    // The app is probed on 127.0.0.1, as Istio's agent does: the sidecar's own traffic to the pod IP is
    // redirected into its inbound listener (the iptables rules send UID 1337's pod-IP traffic on lo there).
    health = await startHealthServer('0.0.0.0', Number(env.sidecar.TSMESH_HEALTH_PORT), sidecar, { probers: appProbers, defaultHost: '127.0.0.1' });
  }
  // The Prometheus port (Istio's 15090) for scrapers in other pods; bootstrap `metrics` / TSMESH_METRICS_PORT.
  let metrics: MetricsServer | undefined;
  if (bootstrap.metrics) metrics = await startMetricsServer(bootstrap.metrics.address.address, bootstrap.metrics.address.port, telemetry.registry);

  // The xDS/CA link (gRPC, protobuf, CSR encoding) loads only for an ADS bootstrap: a static sidecar never pays its memory.
  if (ads) agent = (await import('./mesh-agent.js')).startMeshAgent(ads, bootstrap.node, sidecar, logger, { adminAddress: `${admin.address.includes(':') ? `[${admin.address}]` : admin.address}:${admin.port}` });

  // Machine-readable start line: tests and tools read the bound ports from it.
  const ports: Record<string, number> = {};
  for (const name of bootstrap.snapshot.resources.listener.keys()) {
    const p = sidecar.listenerPort(name);
    if (p !== undefined) ports[name] = p;
  }
  process.stdout.write(JSON.stringify({ event: 'ready', admin: admin.port, ...(health ? { health: health.port } : {}), ...(metrics ? { metrics: metrics.port } : {}), listeners: ports }) + '\n');
  // A static sidecar is configured now; an ADS one collects after its first snapshot (mesh-agent.ts).
  if (!ads) setImmediate(releaseStartupGarbage);

  const reload = async (why: string) => {
    if (exiting || ads || !loadBootstrapFile) return; // with ADS the control plane owns the config
    try {
      const next = await loadBootstrapFile(file);
      await sidecar.applySnapshot(next.snapshot);
      logger.info('reloaded', { reason: why });
    } catch (err) {
      logger.error('reload refused; the previous configuration stays active', {
        reason: why,
        error: err instanceof MeshError ? err.message : String(err),
      });
    }
  };
  process.on('SIGHUP', () => void reload('SIGHUP'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (opts.watch && opts.config) {
    // Watch the folder, not the file: editors and ConfigMap updates replace the file by rename.
    let timer: NodeJS.Timeout | undefined;
    const base = basename(file);
    try {
      watch(dirname(file), (_event, name) => {
        if (name !== null && name !== base && !String(name).startsWith('..')) return;
        clearTimeout(timer);
        timer = setTimeout(() => void reload('file changed'), 100);
      })
        .on('error', () => {})
        .unref();
    } catch {
      logger.warn('cannot watch the bootstrap file; reload with SIGHUP');
    }
  }
}

void main().catch((err) => {
  process.stderr.write(`mesh-proxy: fatal: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

/** Reads the bootstrap file: JSON without the YAML parser, anything else as YAML; undefined without --config. */
async function bootstrapFileLoader(config: string | undefined): Promise<((file: string) => Bootstrap | Promise<Bootstrap>) | undefined> {
  if (config === undefined) return undefined;
  const json = await import('./config/bootstrap-json.js');
  if (json.isJsonBootstrap(config)) return json.loadJsonBootstrapFile;
  return (await import('./config/bootstrap.js')).loadBootstrapFile;
}

#!/usr/bin/env node
// mesh-control-plane: the tsmesh control plane process. In policy mode it
// runs the CA (certificate service on the same gRPC server), serves xDS over
// TLS with the CA-issued serving certificate, lets a node fetch only its own
// identity's config, and writes `<state-dir>/control-plane.json` (xDS and
// admin addresses, root certificate path) for meshctl and scripts.
//
//   mesh-control-plane [--listen …] [--state-dir d] [--trust-domain td] [--insecure]
//   mesh-control-plane token --state-dir d --ns default --sa api [--ttl 24h]

import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseDuration } from '../common/duration.js';
import { createLogger, type LogLevel } from '../common/log.js';
import { DEFAULT_TOKEN_TTL_MS, loadOrCreateTokenKey, mintBootstrapToken } from './ca/bootstrap-token.js';
import { setupCa, type CaSetup } from './ca/setup.js';
import { meshNodeAuthorizer } from './node-auth.js';
import { startControlPlane } from './server.js';
import { localRootRotation, type RootRotationDeps } from './admin/local-root-rotation.js';
import { loadSavedRotation } from './admin/rotation-store.js';
import { kubernetesModeFromEnv } from './kube-env.js';
import { startKubernetesMode, type KubernetesMode } from '../k8s/control-plane.js';
import { serviceAccountNodeAuthorizer } from '../k8s/ca/node-auth.js';

/** What `<state-dir>/control-plane.json` holds. */
export interface ControlPlaneInfo {
  xds: string;
  admin?: string;
  trustDomain: string;
  /** PEM file sidecars verify the control plane and peers with; absent with --insecure. */
  rootCertFile?: string;
  tls: boolean;
}

export const INFO_FILE = 'control-plane.json';

if (process.argv[2] === 'token') await tokenCommand(process.argv.slice(3));
else await serve();

async function tokenCommand(argv: string[]): Promise<void> {
  const o = new Command('mesh-control-plane token')
    .description('mint a bootstrap token for a workload identity (signed with the state dir\'s key)')
    .requiredOption('--state-dir <dir>', 'the control plane\'s state directory')
    .requiredOption('--sa <serviceAccount>', 'service account')
    .option('--ns <namespace>', 'namespace', 'default')
    .option('--trust-domain <td>', 'trust domain', 'cluster.local')
    .option('--ttl <duration>', 'lifetime, e.g. 24h', '24h')
    .parse(argv, { from: 'user' })
    .opts<{ stateDir: string; sa: string; ns: string; trustDomain: string; ttl: string }>();
  const ttlMs = parseDuration(o.ttl);
  if (ttlMs === undefined || ttlMs <= 0) {
    process.stderr.write(`mesh-control-plane token: --ttl "${o.ttl}" is not a duration (e.g. 30m, 24h)\n`);
    process.exit(2);
  }
  try {
    const key = await loadOrCreateTokenKey(join(o.stateDir, 'ca'));
    process.stdout.write(mintBootstrapToken({ key, trustDomain: o.trustDomain, namespace: o.ns, serviceAccount: o.sa, ttlMs: ttlMs ?? DEFAULT_TOKEN_TTL_MS }) + '\n');
  } catch (err) {
    process.stderr.write(`mesh-control-plane token: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

async function serve(): Promise<void> {
  const program = new Command('mesh-control-plane')
    .description('tsmesh control plane: xDS v3 (ADS) for sidecars and gRPC proxyless clients, and the mesh CA')
    .option('--listen <host:port>', 'gRPC listen address (xDS and CA)', '0.0.0.0:15010')
    .option('--state-dir <dir>', 'directory for persisted state', './mesh-state')
    .option('--static-snapshot <file>', 'serve per-node snapshots from this YAML file of xDS resources (instead of the policy plane; plaintext, no CA)')
    .option('--admin-listen <host:port>', 'admin API address for meshctl', '127.0.0.1:15080')
    .option('--services-file <file>', 'watched YAML file of services and endpoints for the embedded registry')
    .option('--trust-domain <td>', 'SPIFFE trust domain', 'cluster.local')
    .option('--cert-ttl <duration>', 'default workload certificate lifetime', '24h')
    .option('--dns-name <name...>', 'names sidecars reach the control plane by (serving certificate SANs)')
    .option('--insecure', 'plaintext xDS, no CA, no node authorization (development only)')
    .option('--log-level <level>', 'debug | info | warn | error', 'info')
    .parse();

  const o = program.opts<{
    listen: string;
    stateDir: string;
    staticSnapshot?: string;
    adminListen: string;
    servicesFile?: string;
    trustDomain: string;
    certTtl: string;
    dnsName?: string[];
    insecure?: boolean;
    logLevel: LogLevel;
  }>();
  const logger = createLogger({ level: o.logLevel, base: { component: 'control-plane' } });
  const certTtl = parseDuration(o.certTtl);
  if (certTtl === undefined || certTtl < 1000) {
    process.stderr.write(`mesh-control-plane: --cert-ttl "${o.certTtl}" is not a duration of at least 1s\n`);
    process.exit(2);
  }

  let kube: KubernetesMode | undefined;
  try {
    // TSMESH_REGISTRY=kubernetes (the installed Deployment): Services/EndpointSlices/Pods and the tsmesh CRDs
    // replace the embedded registry and store.
    const kubeOpts = kubernetesModeFromEnv(process.env, o.trustDomain);
    if (kubeOpts) kube = await startKubernetesMode({ ...kubeOpts, logger });
    const secure = !o.insecure && !o.staticSnapshot;
    let ca: CaSetup | undefined;
    if (secure) {
      ca = await setupCa({
        trustDomain: kubeOpts?.trustDomain ?? o.trustDomain,
        stateDir: o.stateDir,
        intermediate: true,
        // Kubernetes mode: the CA from its Secret (shared by the replicas) and TokenReview of projected tokens.
        ...(kube ? { material: kube.ca, auth: kube.caAuth } : { auth: { mode: 'local' as const } }),
        defaultTtlMs: certTtl,
        ...(o.dnsName || kube ? { dnsNames: ['localhost', ...(kube?.dnsNames ?? []), ...(o.dnsName ?? [])] } : {}),
        logger,
      });
    }
    // A root rotation this control plane left unfinished comes back in the phase the mesh had confirmed.
    const savedRotation = ca && !kube ? await loadSavedRotation(join(o.stateDir, 'ca')) : undefined;
    const cp = await startControlPlane({
      listen: o.listen,
      stateDir: o.stateDir,
      adminListen: o.adminListen,
      ...(o.staticSnapshot ? { staticSnapshot: o.staticSnapshot } : {}),
      ...(o.servicesFile ? { servicesFile: o.servicesFile } : {}),
      ...(kube ? { external: { registry: kube.registry, store: kube.store } } : {}),
      ...(ca
        ? {
            credentials: ca.credentials,
            services: [ca.plugin],
            authorizeNode: kube ? serviceAccountNodeAuthorizer(ca.authenticator) : meshNodeAuthorizer(ca.tokenKey),
            // The CA's current bundle: two roots while a root rotation overlaps them.
            trustBundle: () => ca!.ca.trustBundlePem,
            ...(kube ? {} : { rootRotation: (d: RootRotationDeps) => localRootRotation(ca!, d, o.stateDir, o.trustDomain, logger, savedRotation) }),
          }
        : {}),
      logger,
    });
    const host = listenHost(o.listen);
    const info: ControlPlaneInfo = {
      xds: `${host}:${cp.port}`,
      ...(cp.plane ? { admin: `${listenHost(o.adminListen)}:${cp.plane.adminPort}` } : {}),
      trustDomain: o.trustDomain,
      ...(ca ? { rootCertFile: join(o.stateDir, 'root-cert.pem') } : {}),
      tls: secure,
    };
    if (ca) writeAtomic(join(o.stateDir, 'root-cert.pem'), ca.rootPem);
    writeAtomic(join(o.stateDir, INFO_FILE), JSON.stringify(info, null, 2) + '\n');
    // Tests and scripts read the bound ports from these lines.
    process.stdout.write(`listening ${cp.port}\n`);
    if (cp.plane) process.stdout.write(`admin ${cp.plane.adminPort}\n`);
    const stop = () => void cp.close().then(() => kube?.close()).then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      try {
        cp.statics?.reload();
      } catch (err) {
        logger.error('reload rejected; keeping the previous snapshot', { err });
      }
    });
  } catch (err) {
    await kube?.close().catch(() => {});
    logger.error('control plane failed to start', { err });
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}

/** Where clients reach a listen address: a wildcard bind is reached on loopback. */
function listenHost(listen: string): string {
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return host === '0.0.0.0' || host === '' || host === '[::]' ? '127.0.0.1' : host;
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
}

// The sidecar's link to the control plane (bootstrap `dynamicResources.ads`):
// the workload identity (key in memory, CSR to the mesh CA, rotation) feeds
// the `default`/`ROOTCA` secrets, and the xDS client feeds snapshots
// (fail-static: the persisted last good config is applied first when the
// control plane cannot be reached). xDS runs over TLS verified with the CA
// root and authenticates with the bootstrap token.

import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import type { Logger } from '../common/log.js';
import { formatWorkloadId } from '../certs/spiffe.js';
import type { AdsConfig } from './config/bootstrap.js';
import { assertValidSnapshot } from './config/check.js';
import type { NodeInfo } from './config/resources.js';
import { CaClient } from './identity/ca-client.js';
import { ROOTCA_SECRET, workloadSecrets } from './identity/secrets.js';
import { WorkloadIdentityManager, type WorkloadCertificate } from './identity/workload-identity.js';
import { verifyChainToBundle } from './identity/verify-chain.js';
import { splitPemCerts } from '../certs/pem.js';
import type { Sidecar } from './sidecar.js';
import { XdsClient } from './xds/client.js';
import { SnapshotApplier } from './xds/snapshot-applier.js';
import { releaseStartupGarbage } from './v8-flags.js';

export interface MeshAgent {
  xds: XdsClient;
  identity: WorkloadIdentityManager | undefined;
  /** Resolves when the first certificate arrived (immediately without a CA). */
  identityReady: Promise<void>;
  stop(): void;
}

/** `adminAddress` (host:port of the admin listener) goes into the node metadata as TSMESH_ADMIN: the control plane's canary analysis reads the sidecar's metrics there. */
export function startMeshAgent(ads: AdsConfig, node: NodeInfo, sidecar: Sidecar, logger: Logger, extra: { adminAddress?: string } = {}): MeshAgent {
  const address = `${ads.address.address}:${ads.address.port}`;
  const serverName = ads.serverName ?? (isIp(ads.address.address) ? 'localhost' : ads.address.address);
  const token = ads.tokenFile ? () => readFileSync(ads.tokenFile!, 'utf8').trim() : undefined;

  let identity: WorkloadIdentityManager | undefined;
  let caClient: CaClient | undefined;
  let identityReady: Promise<void> = Promise.resolve();
  let creds: ChannelCredentials | undefined;
  let caRootPem: string | undefined;
  // The trust bundle the control plane pushes over xDS (ROOTCA) is the current one and wins over the bundle
  // that came with the last certificate: during a root rotation it changes first (old+new, new+old, new).
  let xdsBundle: string | undefined;
  let booting = false;
  // The first applied snapshot ends startup: collect its garbage once (v8-flags.ts).
  let collectStartupGarbage = true;
  let mismatchRenewals = 0;
  /** Re-issue when the certificate does not chain to the bundle's first (active) root: the CA switched roots. */
  const checkActiveRoot = (cert: WorkloadCertificate | undefined) => {
    const active = xdsBundle ? splitPemCerts(xdsBundle, 64)[0] : undefined;
    if (!identity || !cert || !active || mismatchRenewals >= 3) return;
    if (verifyChainToBundle(cert.certChainPem, active, Date.now(), 5 * 60_000) === undefined) return;
    mismatchRenewals++;
    logger.info('trust bundle has a new active root; re-issuing the workload certificate');
    identity.renewSoon(2000);
  };
  if (ads.caRootFile) {
    caRootPem = readFileSync(ads.caRootFile, 'utf8');
    const tlsCreds = grpcCredentials.createSsl(Buffer.from(caRootPem));
    creds = token
      ? grpcCredentials.combineChannelCredentials(
          tlsCreds,
          grpcCredentials.createFromMetadataGenerator((_params, cb) => {
            const md = new Metadata();
            try {
              md.set('authorization', `Bearer ${token()}`);
              cb(null, md);
            } catch (err) {
              cb(err as Error);
            }
          }),
        )
      : tlsCreds;
  }

  // The client expects a synchronous accept/reject (→ ACK/NACK): validation runs here, binding follows in order
  // (a listener that cannot bind yet is retried, snapshot-applier.ts).
  const applier = new SnapshotApplier(sidecar, logger, {
    onApplied: () => {
      if (collectStartupGarbage) setImmediate(releaseStartupGarbage);
      collectStartupGarbage = false;
    },
  });
  const xds = new XdsClient({
    server: address,
    ...(creds ? { credentials: creds, serverName } : {}),
    node,
    ...(ads.nodeMetadata || extra.adminAddress ? { nodeExtras: nodeExtras({ ...(extra.adminAddress ? { TSMESH_ADMIN: extra.adminAddress } : {}), ...ads.nodeMetadata }) } : {}),
    ...(ads.persistPath ? { persistPath: ads.persistPath } : {}),
    ...(ads.protocol ? { protocol: ads.protocol } : {}),
    backoff: { initialMs: ads.initialBackoff, maxMs: ads.maxBackoff, jitter: 0.5 },
    ...(ads.initialFetchTimeout !== undefined ? { initialFetchTimeoutMs: ads.initialFetchTimeout } : {}),
    apply: (snap) => {
      assertValidSnapshot(snap, { validateClusters: false });
      // A persisted (fail-static) snapshot's bundle may be older than the CA's: only a live push overrides it.
      const bundle = booting ? undefined : snap.resources.secret.get(ROOTCA_SECRET)?.validationContext?.trustedCa;
      // A live push came over the channel the CA shares: a certificate request that could not get through retries now.
      if (!booting) identity?.caReachable();
      if (bundle && bundle !== xdsBundle) {
        xdsBundle = bundle;
        mismatchRenewals = 0;
        if (identity?.current) sidecar.updateSecret({ name: ROOTCA_SECRET, validationContext: { trustedCa: bundle } });
        checkActiveRoot(identity?.current);
      }
      applier.apply(snap);
    },
    logger,
  });
  sidecar.setOnDemand((names) => xds.requestOnDemand(names));
  if (creds && token && caRootPem) {
    // Over the ADS connection (its credentials send the token): a rotation hours later needs no new TLS handshake.
    caClient = new CaClient({ address, caRootPem, serverName, channel: xds.channel });
    const sink = sidecar;
    identity = new WorkloadIdentityManager({
      spiffeId: formatWorkloadId(node.trustDomain, node.namespace, node.serviceAccount),
      ca: caClient,
      logger,
      ...(ads.certificateTtl ? { ttlMs: ads.certificateTtl } : {}),
      onUpdate: (cert) => {
        const [own, bundle] = workloadSecrets(cert);
        sink.updateSecret(own);
        sink.updateSecret(xdsBundle ? { name: ROOTCA_SECRET, validationContext: { trustedCa: xdsBundle } } : bundle);
        checkActiveRoot(cert);
        logger.info('workload certificate installed', { notAfter: new Date(cert.notAfter).toISOString() });
      },
    });
    identityReady = identity.start().then(() => undefined);
  }
  booting = true;
  try {
    xds.bootFromPersisted();
  } catch (err) {
    logger.warn('xds: persisted config unusable; waiting for the control plane', { error: (err as Error).message });
  }
  booting = false;
  xds.start();
  return {
    xds,
    identity,
    identityReady,
    stop: () => {
      applier.stop();
      xds.stop();
      identity?.stop();
      caClient?.close();
    },
  };
}

function nodeExtras(md: Record<string, string>) {
  const { INBOUND_ADDRESSES, OUTBOUND_ADDRESSES, ...rest } = md;
  return {
    ...(INBOUND_ADDRESSES ? { inboundAddresses: INBOUND_ADDRESSES.split(',') } : {}),
    ...(OUTBOUND_ADDRESSES ? { outboundAddresses: OUTBOUND_ADDRESSES.split(',') } : {}),
    metadata: rest,
  };
}

function isIp(h: string): boolean {
  return /^[0-9.]+$/.test(h) || h.includes(':');
}

// The policy side of the control plane, assembled: the embedded store (in
// the state dir), the embedded registry (self-registration plus an optional
// watched services file), the controller publishing into the xDS snapshot
// cache, and the admin API for meshctl. server.ts plugs it in:
//
//   const plane = await startPolicyPlane({ stateDir, cache, status: xds, ... });
//   new XdsServer({ cache, onConnect: plane.onConnect, ... });
//   cache.onDemand = (nodeId, _kind, names) => plane.controller.onDemand(nodeId, names);
//   // when a node's last stream ends: plane.onDisconnect(nodeId)
//
// It also runs the canaries (canary/host.ts): applied Canary resources step
// their routes' weights, reading the metrics of the sidecars at the admin
// address each one reports in its node metadata (TSMESH_ADMIN).

import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import type { ResourceMaps } from '../proxy/config/resources.js';
import { nodeMetadata, type NodeMsg } from '../proxy/xds/ads-wire.js';
import { AdminServer } from './admin/server.js';
import { loadOrCreateToken } from './admin/token.js';
import type { ProxyStatusSource } from './admin/types.js';
import { MeshController } from './controller.js';
import { EmbeddedRegistry } from './registry/embedded-registry.js';
import { ServicesFileWatcher } from './registry/file-source.js';
import { EmbeddedPolicyStore } from './store/embedded-store.js';
import { loadRegistryState, RegistryStatePersister } from './registry/registry-state.js';
import type { ServiceRegistry } from './registry/types.js';
import type { PolicyStore } from './store/types.js';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { ADMIN_ADDRESS_FILE } from './admin/client.js';
import { CanaryHost } from './canary/host.js';

export interface PolicyPlaneOptions {
  stateDir: string;
  /** The xDS snapshot cache (control-plane/xds/cache.ts). */
  cache: { setSnapshot(nodeId: string, version: string, resources: ResourceMaps): unknown };
  /** Proxy ACK/NACK state and receipts (the XdsServer). */
  status: ProxyStatusSource;
  servicesFile?: string;
  /** host:port for the admin API; default 127.0.0.1:0. */
  adminListen?: string;
  trustBundle?: () => string | undefined;
  debounceMs?: number;
  /** How long registrations restored after a restart wait for their sidecar to reconnect (default 120 s). */
  restoreGraceMs?: number;
  log?: Logger;
  /** A registry and store owned by the caller (Kubernetes mode: k8s/control-plane.ts) instead of the embedded ones;
   *  no self-registration, no services file, no registry.json (the API server is the state). */
  external?: { registry: ServiceRegistry; store: PolicyStore };
}

export interface PolicyPlane {
  controller: MeshController;
  registry: ServiceRegistry;
  store: PolicyStore;
  adminPort: number;
  adminToken: string;
  /** The admin API server (mesh-control-plane mounts the CA's root rotation on it). */
  admin: AdminServer;
  /** The canaries the control plane runs. */
  canaries: CanaryHost;
  /** XdsServer onConnect: registers the sidecar and computes its config. */
  onConnect(nodeId: string, node: NodeMsg): void;
  /** XdsServer onDisconnect: the node's last stream ended. */
  onDisconnect(nodeId: string): void;
  close(): Promise<void>;
}

export async function startPolicyPlane(opts: PolicyPlaneOptions): Promise<PolicyPlane> {
  const log = opts.log ?? silentLogger;
  const embedded = opts.external ? undefined : new EmbeddedRegistry();
  const store = opts.external?.store ?? (await EmbeddedPolicyStore.open(opts.stateDir));
  const registry: ServiceRegistry = opts.external?.registry ?? embedded!;
  let persister: RegistryStatePersister | undefined;
  const controller = new MeshController({
    store,
    registry,
    ...(embedded ? { selfRegistration: embedded } : {}),
    debounceMs: opts.debounceMs,
    log,
    trustBundle: opts.trustBundle,
    onStateChange: () => persister?.changed(),
    // Receipts are keyed by the store version, which is what an apply returns.
    publish: (nodeId, resources, meta) => {
      try {
        opts.cache.setSnapshot(nodeId, String(meta.storeVersion), resources);
      } catch (e) {
        log.error('snapshot refused; proxy keeps its previous config', { nodeId, error: e as Error });
      }
    },
  });
  // Serve the endpoints and scoped configs of before a restart while sidecars reconnect.
  const stateFile = join(opts.stateDir, 'registry.json');
  const saved = embedded ? await loadRegistryState(stateFile, log) : undefined;
  if (saved) controller.restore(saved, opts.restoreGraceMs);
  persister = new RegistryStatePersister(stateFile, () => controller.state(), { log });
  const watcher = opts.servicesFile && embedded ? new ServicesFileWatcher(opts.servicesFile, embedded, { log }) : undefined;
  await watcher?.start();
  const token = await loadOrCreateToken(opts.stateDir);
  const [host, port] = splitHostPort(opts.adminListen ?? '127.0.0.1:0');
  const admin = new AdminServer({ store, registry, proxies: opts.status, token, host, port, log, dependencies: (id) => controller.dependencies(id) });
  const addr = await admin.listen();
  // meshctl finds the admin API (and its token) through the state dir.
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  await writeFile(join(opts.stateDir, ADMIN_ADDRESS_FILE), `http://${shown}:${addr.port}\n`, { mode: 0o600 });
  const canaries = new CanaryHost({ store, registry, status: opts.status, stateDir: opts.stateDir, log });
  admin.setCanaries(canaries);
  await canaries.start();
  return {
    controller,
    registry,
    store,
    adminPort: addr.port,
    adminToken: token,
    admin,
    canaries,
    onConnect(nodeId, node) {
      const metadata = nodeMetadata(node);
      canaries.nodeConnected(nodeId, node.cluster ?? '', metadata, opts.status.proxies().find((p) => p.nodeId === nodeId)?.address?.split(',')[0]);
      try {
        controller.nodeConnected({ id: nodeId, cluster: node.cluster ?? '', metadata });
      } catch (e) {
        log.warn('sidecar not registered: bad node metadata', { nodeId, error: e as Error });
      }
    },
    onDisconnect(nodeId) {
      controller.nodeDisconnected(nodeId);
      canaries.nodeDisconnected(nodeId);
    },
    async close() {
      await canaries.close();
      controller.close();
      persister!.close();
      await persister!.flush();
      watcher?.close();
      await admin.close();
    },
  };
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad admin address "${s}" (want host:port)`);
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), port];
}

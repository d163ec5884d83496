// The mesh-control-plane process, composed: one grpc-js server carrying the
// xDS ADS service (and, through `services`, the CA). Snapshots come from the
// policy plane (store + registry + translator + admin API) or, with
// `staticSnapshot`, from a YAML file of xDS resources.

import { mkdirSync } from 'node:fs';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { MeshError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { NodeMsg } from '../proxy/xds/ads-wire.js';
import { startPolicyPlane, type PolicyPlane, type PolicyPlaneOptions } from './policy-plane.js';
import { MemorySnapshotCache, type SnapshotCache } from './xds/cache.js';
import { startStaticSource, type StaticSource } from './xds/static-source.js';
import type { AuthorizeNode } from './xds/stream.js';
import { XdsServer } from './xds/xds-server.js';
import type { RootRotationApi } from './admin/root-rotation.js';

/** Adds a gRPC service (the CA, …) to the shared server. */
export type ServicePlugin = (server: Server, deps: { cache: SnapshotCache; xds: XdsServer; logger: Logger }) => void;

export interface ControlPlaneOptions {
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  stateDir: string;
  /** Serve snapshots from this YAML file instead of the policy plane. */
  staticSnapshot?: string;
  /** Admin API address (policy plane mode); default 127.0.0.1:0. */
  adminListen?: string;
  /** Watched YAML file of services and endpoints for the embedded registry. */
  servicesFile?: string;
  trustBundle?: () => string | undefined;
  credentials?: ServerCredentials;
  authorizeNode?: AuthorizeNode;
  services?: ServicePlugin[];
  logger?: Logger;
  debounceMs?: number;
  /** The CA's root rotation, mounted on the admin API (mesh-control-plane with its CA). */
  rootRotation?: (deps: { cache: SnapshotCache; xds: XdsServer; plane: PolicyPlane }) => RootRotationApi;
  /** Kubernetes mode: the registry and store k8s/control-plane.ts started. */
  external?: PolicyPlaneOptions['external'];
}

export interface RunningControlPlane {
  port: number;
  server: Server;
  xds: XdsServer;
  cache: SnapshotCache;
  /** Present in policy-plane mode. */
  plane?: PolicyPlane;
  /** Present in static-snapshot mode. */
  statics?: StaticSource;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const log = opts.logger ?? silentLogger;
  mkdirSync(opts.stateDir, { recursive: true });
  const cache = new MemorySnapshotCache();
  // Hooks are bound late: the XdsServer is the policy plane's status source and the plane feeds the server.
  let onConnect: ((nodeId: string, node: NodeMsg) => void) | undefined;
  let onDisconnect: ((nodeId: string) => void) | undefined;
  const xds = new XdsServer({
    cache,
    logger: log,
    ...(opts.authorizeNode ? { authorizeNode: opts.authorizeNode } : {}),
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
    onConnect: (id, node) => onConnect?.(id, node),
    onDisconnect: (id) => onDisconnect?.(id),
  });
  let plane: PolicyPlane | undefined;
  let statics: StaticSource | undefined;
  if (opts.staticSnapshot) {
    statics = startStaticSource(opts.staticSnapshot, cache, log);
    onConnect = (id) => statics!.nodeConnected(id);
  } else {
    plane = await startPolicyPlane({
      stateDir: opts.stateDir,
      cache,
      status: xds,
      log,
      ...(opts.servicesFile ? { servicesFile: opts.servicesFile } : {}),
      ...(opts.adminListen ? { adminListen: opts.adminListen } : {}),
      ...(opts.trustBundle ? { trustBundle: opts.trustBundle } : {}),
      ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
      ...(opts.external ? { external: opts.external } : {}),
    });
    const p = plane;
    onConnect = (id, node) => p.onConnect(id, node);
    onDisconnect = (id) => p.onDisconnect(id);
    cache.onDemand = (id, _kind, names) => p.controller.onDemand(id, names);
    if (opts.rootRotation) p.admin.setRootRotation(opts.rootRotation({ cache, xds, plane: p }));
  }
  // Without channelz (grpc-js per-call introspection, on by default, unused): ~5-10% of the xDS push CPU.
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.enable_channelz': 0 });
  xds.register(server);
  for (const plugin of opts.services ?? []) plugin(server, { cache, xds, logger: log });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(opts.listen, opts.credentials ?? ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(new MeshError('MESH_LISTEN', `cannot listen on ${opts.listen}: ${err.message}`, { cause: err })) : resolve(p),
      ),
    );
  } catch (err) {
    statics?.close();
    await plane?.close();
    throw err;
  }
  log.info('control plane listening', { address: opts.listen, port, mode: statics ? 'static-snapshot' : 'policy', adminPort: plane?.adminPort });
  return {
    port,
    server,
    xds,
    cache,
    ...(plane ? { plane } : {}),
    ...(statics ? { statics } : {}),
    close: async () => {
      statics?.close();
      await plane?.close();
      xds.close();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        t.unref();
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}

// The mesh-control-plane process, composed: one grpc-js server carrying the
// xDS ADS service; the CA and the admin API plug in through `services`. Until
// the policy translator is wired in, snapshots can come from a static YAML file.

import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { MeshError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { MemorySnapshotCache, type SnapshotCache } from './xds/cache.js';
import { loadStaticSnapshots, type StaticSnapshots } from './xds/static-snapshot.js';
import type { AuthorizeNode } from './xds/stream.js';
import { XdsServer } from './xds/xds-server.js';

/** Adds a gRPC service (the CA, the admin API) to the shared server. */
export type ServicePlugin = (server: Server, deps: { cache: SnapshotCache; xds: XdsServer; logger: Logger }) => void;

export interface ControlPlaneOptions {
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  stateDir?: string;
  staticSnapshot?: string;
  credentials?: ServerCredentials;
  authorizeNode?: AuthorizeNode;
  services?: ServicePlugin[];
  logger?: Logger;
  debounceMs?: number;
}

export interface RunningControlPlane {
  port: number;
  server: Server;
  xds: XdsServer;
  cache: SnapshotCache;
  /** Reloads the static snapshot file (also done on change); throws ValidationError and keeps the old one if invalid. */
  reload(): void;
  close(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const log = opts.logger ?? silentLogger;
  if (opts.stateDir) mkdirSync(opts.stateDir, { recursive: true });
  const cache = new MemorySnapshotCache();
  let statics: StaticSnapshots | undefined;
  const connected = new Set<string>();
  const publish = (nodeId: string) => {
    const res = statics?.forNode(nodeId);
    if (res && cache.getSnapshot(nodeId)?.version !== statics!.version) cache.setSnapshot(nodeId, statics!.version, res);
  };
  const xds = new XdsServer({
    cache,
    logger: log,
    ...(opts.authorizeNode ? { authorizeNode: opts.authorizeNode } : {}),
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
    onConnect: (nodeId) => {
      connected.add(nodeId);
      publish(nodeId);
    },
  });
  const reload = () => {
    if (!opts.staticSnapshot) return;
    statics = loadStaticSnapshots(opts.staticSnapshot);
    for (const id of new Set([...connected, ...cache.nodeIds()])) publish(id);
    log.info('static snapshot loaded', { file: opts.staticSnapshot, version: statics.version, nodes: [...statics.nodes.keys()] });
  };
  reload();
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  xds.register(server);
  for (const plugin of opts.services ?? []) plugin(server, { cache, xds, logger: log });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.listen, opts.credentials ?? ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new MeshError('MESH_LISTEN', `cannot listen on ${opts.listen}: ${err.message}`, { cause: err })) : resolve(p),
    ),
  );
  let watcher: FSWatcher | undefined;
  if (opts.staticSnapshot) {
    let timer: NodeJS.Timeout | undefined;
    watcher = watch(opts.staticSnapshot, () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        try {
          reload();
        } catch (err) {
          log.error('static snapshot rejected; keeping the previous one', { err });
        }
      }, 100);
    });
  }
  log.info('control plane listening', { address: opts.listen, port });
  return {
    port,
    server,
    xds,
    cache,
    reload,
    close: () =>
      new Promise<void>((resolve) => {
        watcher?.close();
        xds.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000).unref();
      }),
  };
}

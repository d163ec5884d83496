// Publishes a static snapshot file into the cache: to every node that
// connects (its own entry or "*") and again to all of them when the file
// changes. An invalid edit is refused whole and the previous snapshot stays.

import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../common/log.js';
import type { SnapshotCache } from './cache.js';
import { loadStaticSnapshots, type StaticSnapshots } from './static-snapshot.js';

export interface StaticSource {
  nodeConnected(nodeId: string): void;
  /** Re-reads the file; throws ValidationError (keeping the old snapshot) when it is invalid. */
  reload(): void;
  close(): void;
}

export function startStaticSource(file: string, cache: SnapshotCache, log: Logger): StaticSource {
  let current: StaticSnapshots = loadStaticSnapshots(file);
  const nodes = new Set<string>();
  const publish = (nodeId: string) => {
    const res = current.forNode(nodeId);
    if (res && cache.getSnapshot(nodeId)?.version !== current.version) cache.setSnapshot(nodeId, current.version, res);
  };
  const reload = () => {
    current = loadStaticSnapshots(file);
    for (const id of nodes) publish(id);
    log.info('static snapshot loaded', { file, version: current.version, nodes: [...current.nodes.keys()] });
  };
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(file, () => {
    clearTimeout(timer);
    // Editors write in several steps; read once they are done.
    timer = setTimeout(() => {
      try {
        reload();
      } catch (err) {
        log.error('static snapshot rejected; keeping the previous one', { err });
      }
    }, 100);
  });
  return {
    nodeConnected(nodeId) {
      nodes.add(nodeId);
      publish(nodeId);
    },
    reload,
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

// Publishes the mesh's trust bundle as ConfigMap `tsmesh-ca-root` (key
// root-cert.pem) into every namespace, as istiod does with
// istio-ca-root-cert: injected sidecars mount it to verify peers and the
// control plane. Namespaces are watched, so new ones get it at once; a
// changed bundle (root rotation) is re-published everywhere. Writes are
// server-side apply, so concurrent control-plane replicas agree.

import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../common/log.js';
import { ListWatcher, type KubeObject, type ListPage, type ListWatchOptions } from '../client/list-watch.js';

export const TRUST_BUNDLE_CONFIGMAP = 'tsmesh-ca-root';
export const TRUST_BUNDLE_KEY = 'root-cert.pem';
export const FIELD_MANAGER = 'tsmesh-control-plane';

export class TrustBundlePublisher {
  private readonly core: CoreV1Api;
  private readonly watcher: ListWatcher<KubeObject>;
  private readonly namespaces = new Set<string>();
  private readonly published = new Map<string, string>();
  private readonly log: Logger;

  constructor(
    kc: KubeConfig,
    private bundlePem: string,
    opts: ListWatchOptions & { logger?: Logger } = {},
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.log = opts.logger ?? silentLogger;
    const list = (p: { limit: number; _continue?: string }) => this.core.listNamespace(p) as unknown as Promise<ListPage<KubeObject>>;
    this.watcher = new ListWatcher<KubeObject>(kc, '/api/v1/namespaces', list, {
      replace: (items) => {
        this.namespaces.clear();
        for (const ns of items) this.namespaces.add(ns.metadata.name);
        void this.publishAll();
      },
      apply: (type, ns) => {
        if (type === 'DELETED') {
          this.namespaces.delete(ns.metadata.name);
          this.published.delete(ns.metadata.name);
        } else if (!this.namespaces.has(ns.metadata.name)) {
          this.namespaces.add(ns.metadata.name);
          void this.publish(ns.metadata.name);
        }
      },
    }, { ...opts, logger: this.log });
  }

  start(): Promise<void> {
    return this.watcher.start();
  }

  stop(): void {
    this.watcher.stop();
  }

  /** A new bundle (root rotation: old + new roots): re-published to every namespace. */
  setBundle(pem: string): Promise<void> {
    this.bundlePem = pem;
    return this.publishAll();
  }

  /** Namespaces that currently have this process's bundle. */
  publishedNamespaces(): string[] {
    return [...this.published].filter(([, pem]) => pem === this.bundlePem).map(([ns]) => ns).sort();
  }

  private async publishAll(): Promise<void> {
    await Promise.all([...this.namespaces].map((ns) => this.publish(ns)));
  }

  private async publish(namespace: string): Promise<void> {
    const pem = this.bundlePem;
    if (this.published.get(namespace) === pem) return;
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace, labels: { 'app.kubernetes.io/part-of': 'tsmesh' } },
      data: { [TRUST_BUNDLE_KEY]: pem },
    };
    try {
      await this.core.patchNamespacedConfigMap(
        { name: TRUST_BUNDLE_CONFIGMAP, namespace, body, fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
      this.published.set(namespace, pem);
    } catch (err) {
      // Terminating namespaces refuse new objects; the next bundle change or relist retries.
      this.log.warn('cannot publish the trust bundle', { namespace, err: (err as Error).message });
    }
  }
}

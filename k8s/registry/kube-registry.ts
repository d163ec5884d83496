// ServiceRegistry backed by the Kubernetes API: Services, EndpointSlices and
// Pods, each list-watched. Watch events produce per-service change events; a
// full (re)list is diffed against the current view and produces one
// `resync` event if anything changed, so a relist never causes a push storm.

import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { RegistryEvent, ServiceEndpoint, ServiceInfo, ServiceRegistry } from '../../control-plane/registry/types.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { ListWatcher, objectKey, type KubeObject, type ListFn, type ListPage, type ListWatchOptions, type WatchEventType } from '../client/list-watch.js';
import { SERVICE_NAME_LABEL, slimPod, toEndpoints, toServiceInfo, type KubeEndpointSlice, type KubePod, type KubeService } from './mapping.js';

export interface KubeRegistryOptions extends ListWatchOptions {
  trustDomain?: string;
  clusterDomain?: string;
  logger?: Logger;
}

const svcKeyOfSlice = (s: KubeEndpointSlice) => {
  const name = s.metadata.labels?.[SERVICE_NAME_LABEL];
  return name ? `${s.metadata.namespace ?? ''}/${name}` : undefined;
};

export class KubernetesRegistry implements ServiceRegistry {
  private readonly svcObjects = new Map<string, KubeService>();
  private readonly slices = new Map<string, KubeEndpointSlice>();
  private readonly pods = new Map<string, KubePod>();
  /** service key → slice keys; pod key → service keys (to find what a pod change affects). */
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly servicesByPod = new Map<string, Set<string>>();
  private infoView = new Map<string, ServiceInfo>();
  private endpointView = new Map<string, ServiceEndpoint[]>();
  private readonly listeners = new Set<(ev: RegistryEvent) => void>();
  private readonly watchers: ListWatcher<KubeObject>[] = [];
  private started = false;
  private readonly trustDomain: string;
  private readonly clusterDomain: string;
  private readonly log: Logger;

  constructor(kc: KubeConfig, opts: KubeRegistryOptions = {}) {
    this.trustDomain = opts.trustDomain ?? 'cluster.local';
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    this.log = opts.logger ?? silentLogger;
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const page = (p: Promise<unknown>) => p as Promise<ListPage<KubeObject>>;
    const watcher = (path: string, list: ListFn<KubeObject>, map: Map<string, KubeObject>, onEvent: (type: WatchEventType, o: KubeObject) => void, slim = (o: KubeObject) => o) =>
      new ListWatcher<KubeObject>(kc, path, list, { replace: (items) => this.replace(map, items.map(slim)), apply: (t, o) => onEvent(t, slim(o)) }, { ...opts, logger: this.log });
    this.watchers.push(
      watcher('/api/v1/services', (p) => page(core.listServiceForAllNamespaces(p)), this.svcObjects as Map<string, KubeObject>, (t, o) => this.onService(t, o as KubeService)),
      watcher('/apis/discovery.k8s.io/v1/endpointslices', (p) => page(discovery.listEndpointSliceForAllNamespaces(p)), this.slices as Map<string, KubeObject>, (t, o) => this.onSlice(t, o as KubeEndpointSlice)),
      watcher('/api/v1/pods', (p) => page(core.listPodForAllNamespaces(p)), this.pods as Map<string, KubeObject>, (t, o) => this.onPod(t, o as KubePod), (o) => slimPod(o as KubePod)),
    );
  }

  /** Initial list of all three collections (rejects on failure), then watches in the background. */
  async start(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.start()));
    this.started = true;
    this.rebuild(false);
  }

  close(): void {
    for (const w of this.watchers) w.stop();
  }

  /** How many lists each collection has done (services, endpointslices, pods). */
  listCounts(): number[] {
    return this.watchers.map((w) => w.lists);
  }

  services(): readonly ServiceInfo[] {
    return [...this.infoView.values()];
  }
  service(namespace: string, name: string): ServiceInfo | undefined {
    return this.infoView.get(`${namespace}/${name}`);
  }
  endpoints(namespace: string, name: string): readonly ServiceEndpoint[] {
    return this.endpointView.get(`${namespace}/${name}`) ?? [];
  }
  onChange(listener: (ev: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ updates

  private replace(map: Map<string, KubeObject>, items: KubeObject[]): void {
    map.clear();
    for (const o of items) map.set(objectKey(o), o);
    if (map === (this.slices as Map<string, KubeObject>)) this.reindexSlices();
    if (this.started) this.rebuild(true);
  }

  private onService(type: WatchEventType, svc: KubeService): void {
    const key = objectKey(svc);
    if (type === 'DELETED') this.svcObjects.delete(key);
    else this.svcObjects.set(key, svc);
    this.refresh([key]);
  }

  private onSlice(type: WatchEventType, slice: KubeEndpointSlice): void {
    const key = objectKey(slice);
    const before = this.slices.get(key);
    if (type === 'DELETED') this.slices.delete(key);
    else this.slices.set(key, slice);
    const affected = new Set<string>();
    for (const s of [before, type === 'DELETED' ? undefined : slice]) {
      const svc = s && svcKeyOfSlice(s);
      if (svc) affected.add(svc);
    }
    this.reindexSlices();
    this.refresh([...affected]);
  }

  private onPod(type: WatchEventType, pod: KubePod): void {
    const key = objectKey(pod);
    if (type === 'DELETED') this.pods.delete(key);
    else this.pods.set(key, pod);
    this.refresh([...(this.servicesByPod.get(key) ?? [])]);
  }

  private reindexSlices(): void {
    this.slicesByService.clear();
    this.servicesByPod.clear();
    for (const [key, slice] of this.slices) {
      const svc = svcKeyOfSlice(slice);
      if (!svc) continue;
      let set = this.slicesByService.get(svc);
      if (!set) this.slicesByService.set(svc, (set = new Set()));
      set.add(key);
      for (const ep of slice.endpoints ?? []) {
        if (ep.targetRef?.kind !== 'Pod' || !ep.targetRef.name) continue;
        const podKey = `${ep.targetRef.namespace ?? slice.metadata.namespace ?? ''}/${ep.targetRef.name}`;
        let svcs = this.servicesByPod.get(podKey);
        if (!svcs) this.servicesByPod.set(podKey, (svcs = new Set()));
        svcs.add(svc);
      }
    }
  }

  private compute(key: string): { info?: ServiceInfo; endpoints: ServiceEndpoint[] } {
    const svc = this.svcObjects.get(key);
    const info = svc ? toServiceInfo(svc, this.clusterDomain) : undefined;
    if (!info) return { endpoints: [] };
    const slices = [...(this.slicesByService.get(key) ?? [])].map((k) => this.slices.get(k)!).filter(Boolean);
    return { info, endpoints: toEndpoints(info, slices, (k) => this.pods.get(k), this.trustDomain) };
  }

  /** Recompute some services after watch events; one event per actual change. */
  private refresh(keys: string[]): void {
    if (!this.started) return;
    const events: RegistryEvent[] = [];
    for (const key of keys) {
      const [namespace, name] = key.split('/') as [string, string];
      const { info, endpoints } = this.compute(key);
      if (JSON.stringify(info) !== JSON.stringify(this.infoView.get(key))) {
        if (info) this.infoView.set(key, info);
        else this.infoView.delete(key);
        events.push({ type: 'service', namespace, name });
      }
      if (JSON.stringify(endpoints) !== JSON.stringify(this.endpointView.get(key) ?? [])) {
        if (endpoints.length) this.endpointView.set(key, endpoints);
        else this.endpointView.delete(key);
        events.push({ type: 'endpoints', namespace, name });
      }
    }
    for (const ev of events) this.emit(ev);
  }

  /** Recompute everything (after a relist): at most one `resync` event. */
  private rebuild(notify: boolean): void {
    const info = new Map<string, ServiceInfo>();
    const eps = new Map<string, ServiceEndpoint[]>();
    for (const key of this.svcObjects.keys()) {
      const c = this.compute(key);
      if (c.info) info.set(key, c.info);
      if (c.endpoints.length) eps.set(key, c.endpoints);
    }
    const same = (a: Map<string, unknown>, b: Map<string, unknown>) => a.size === b.size && [...a].every(([k, v]) => JSON.stringify(v) === JSON.stringify(b.get(k)));
    const changed = !same(info, this.infoView) || !same(eps, this.endpointView);
    this.infoView = info;
    this.endpointView = eps;
    if (notify && changed) this.emit({ type: 'resync' });
  }

  private emit(ev: RegistryEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (err) {
        this.log.error('registry listener threw', { err });
      }
    }
  }
}

import { CoreV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { FakeApiServer } from '../test/fake-apiserver.js';
import { ListWatcher, type KubeObject, type ListPage } from './list-watch.js';

const PATH = '/api/v1/configmaps';
const obj = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', resourceVersion: rv }, data: {} });

let api: FakeApiServer;
let clock: ManualClock;
let w: ListWatcher<KubeObject>;
let log: string[];

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  api.setList(PATH, 'ConfigMapList', '10', [obj('a', '5')]);
  clock = new ManualClock();
  log = [];
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  w = new ListWatcher<KubeObject>(
    api.kubeConfig(),
    PATH,
    (p) => core.listConfigMapForAllNamespaces(p) as unknown as Promise<ListPage<KubeObject>>,
    { replace: (items, rv) => log.push(`replace ${items.map((i) => i.metadata.name).join(',')} @${rv}`), apply: (t, o) => log.push(`${t} ${o.metadata.name}`) },
    { clock, backoffMs: { initial: 1000, max: 8000 } },
  );
});
afterEach(async () => {
  w.stop();
  await api.close();
});

const watchCount = () => api.watches.filter((x) => x.path === PATH).length;

describe('ListWatcher', () => {
  it('backs off (on the injected clock) when the watch fails, then resumes from the list version', async () => {
    api.failNext('GET', PATH, { watch: true, status: 500, times: 2 });
    await w.start();
    // the failure is seen: a retry is scheduled on the clock, nothing else happens
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    expect(watchCount()).toBe(0);
    clock.advance(999);
    expect(api.requests.filter((r) => r.includes('watch=true')).length).toBe(1); // not before the backoff
    clock.advance(1);
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    expect(api.requests.filter((r) => r.includes('watch=true')).length).toBe(2);
    clock.advance(1999);
    expect(api.requests.filter((r) => r.includes('watch=true')).length).toBe(2);
    clock.advance(1); // the second failure doubles the delay
    await api.until(() => watchCount() === 1);
    expect(api.openWatch(PATH)!.resourceVersion).toBe('10');
    expect(log).toEqual(['replace a @10']);
  });

  it('after 410 Gone, a failing relist is retried with backoff until it succeeds', async () => {
    await w.start();
    await api.until(() => watchCount() === 1);
    api.setList(PATH, 'ConfigMapList', '20', [obj('a', '5'), obj('c', '19')]);
    api.failNext('GET', PATH, { watch: false, status: 503 });
    api.expire(PATH);
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    expect(api.requests.filter((r) => !r.includes('watch=true')).length).toBe(2);
    expect(log).toEqual(['replace a @10']);
    clock.advance(1000);
    await api.until(() => watchCount() === 2);
    expect(log).toEqual(['replace a @10', 'replace a,c @20']);
    expect(api.openWatch(PATH)!.resourceVersion).toBe('20');
    expect(w.lists).toBe(2);
  });
});

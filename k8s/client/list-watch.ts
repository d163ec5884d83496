// List + watch of one resource collection, as client-go's reflector does:
// a paginated list (one consistent snapshot), then a watch from its
// resourceVersion with bookmarks; a dropped watch resumes from the last
// resourceVersion seen; 410 Gone (the version was compacted away) forces a
// relist. A (re)list is handed over whole (`replace`), so consumers can
// apply it as one change instead of one event per object.

import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchHandlers<T extends KubeObject> {
  /** The full current collection (initial list and every relist). */
  replace(items: T[], resourceVersion: string): void;
  /** One watch event. */
  apply(type: WatchEventType, obj: T): void;
}

export interface ListWatchOptions {
  clock?: Clock;
  logger?: Logger;
  pageSize?: number;
  /** Server-side watch timeout; the watch is then resumed (keeps connections fresh through load balancers). */
  watchTimeoutSeconds?: number;
  backoffMs?: { initial: number; max: number };
  /**
   * A collection whose CRD may not be installed (yet): a 404 on the first list serves it as empty and
   * lists again with backoff (up to 30 s) until it exists, instead of failing start(). `hint` says how
   * to install it, in the warning.
   */
  optional?: { hint: string };
}

export interface ListPage<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; _continue?: string; continue?: string };
}

/** One page of the collection (a generated API client's list call). */
export type ListFn<T> = (page: { limit: number; _continue?: string }) => Promise<ListPage<T>>;

export const objectKey = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class ListWatcher<T extends KubeObject> {
  private resourceVersion = '';
  private stopped = false;
  private abort?: AbortController;
  private retryTimer?: Timer;
  private failures = 0;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly watch: Watch;
  /** Number of completed lists (tests and metrics: a relist happened). */
  lists = 0;

  constructor(
    kc: KubeConfig,
    /** Collection path for the watch, e.g. /api/v1/services or /apis/discovery.k8s.io/v1/endpointslices. */
    readonly path: string,
    private readonly listPage: ListFn<T>,
    private readonly handlers: ListWatchHandlers<T>,
    private readonly opts: ListWatchOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ watch: path });
    this.watch = new Watch(kc);
  }

  /** Lists once (rejects if that fails, except a missing optional collection), then keeps watching in the background. */
  async start(): Promise<void> {
    try {
      await this.list();
    } catch (err) {
      if (!this.opts.optional || (err as { code?: number } | null)?.code !== 404) throw err;
      // Its CRD is not installed: nothing of this kind exists. An install or upgrade that adds it is picked up.
      this.log.warn('collection not found (its CRD is not installed); served as empty until it appears', { hint: this.opts.optional.hint });
      this.handlers.replace([], '');
      this.retryLater(() => this.relist());
      return;
    }
    void this.startWatch();
  }

  stop(): void {
    this.stopped = true;
    this.retryTimer?.cancel();
    this.abort?.abort();
  }

  private async list(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.listPage({ limit: this.opts.pageSize ?? 500, ...(cont ? { _continue: cont } : {}) });
      items.push(...(page.items ?? []));
      cont = page.metadata?._continue || page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    this.resourceVersion = rv;
    this.lists++;
    this.handlers.replace(items, rv);
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    let gone = false;
    let sawEvent = false;
    const onEvent = (type: string, obj: T & { code?: number; message?: string }) => {
      if (type === 'ERROR') {
        if (obj.code === 410) gone = true;
        else this.log.warn('watch error event', { code: obj.code, message: obj.message });
        return;
      }
      sawEvent = true;
      const rv = obj.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      if (type === 'BOOKMARK') return;
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.handlers.apply(type, obj);
    };
    const onDone = (err: unknown) => {
      this.abort = undefined;
      if (this.stopped) return;
      const status = (err as { statusCode?: number } | null)?.statusCode;
      // Watch's client-side inactivity timeout on a quiet collection: just resume.
      if ((err as Error | null)?.name === 'TimeoutError') err = null;
      if (gone || status === 410) {
        this.log.info('watch expired (410 Gone); relisting');
        this.failures = 0;
        void this.relist();
      } else if (err && !sawEvent) {
        this.log.warn('watch failed; retrying', { err: (err as Error).message ?? String(err) });
        this.retryLater(() => this.startWatch());
      } else {
        this.failures = 0;
        void this.startWatch(); // closed by the server (timeout) or after events: resume from the last version
      }
    };
    try {
      this.abort = await this.watch.watch(
        this.path,
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 },
        onEvent,
        onDone,
      );
      if (this.stopped) this.abort.abort(); // stopped while the watch was connecting
    } catch (err) {
      onDone(err);
    }
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.list();
      this.failures = 0;
      void this.startWatch();
    } catch (err) {
      // A collection still missing (optional, 404) was warned about once, at start.
      if (!this.opts.optional || (err as { code?: number } | null)?.code !== 404) this.log.warn('relist failed; retrying', { err: (err as Error).message });
      this.retryLater(() => this.relist());
    }
  }

  private retryLater(fn: () => Promise<void>): void {
    const b = this.opts.backoffMs ?? { initial: 500, max: 30_000 };
    const delay = Math.min(b.max, b.initial * 2 ** this.failures++);
    this.retryTimer = this.clock.setTimeout(() => void fn(), delay);
  }
}

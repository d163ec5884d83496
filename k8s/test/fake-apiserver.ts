// The other side of the Kubernetes API protocol for tests: serves recorded
// list responses (paginated with limit/continue), and watch streams the test
// scripts event by event (chunked JSON lines, as the API server writes them).
// It enforces what a real API server would: bearer token, a resourceVersion
// on every watch, and list-then-watch ordering.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import fjp from 'fast-json-patch';

export interface WatchRequest {
  path: string;
  resourceVersion: string;
  allowWatchBookmarks: boolean;
  res: http.ServerResponse;
}

export class FakeApiServer {
  private server = http.createServer((req, res) => this.handle(req, res));
  private lists = new Map<string, { items: unknown[]; resourceVersion: string; kind: string }>();
  readonly watches: WatchRequest[] = [];
  readonly requests: string[] = [];
  readonly problems: string[] = [];
  private waiters: (() => void)[] = [];
  port = 0;

  constructor(private readonly token = 'test-token') {}

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const w of this.watches) w.res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: this.token }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  setList(path: string, kind: string, resourceVersion: string, items: unknown[]): void {
    this.lists.set(path, { items, resourceVersion, kind });
  }

  /** The currently open watch on `path` (the latest one). */
  openWatch(path: string): WatchRequest | undefined {
    return [...this.watches].reverse().find((w) => w.path === path && !w.res.writableEnded && !w.res.destroyed);
  }

  send(path: string, type: string, object: unknown): void {
    const w = this.openWatch(path);
    if (!w) throw new Error(`no open watch on ${path}`);
    w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  /** What the API server does when the watch's resourceVersion was compacted. */
  expire(path: string): void {
    const w = this.openWatch(path);
    if (!w) throw new Error(`no open watch on ${path}`);
    w.res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${w.resourceVersion}`, reason: 'Expired', code: 410 } }) + '\n');
  }

  /** A dropped connection (load balancer idle timeout, API server restart). */
  drop(path: string): void {
    this.openWatch(path)?.res.destroy();
  }

  /** Resolves once `pred` holds, re-checked on every request the server sees. */
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Wake `until` waiters (call after state the predicate reads may have changed). */
  poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private rv = 5000;
  /** Answer the next N requests matching (method, path, watch?) with this status (an outage). */
  private failures: { method: string; path: string; watch: boolean; status: number; remaining: number }[] = [];

  failNext(method: string, path: string, opts: { watch: boolean; status?: number; times?: number }): void {
    this.failures.push({ method, path, watch: opts.watch, status: opts.status ?? 500, remaining: opts.times ?? 1 });
  }
  /**
   * Tokens TokenReview knows: token → the service account user it belongs to
   * and the audiences it was minted for (as the API server checks a projected token).
   */
  readonly tokens = new Map<string, { username: string; audiences: string[] }>();
  readonly tokenReviews: { token: string; audiences: string[] }[] = [];

  /** POST …/tokenreviews, answered as kube-apiserver does (201 with status; never stored). */
  private handleTokenReview(text: string, res: http.ServerResponse): void {
    const tr = JSON.parse(text) as { apiVersion?: string; kind?: string; spec?: { token?: string; audiences?: string[] } };
    const token = tr.spec?.token ?? '';
    const wanted = tr.spec?.audiences ?? [];
    this.tokenReviews.push({ token, audiences: wanted });
    const known = this.tokens.get(token);
    let status: object;
    if (tr.apiVersion !== 'authentication.k8s.io/v1' || tr.kind !== 'TokenReview') status = { authenticated: false, error: 'not a TokenReview' };
    else if (!known) status = { user: {}, error: '[invalid bearer token, service account token has been invalidated]' };
    else {
      const audiences = wanted.length ? known.audiences.filter((a) => wanted.includes(a)) : known.audiences;
      status = audiences.length
        ? { authenticated: true, user: { username: known.username, groups: ['system:serviceaccounts', 'system:authenticated'] }, audiences }
        : { user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(known.audiences)} is invalid for the target audiences ${JSON.stringify(wanted)}]` };
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ...tr, metadata: { creationTimestamp: null }, status }));
    this.poke();
  }

  /** Single objects by path (GET, PATCH). */
  readonly objects = new Map<string, any>();
  readonly patches: { path: string; contentType: string; body: any }[] = [];

  /** POST to a collection: creates the object under <collection>/<name>; 409 if it exists (as the API server). */
  private handleCreate(url: URL, text: string, res: http.ServerResponse): void {
    const body = JSON.parse(text);
    const path = `${url.pathname}/${body.metadata?.name}`;
    if (this.objects.has(path)) {
      res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 409, reason: 'AlreadyExists', message: `${path} already exists` }));
    } else {
      this.objects.set(path, { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv), uid: `uid-${this.rv}` } });
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(this.objects.get(path)));
    }
    this.poke();
  }

  /**
   * JSON patch (RFC 6902) on an existing object, or server-side apply
   * (application/apply-patch+yaml; JSON is valid YAML) which creates or
   * replaces the fields given — the two patch types tsmesh uses.
   */
  private handlePatch(url: URL, contentType: string, text: string, res: http.ServerResponse): void {
    const fail = (code: number, message: string) => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code, message }));
      this.poke();
    };
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      return fail(400, 'body is not JSON');
    }
    this.patches.push({ path: url.pathname, contentType, body });
    const current = this.objects.get(url.pathname);
    if (contentType.startsWith('application/json-patch+json')) {
      if (!current) return fail(404, `${url.pathname} not found`);
      try {
        this.objects.set(url.pathname, fjp.applyPatch(structuredClone(current), body, true, false).newDocument);
      } catch (err) {
        return fail(422, (err as Error).message);
      }
    } else if (contentType.startsWith('application/apply-patch+yaml')) {
      if (!url.searchParams.get('fieldManager')) return fail(400, 'fieldManager is required for apply patch');
      this.objects.set(url.pathname, { ...(current ?? {}), ...body, metadata: { ...(current?.metadata ?? {}), ...body.metadata, resourceVersion: String(++this.rv) } });
    } else return fail(415, `unsupported patch type ${contentType}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.objects.get(url.pathname)));
    this.poke();
  }

  /** DELETE /apis/<g>/<v>/namespaces/<ns>/<plural>/<name>: removes it and tells the open watch, as the API server does. */
  private handleDelete(url: URL, res: http.ServerResponse): void {
    const m = /^(\/apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const collection = m ? `${m[1]}/${m[3]}` : '';
    const list = this.lists.get(collection);
    const index = list?.items.findIndex((o: any) => o.metadata.namespace === m![2] && o.metadata.name === m![4]) ?? -1;
    if (!m || !list || index < 0) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: `${url.pathname} not found` }));
      this.poke();
      return;
    }
    const obj = structuredClone(list.items[index]) as any;
    if (url.searchParams.get('dryRun') !== 'All') {
      list.items.splice(index, 1);
      obj.metadata.resourceVersion = String(++this.rv);
      if (this.openWatch(collection)) this.send(collection, 'DELETED', obj);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
    this.poke();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 401, reason: 'Unauthorized' }));
      this.poke();
      return;
    }
    const isWatch = url.searchParams.get('watch') === 'true';
    const failure = this.failures.find((f) => f.remaining > 0 && f.method === req.method && f.path === url.pathname && f.watch === isWatch);
    if (failure) {
      failure.remaining--;
      res.writeHead(failure.status, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: failure.status, reason: 'InternalError', message: 'injected failure' }));
      this.poke();
      return;
    }
    if (req.method === 'DELETE') return this.handleDelete(url, res);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews'
          ? this.handleTokenReview(Buffer.concat(chunks).toString(), res)
          : this.handleCreate(url, Buffer.concat(chunks).toString(), res),
      );
      return;
    }
    if (req.method === 'PATCH') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handlePatch(url, String(req.headers['content-type'] ?? ''), Buffer.concat(chunks).toString(), res));
      return;
    }
    if (req.method === 'GET' && this.objects.has(url.pathname)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.objects.get(url.pathname)));
      this.poke();
      return;
    }
    const list = this.lists.get(url.pathname);
    if (!list) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound' }));
      this.poke();
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      const rv = url.searchParams.get('resourceVersion') ?? '';
      if (!rv) this.problems.push(`watch on ${url.pathname} without resourceVersion (would replay everything)`);
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      this.watches.push({ path: url.pathname, resourceVersion: rv, allowWatchBookmarks: url.searchParams.get('allowWatchBookmarks') === 'true', res });
      this.poke();
      return;
    }
    const limit = Number(url.searchParams.get('limit') ?? 0) || list.items.length;
    const start = Number(url.searchParams.get('continue') ?? 0);
    const items = list.items.slice(start, start + limit);
    const next = start + limit < list.items.length ? String(start + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: list.kind, apiVersion: 'v1', metadata: { resourceVersion: list.resourceVersion, ...(next ? { continue: next } : {}) }, items }));
    this.poke();
  }
}

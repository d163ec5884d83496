// The admin API meshctl talks to: HTTP+JSON on its own port (loopback by
// default), bearer-token authenticated, bounded request bodies.
//
//   POST   /v1/apply[?dryRun=true][&file=name]  body: multi-document YAML, or JSON { files: [{ name, text }] } applied
//                                               as one atomic change → { version, dryRun, changes[{ref, action, diff}] }
//   GET    /v1/policies[?kind=&namespace=]      → { version, items }
//   GET    /v1/policies/:kind/:namespace/:name[?output=yaml]  → the policy (JSON, or a re-appliable YAML manifest)
//   DELETE /v1/policies/:kind/:namespace/:name[?dryRun=true]
//   GET    /v1/proxies                          → connected proxies with ACKed versions and NACK errors
//   GET    /v1/proxies/:nodeId/config           → that proxy's resources (JSON)
//   GET    /v1/proxies/:nodeId/dependencies     → services it asked for on demand (part of its scope)
//   GET    /v1/receipts/last | /v1/receipts/:version → propagation receipt
//   GET    /v1/version                          → { version }
//   GET    /v1/analysis                         → { version, policies, findings }: policies that are valid but do
//                                               not take effect against the registry and store as they are now
//   /v1/canaries…                                → the control plane's canary runs: status, events, start/promote/abort (canary-routes.ts)
//   POST   /v1/ca/rotate-root[?dryRun=true][&stepTimeoutMs=n] → starts (or resumes) a root rotation, 202 with its status
//   GET    /v1/ca/rotation                      → the rotation's steps and what the mesh confirmed (root-rotation.ts)
// Errors: { error: { code, message, issues? } } with 400/401/404/405/413/500.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshError, ValidationError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { POLICY_KINDS, type PolicyKind } from '../policy/types.js';
import { applyPolicyFiles, applyPolicyText, deletePolicies, policyToYaml } from '../policy/apply.js';
import { MAX_POLICY_BYTES } from '../policy/parse.js';
import { analyzePolicies } from '../policy/analyze.js';
import { resourceMapsToJson } from '../translate/index.js';
import type { RegistryView } from '../registry/types.js';
import type { PolicyStore } from '../store/types.js';
import type { ProxyStatusSource } from './types.js';
import { bearerMatches } from './token.js';
import type { CanaryHost } from '../canary/host.js';
import { handleCanaries } from './canary-routes.js';
import type { RootRotationApi } from './root-rotation.js';

export interface AdminServerOptions {
  store: PolicyStore;
  registry: RegistryView;
  proxies: ProxyStatusSource;
  token: string;
  host?: string; // default 127.0.0.1
  port?: number; // default 0
  maxBodyBytes?: number;
  /** The services a proxy asked for on demand (scoping), when the controller is at hand. */
  dependencies?: (nodeId: string) => string[];
  log?: Logger;
}

class HttpError extends MeshError {
  constructor(readonly status: number, code: string, message: string) {
    super(code, message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new HttpError(413, 'MESH_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, 'MESH_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** `{ files: [{ name, text }] }`: several files applied as one atomic change. */
function readFiles(body: string): { name: string; text: string }[] {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'MESH_BAD_REQUEST', 'body is not valid JSON');
  }
  const files = (v as { files?: unknown })?.files;
  if (!Array.isArray(files) || files.length > 1000 || !files.every((f) => typeof f?.name === 'string' && typeof f?.text === 'string')) {
    throw new HttpError(400, 'MESH_BAD_REQUEST', 'expected { "files": [{ "name": string, "text": string }, …] } (at most 1000 files)');
  }
  return files as { name: string; text: string }[];
}

function kindParam(s: string): PolicyKind {
  const k = POLICY_KINDS.find((x) => x.toLowerCase() === s.toLowerCase());
  if (!k) throw new HttpError(400, 'MESH_UNKNOWN_KIND', `unknown kind "${s}" (supported: ${POLICY_KINDS.join(', ')})`);
  return k;
}

export class AdminServer {
  private server?: Server;
  private lastApplyVersion?: number;

  constructor(private readonly opts: AdminServerOptions) {}

  private canaryHost?: CanaryHost;
  /** The canaries the control plane runs; without them the /v1/canaries endpoints answer 404. */
  setCanaries(host: CanaryHost): void {
    this.canaryHost = host;
  }

  private rotation?: RootRotationApi;
  /** The CA's root rotation (mesh-control-plane with its CA); without it the /v1/ca endpoints answer 404. */
  setRootRotation(r: RootRotationApi): void {
    this.rotation = r;
  }

  async listen(): Promise<AddressInfo> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!bearerMatches(req.headers.authorization, this.opts.token)) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new HttpError(401, 'MESH_UNAUTHENTICATED', 'missing or wrong bearer token (see <state-dir>/admin-token)');
      }
      const url = new URL(req.url ?? '/', 'http://admin');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const dryRun = url.searchParams.get('dryRun') === 'true';
      const method = req.method ?? 'GET';
      const route = `${method} /${parts.slice(0, 2).join('/')}`;
      const { store, registry, proxies } = this.opts;

      if (route === 'POST /v1/apply' && parts.length === 2) {
        const text = await readBody(req, this.opts.maxBodyBytes ?? MAX_POLICY_BYTES);
        const out = (req.headers['content-type'] ?? '').startsWith('application/json')
          ? await applyPolicyFiles(readFiles(text), { store, registry }, { dryRun })
          : await applyPolicyText(text, { store, registry }, { dryRun, file: url.searchParams.get('file') ?? undefined });
        if (!dryRun && out.changes.some((c) => c.action !== 'unchanged')) this.lastApplyVersion = out.version;
        return send(res, 200, out);
      }
      if (route === 'GET /v1/version' && parts.length === 2) return send(res, 200, { version: store.version() });
      if (route === 'GET /v1/analysis' && parts.length === 2) {
        const policies = store.list();
        return send(res, 200, { version: store.version(), policies: policies.length, findings: analyzePolicies(policies, registry) });
      }
      if (route === 'GET /v1/policies' && parts.length === 2) {
        const kind = url.searchParams.get('kind');
        const items = store.list(kind ? kindParam(kind) : undefined, url.searchParams.get('namespace') ?? undefined);
        return send(res, 200, { version: store.version(), items });
      }
      if (parts[0] === 'v1' && parts[1] === 'policies' && parts.length === 5) {
        const ref = { kind: kindParam(parts[2]!), namespace: parts[3]!, name: parts[4]! };
        if (method === 'GET') {
          const p = store.get(ref);
          if (!p) throw new HttpError(404, 'MESH_NOT_FOUND', `${ref.kind} ${ref.namespace}/${ref.name} not found`);
          if (url.searchParams.get('output') === 'yaml') {
            const text = policyToYaml(p);
            res.writeHead(200, { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(text) });
            return void res.end(text);
          }
          return send(res, 200, p);
        }
        if (method === 'DELETE') {
          const out = await deletePolicies([ref], { store }, { dryRun });
          if (!dryRun) this.lastApplyVersion = out.version;
          return send(res, 200, out);
        }
        throw new HttpError(405, 'MESH_METHOD_NOT_ALLOWED', `${method} is not allowed here`);
      }
      if (route === 'GET /v1/proxies' && parts.length === 2) return send(res, 200, { items: proxies.proxies() });
      if (method === 'GET' && parts[0] === 'v1' && parts[1] === 'proxies' && parts.length === 4 && parts[3] === 'config') {
        const cfg = proxies.config(parts[2]!);
        if (!cfg) throw new HttpError(404, 'MESH_NOT_FOUND', `proxy "${parts[2]}" is not connected`);
        return send(res, 200, resourceMapsToJson(cfg));
      }
      if (method === 'GET' && parts[0] === 'v1' && parts[1] === 'proxies' && parts.length === 4 && parts[3] === 'dependencies' && this.opts.dependencies) {
        return send(res, 200, { nodeId: parts[2], dependencies: this.opts.dependencies(parts[2]!) });
      }
      if (method === 'GET' && parts[0] === 'v1' && parts[1] === 'receipts' && parts.length === 3) {
        const v = parts[2] === 'last' ? this.lastApplyVersion : Number(parts[2]);
        if (v === undefined || !Number.isInteger(v)) throw new HttpError(404, 'MESH_NOT_FOUND', parts[2] === 'last' ? 'nothing was applied since the control plane started' : `bad version "${parts[2]}"`);
        const receipt = proxies.receipt(String(v));
        if (!receipt) throw new HttpError(404, 'MESH_NOT_FOUND', `no receipt for version ${v}`);
        return send(res, 200, receipt);
      }
      if (parts[0] === 'v1' && parts[1] === 'ca' && parts.length === 3) {
        const r = this.rotation;
        if (!r) throw new HttpError(404, 'MESH_NO_CA', 'this control plane has no root rotation: it runs without its CA (--insecure, a static snapshot) or in Kubernetes mode (the CA comes from the tsmesh-ca Secret)');
        if (method === 'POST' && parts[2] === 'rotate-root') {
          const t = url.searchParams.get('stepTimeoutMs');
          const stepTimeoutMs = t === null ? undefined : Number(t);
          if (stepTimeoutMs !== undefined && !(Number.isInteger(stepTimeoutMs) && stepTimeoutMs >= 100 && stepTimeoutMs <= 86_400_000)) {
            throw new HttpError(400, 'MESH_BAD_REQUEST', `stepTimeoutMs must be an integer from 100 to 86400000, got "${t}"`);
          }
          return send(res, dryRun ? 200 : 202, r.start({ dryRun, ...(stepTimeoutMs !== undefined ? { stepTimeoutMs } : {}) }));
        }
        if (method === 'GET' && parts[2] === 'rotation') return send(res, 200, r.status());
      }
      if (parts[0] === 'v1' && parts[1] === 'canaries' && this.canaryHost) {
        const out = await handleCanaries(this.canaryHost, store, method, parts, url, req);
        return send(res, out.status, out.body);
      }
      throw new HttpError(404, 'MESH_NOT_FOUND', `no such endpoint: ${method} ${url.pathname}`);
    } catch (e) {
      if (e instanceof HttpError) return send(res, e.status, { error: { code: e.code, message: e.message } });
      if (e instanceof ValidationError) return send(res, 400, { error: { code: e.code, message: e.message, issues: e.issues } });
      if (e instanceof MeshError && e.code === 'MESH_NOT_FOUND') return send(res, 404, { error: { code: e.code, message: e.message } });
      (this.opts.log ?? silentLogger).error('admin request failed', { error: e as Error, url: req.url });
      if (!res.headersSent) send(res, 500, { error: { code: 'MESH_INTERNAL', message: (e as Error).message } });
      else res.destroy();
    }
  }
}

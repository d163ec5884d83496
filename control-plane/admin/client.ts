// A typed client for the admin API (what meshctl uses). Errors keep the
// server's code and issues; an unreachable control plane is MESH_UNREACHABLE.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError, type ValidationIssue } from '../../common/errors.js';
import type { ApplyOutcome } from '../policy/apply.js';
import type { Finding } from '../policy/analyze.js';
import type { PolicyKind, PolicyRef } from '../policy/types.js';
import type { StoredPolicy } from '../store/types.js';
import type { PropagationReceipt, ProxyStatus } from './types.js';
import { TOKEN_FILE } from './token.js';
import type { CanaryStatus } from './canary-routes.js';
import type { CanaryEvent, CanaryPhase } from '../canary/decide.js';
import type { RotationStatus } from './root-rotation.js';

/** File in the state dir holding the admin API's base URL. */
export const ADMIN_ADDRESS_FILE = 'admin-address';

/** The admin API refused a request; `issues` is set for validation errors. */
export class AdminApiError extends MeshError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly issues?: ValidationIssue[],
  ) {
    super(code, message);
  }
}

export interface AdminClientOptions {
  /** e.g. http://127.0.0.1:15000 */
  baseUrl: string;
  token: string;
  timeoutMs?: number;
}

export class AdminClient {
  constructor(private readonly opts: AdminClientOptions) {}

  /** Address and token from a control plane's state dir (`admin-address`, `admin-token`). */
  static async discover(stateDir: string): Promise<AdminClient> {
    let baseUrl: string;
    try {
      baseUrl = (await readFile(join(stateDir, ADMIN_ADDRESS_FILE), 'utf8')).trim();
    } catch (e) {
      throw new MeshError('MESH_UNREACHABLE', `no control plane state in ${stateDir} (${(e as NodeJS.ErrnoException).code}); pass the admin address and token explicitly`, { cause: e });
    }
    return AdminClient.fromStateDir(baseUrl, stateDir);
  }

  /** Token from `<stateDir>/admin-token`. */
  static async fromStateDir(baseUrl: string, stateDir: string): Promise<AdminClient> {
    const token = (await readFile(join(stateDir, TOKEN_FILE), 'utf8')).trim();
    return new AdminClient({ baseUrl, token });
  }

  apply(yaml: string, opts: { dryRun?: boolean; file?: string } = {}): Promise<ApplyOutcome> {
    const q = new URLSearchParams();
    if (opts.dryRun) q.set('dryRun', 'true');
    if (opts.file) q.set('file', opts.file);
    return this.json('POST', `/v1/apply?${q}`, yaml, 'application/yaml');
  }

  /** Several files as one atomic apply. */
  applyFiles(files: { name: string; text: string }[], opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome> {
    return this.json('POST', `/v1/apply${opts.dryRun ? '?dryRun=true' : ''}`, JSON.stringify({ files }), 'application/json');
  }

  list(opts: { kind?: PolicyKind; namespace?: string } = {}): Promise<{ version: number; items: StoredPolicy[] }> {
    const q = new URLSearchParams();
    if (opts.kind) q.set('kind', opts.kind);
    if (opts.namespace) q.set('namespace', opts.namespace);
    return this.json('GET', `/v1/policies?${q}`);
  }

  get(ref: PolicyRef): Promise<StoredPolicy> {
    return this.json('GET', refPath(ref));
  }

  /** The policy as a re-appliable YAML manifest. */
  async getYaml(ref: PolicyRef): Promise<string> {
    const res = await this.request('GET', `${refPath(ref)}?output=yaml`);
    return res.text();
  }

  delete(ref: PolicyRef, opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome> {
    return this.json('DELETE', `${refPath(ref)}${opts.dryRun ? '?dryRun=true' : ''}`);
  }

  proxies(): Promise<{ items: ProxyStatus[] }> {
    return this.json('GET', '/v1/proxies');
  }

  proxyConfig(nodeId: string): Promise<Record<string, Record<string, unknown>>> {
    return this.json('GET', `/v1/proxies/${encodeURIComponent(nodeId)}/config`);
  }

  dependencies(nodeId: string): Promise<{ nodeId: string; dependencies: string[] }> {
    return this.json('GET', `/v1/proxies/${encodeURIComponent(nodeId)}/dependencies`);
  }

  receipt(version: number | 'last'): Promise<PropagationReceipt & { elapsedMs?: number }> {
    return this.json('GET', `/v1/receipts/${version}`);
  }

  /** Starts (or resumes) a root rotation; with dryRun only describes it. */
  rotateRoot(opts: { dryRun?: boolean; stepTimeoutMs?: number } = {}): Promise<RotationStatus> {
    const q = new URLSearchParams();
    if (opts.dryRun) q.set('dryRun', 'true');
    if (opts.stepTimeoutMs !== undefined) q.set('stepTimeoutMs', String(opts.stepTimeoutMs));
    return this.json('POST', `/v1/ca/rotate-root?${q}`);
  }

  /** Policies that are valid but do not take effect against the mesh as it is now (meshctl analyze). */
  analysis(): Promise<{ version: number; policies: number; findings: Finding[] }> {
    return this.json('GET', '/v1/analysis');
  }

  rootRotation(): Promise<RotationStatus> {
    return this.json('GET', '/v1/ca/rotation');
  }

  canaries(opts: { namespace?: string } = {}): Promise<{ items: CanaryStatus[] }> {
    return this.json('GET', `/v1/canaries${opts.namespace ? `?namespace=${encodeURIComponent(opts.namespace)}` : ''}`);
  }

  canary(namespace: string, name: string): Promise<CanaryStatus> {
    return this.json('GET', canaryPath(namespace, name));
  }

  /** Events after `since`; with `waitMs` the control plane holds the request until the next one (long poll). */
  canaryEvents(namespace: string, name: string, since = 0, waitMs = 0): Promise<{ phase: CanaryPhase | 'Pending'; weight: number; startedAt?: number; events: CanaryEvent[] }> {
    return this.json('GET', `${canaryPath(namespace, name)}/events?since=${since}&waitMs=${waitMs}`);
  }

  /** A new run of the canary unless one is progressing (`started: false`). */
  canaryStart(namespace: string, name: string): Promise<{ started: boolean; run: CanaryStatus }> {
    return this.json('POST', `${canaryPath(namespace, name)}/start`);
  }

  canaryPromote(namespace: string, name: string): Promise<CanaryStatus> {
    return this.json('POST', `${canaryPath(namespace, name)}/promote`);
  }

  canaryAbort(namespace: string, name: string): Promise<CanaryStatus> {
    return this.json('POST', `${canaryPath(namespace, name)}/abort`);
  }

  async version(): Promise<number> {
    return (await this.json<{ version: number }>('GET', '/v1/version')).version;
  }

  private async json<T>(method: string, path: string, body?: string, contentType?: string): Promise<T> {
    const res = await this.request(method, path, body, contentType);
    return (await res.json()) as T;
  }

  private async request(method: string, path: string, body?: string, contentType?: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}` };
    if (contentType) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.opts.baseUrl), { method, headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new MeshError('MESH_UNREACHABLE', `cannot reach the control plane admin API at ${this.opts.baseUrl} (${cause}); is mesh-control-plane running?`, { cause: e });
    }
    if (res.ok) return res;
    let err: { code?: string; message?: string; issues?: ValidationIssue[] } = {};
    try {
      err = ((await res.json()) as { error?: typeof err }).error ?? {};
    } catch {
      // not JSON: keep the status line
    }
    throw new AdminApiError(res.status, err.code ?? 'MESH_ADMIN_ERROR', err.message ?? `admin API answered ${res.status} ${res.statusText}`, err.issues);
  }
}

function canaryPath(namespace: string, name: string): string {
  return `/v1/canaries/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

function refPath(ref: PolicyRef): string {
  return `/v1/policies/${encodeURIComponent(ref.kind)}/${encodeURIComponent(ref.namespace)}/${encodeURIComponent(ref.name)}`;
}

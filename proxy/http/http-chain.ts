// The HTTP connection manager of one filter chain: turns each downstream
// request into an Exchange, routes it and sends it upstream. One instance
// per chain, updated in place on a config swap (route table and settings are
// single references), so open connections keep working across reloads.

import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { HttpConnectionManager, NodeInfo } from '../config/resources.js';
import type { HttpRequestRecord, Telemetry } from '../telemetry/types.js';
import { pickCluster, rewritePath, type CompiledRedirect, type RouteTable } from '../router/route-table.js';
import { redirectLocation } from '../router/redirect.js';
import { applyHeaderOps } from '../router/header-mutation.js';
import { sendUpstream } from '../upstream/upstream-call.js';
import { destinationOf, type ClusterManager } from '../upstream/cluster-manager.js';
import { Exchange, type DownstreamRequest, type DownstreamResponse } from './exchange.js';
import type { HttpChainContext } from './chain-context.js';
import { upstreamHeaders } from './request-headers.js';
import { LOCAL_REPLIES, type LocalReply } from './local-reply.js';
import { mirrorRequest, newBodyHash, primaryResponded } from './mirror.js';
import { compileRbac, type RbacEngine } from '../identity/authz.js';
import { normalizePath } from '../identity/normalize-path.js';
import { peerPrincipal } from '../listener/peer-principal.js';
import { originalDstAuthority, originalDstOf } from '../listener/original-dst.js';
import { addDownstreamFacts, upstreamLocalAddress } from '../listener/connection-facts.js';
import { BLOCK_ALL, sendToOriginalDst } from '../upstream/original-dst-pools.js';
import { responseFlagsOf } from '../telemetry/response-flags.js';

export interface HttpChainDeps {
  clusters: ClusterManager;
  telemetry: Telemetry;
  node: NodeInfo;
  direction: 'inbound' | 'outbound';
  /** The route table for this chain's HCM (inline or RDS), read per request. */
  routeTable: () => RouteTable | undefined;
  /** True while the sidecar drains: responses ask HTTP/1.1 clients to close. */
  draining: () => boolean;
  /**
   * On-demand config (outbound): asks the control plane for a host this proxy has no virtual host
   * for; resolves when new config landed or after a short bound. Absent = answer 404 NR at once.
   */
  onDemand?: (authority: string, routed: () => boolean) => Promise<void>;
}

export class HttpChain implements HttpChainContext {
  /** Downstream presented a verified client certificate (STRICT mTLS chain); telemetry's connection_security_policy. */
  mtls = false;
  private rbac: RbacEngine | undefined;
  private hcmConfig!: HttpConnectionManager;

  constructor(
    hcm: HttpConnectionManager,
    public deps: HttpChainDeps,
    readonly tls: boolean,
  ) {
    this.hcm = hcm;
  }

  get hcm(): HttpConnectionManager {
    return this.hcmConfig;
  }

  /** New settings; RBAC filters compile once here, never per request. */
  set hcm(h: HttpConnectionManager) {
    this.hcmConfig = h;
    const rules = h.httpFilters.flatMap((f) => (f.kind === 'rbac' && f.rules ? [f.rules] : []));
    this.rbac = rules.length ? compileRbac(rules) : undefined;
  }

  /** The request listener for http.Server / http2 servers (bound once). */
  readonly handle = (req: DownstreamRequest, res: DownstreamResponse): void => {
    const ex = new Exchange(this, req, res);
    const deps = this.deps;
    if (deps.draining() && req.httpVersionMajor === 1) (res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
    if (req.rawHeaders.length > 2 * this.hcm.limits.maxHeadersCount) {
      // Envoy answers 431 and closes the connection rather than truncating headers.
      if (req.httpVersionMajor === 1) (res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
      return ex.localReply('HEADERS_TOO_LARGE');
    }
    if (this.mtls) ex.principal = peerPrincipal(req);
    if (this.rbac !== undefined && !this.authorize(ex)) return;
    const table = deps.routeTable();
    let route = table?.route(ex.authority, ex);
    // useOriginalDst listeners: no virtual host for the Host header, so route by the address the app dialled.
    if (route === undefined && table !== undefined) {
      const dst = originalDstAuthority(req.socket);
      if (dst !== undefined) route = table.route(dst, ex);
    }
    if (route === undefined) {
      if (deps.onDemand !== undefined) return this.routeOnDemand(ex, deps.onDemand);
      return this.unmatched(ex);
    }
    this.forward(ex, route);
  };

  private forward(ex: Exchange, route: NonNullable<Exchange['route']>): void {
    ex.route = route;
    if (route.redirect) return this.redirect(ex, route.redirect);
    if (route.directResponse) return this.direct(ex);
    const deps = this.deps;
    ex.span = deps.telemetry.startSpan(ex.req.headers, `${ex.authority}${ex.path}`, deps.direction, this.hcmConfig.tracing?.randomSamplingPercent);
    ex.choice = pickCluster(route);
    sendUpstream(ex, deps.clusters, this.dispatchOptions);
  }

  /** A miss: wait (bounded) for the control plane to send this host's config, route once more, else 404 NR. */
  private routeOnDemand(ex: Exchange, onDemand: NonNullable<HttpChainDeps['onDemand']>): void {
    const routed = () => this.deps.routeTable()?.route(ex.authority, ex) !== undefined;
    const retry = () => {
      if (ex.res.destroyed) return;
      const route = this.deps.routeTable()?.route(ex.authority, ex);
      if (route === undefined) this.unmatched(ex);
      else this.forward(ex, route);
    };
    onDemand(ex.authority, routed).then(retry, retry);
  }

  /**
   * No virtual host (nor on-demand config) for the request. On a redirected connection Istio's
   * outboundTrafficPolicy decides: ALLOW_ANY sends it to the address the app dialled
   * (PassthroughCluster), REGISTRY_ONLY answers 502 (BlackHoleCluster); otherwise 404 NR.
   */
  private unmatched(ex: Exchange): void {
    const policy = this.hcm.outboundTrafficPolicy;
    const socket = ex.req.socket;
    const dst = policy !== undefined ? originalDstOf(socket) : undefined;
    if (dst === undefined) return ex.localReply('NO_ROUTE');
    if (policy === 'REGISTRY_ONLY') {
      ex.route = BLOCK_ALL.route;
      ex.choice = BLOCK_ALL.choice;
      return ex.localReply('REGISTRY_ONLY');
    }
    ex.span = this.deps.telemetry.startSpan(ex.req.headers, `${ex.authority}${ex.path}`, this.deps.direction, this.hcmConfig.tracing?.randomSamplingPercent);
    sendToOriginalDst(ex, this.deps.clusters, originalDstAuthority(socket)!, dst, this.dispatchOptions);
  }

  /**
   * RBAC on exactly the path that is forwarded: normalised once (dot segments, merged slashes,
   * encoded slashes refused), then matched, routed and sent upstream as the same string.
   */
  private authorize(ex: Exchange): boolean {
    const n = normalizePath(ex.req.url ?? '/');
    if (!n.ok) {
      ex.localReply('BAD_REQUEST');
      return false;
    }
    ex.req.url = n.forward;
    ex.path = n.path;
    const d = this.rbac!.evaluate(ex);
    if (!d.allowed) {
      ex.replyWith(d.policy === undefined ? LOCAL_REPLIES.RBAC_DENIED : rbacDenied(d.policy));
      return false;
    }
    return true;
  }

  private readonly dispatchOptions = (ex: Exchange, _http2: boolean): Dispatcher.DispatchOptions => {
    const req = ex.req;
    const route = ex.route!;
    const headers = upstreamHeaders(ex, this.hcm, this.tls);
    // Envoy's SANITIZE_SET: the client's header was dropped; an mTLS peer's identity is vouched for here.
    if (ex.principal !== undefined && this.deps.direction === 'inbound') headers.push('x-forwarded-client-cert', `By=${selfId(this.deps.node)};URI=${ex.principal}`);
    const path = route.pathRewrite ? rewritePath(route, ex.path, ex.query) : req.url!;
    const hasBody = requestHasBody(req);
    let body: DownstreamRequest | PassThrough | null = hasBody ? req : null;
    if (route.mirrors.length) {
      let primary: PassThrough | undefined;
      for (const m of route.mirrors) {
        if (m.percent < 100 && Math.random() * 100 >= m.percent) continue;
        if (hasBody && !primary) {
          // Tee: the primary copy keeps back-pressure; mirror copies listen to the same chunks.
          primary = new PassThrough();
          req.pipe(primary);
          body = primary;
        }
        mirrorRequest(this.deps.clusters, m.cluster, req, ex.method, path, headers, hasBody, route.timeout, this.deps.telemetry, ex);
        ex.mirrorHash ??= newBodyHash();
      }
    }
    return {
      path,
      method: ex.method,
      headers: headers as unknown as string[],
      body: body as never,
      headersTimeout: route.timeout,
      bodyTimeout: 0,
    };
  };

  private direct(ex: Exchange): void {
    const d = ex.route!.directResponse!;
    const flat = d.body !== undefined ? ['content-type', 'text/plain', 'content-length', String(Buffer.byteLength(d.body))] : ['content-length', '0'];
    this.answer(ex, d.status, flat, d.body);
  }

  /** A response the route itself gives (direct response, redirect), with the route's response header ops. */
  private answer(ex: Exchange, status: number, flat: string[], body?: string): void {
    ex.status = status;
    ex.details = 'direct_response';
    const res = ex.res as import('node:http').ServerResponse;
    res.writeHead(status, applyHeaderOps(ex.route!.responseOps, flat) as unknown as Record<string, string>);
    res.end(body);
    ex.finish();
  }

  /** A redirect route: the proxy answers 3xx with a Location, nothing goes upstream (Envoy's RedirectAction). */
  private redirect(ex: Exchange, d: CompiledRedirect): void {
    const xfp = this.hcm.useRemoteAddress ? undefined : ex.req.headers['x-forwarded-proto'];
    const location = redirectLocation(d, {
      authority: ex.authority,
      path: ex.path,
      query: ex.query,
      scheme: xfp === 'http' || xfp === 'https' ? xfp : this.tls ? 'https' : 'http',
      matchedLength: ex.route!.pathValue.length,
    });
    this.answer(ex, d.status, ['location', location, 'content-length', '0']);
  }

  recordHttp(ex: Exchange): void {
    // A primary cut short (any response flag) has no whole body to compare.
    if (ex.route?.mirrors.length) primaryResponded(ex, ex.choice?.cluster, ex.status, ex.flags === 0 ? ex.mirrorHash : undefined);
    const req = ex.req;
    const h = req.headers;
    const cluster = ex.cluster;
    const record: HttpRequestRecord = {
      direction: this.deps.direction,
      protocol: ex.isGrpc ? 'grpc' : 'http',
      httpVersion: req.httpVersionMajor === 2 ? 'HTTP/2' : 'HTTP/1.1',
      method: ex.method,
      authority: ex.authority,
      path: ex.path,
      requestId: ex.requestId,
      userAgent: h['user-agent'],
      downstreamRemoteAddress: req.socket?.remoteAddress ?? '',
      startTime: ex.startTime,
      durationMs: performance.now() - ex.startMono,
      responseCode: ex.status,
      grpcStatus: ex.grpcStatus,
      responseFlags: responseFlagsOf(ex.flags),
      routeName: ex.route?.name,
      clusterName: ex.choice?.cluster,
      upstreamHost: ex.host?.key,
      attempts: ex.attempts,
      requestBytes: Number(h['content-length'] ?? 0) || 0,
      responseBytes: ex.responseBytes,
      source: this.deps.direction === 'outbound' ? selfLabels(this.deps.node) : ex.principal !== undefined ? { principal: ex.principal } : {},
      destination: this.deps.direction === 'inbound' ? selfLabels(this.deps.node) : destinationOf(cluster, ex.host),
      mtls: this.mtls,
    };
    if (this.hcm.accessLog !== undefined) record.accessLogs = this.hcm.accessLog;
    if (record.accessLogs !== undefined || this.deps.telemetry.accessLogging === true) this.addLogFacts(record, ex);
    this.deps.telemetry.httpRequestDone(record, ex.span);
  }

  /** What access log formats read beyond the metrics' record (REQ(…), RESP(…), addresses, details). */
  private addLogFacts(record: HttpRequestRecord, ex: Exchange): void {
    const req = ex.req;
    record.requestHeaders = req.headers;
    if (req.url !== undefined) record.url = req.url;
    const scheme = req.headers[':scheme'];
    record.scheme = scheme === 'https' || (scheme === undefined && this.tls) ? 'https' : 'http';
    if (ex.responseHeaders !== undefined) record.responseHeaders = ex.responseHeaders;
    if (ex.details !== undefined) record.responseCodeDetails = ex.details;
    addDownstreamFacts(record, req.socket as Socket | undefined);
    const up = upstreamLocalAddress(ex.upstreamSocket);
    if (up !== undefined) record.upstreamLocalAddress = up;
    if (ex.transportFailure !== undefined) record.upstreamTransportFailureReason = ex.transportFailure;
  }
}

/** Envoy's details for a request a DENY policy matched name the policy (access logs, RESPONSE_CODE_DETAILS). */
function rbacDenied(policy: string): LocalReply {
  return { ...LOCAL_REPLIES.RBAC_DENIED, details: `rbac_access_denied_matched_policy[${policy}]` };
}

type SelfLabels = { workload: string; namespace: string; service: string; version: string };
const labelCache = new WeakMap<NodeInfo, SelfLabels>();
// The node of the last call: a sidecar has one, so the WeakMap (a hash lookup per request) is a fallback.
let lastNode: NodeInfo | undefined;
let lastLabels: SelfLabels | undefined;
function selfLabels(n: NodeInfo): SelfLabels {
  if (n === lastNode) return lastLabels!;
  let l = labelCache.get(n);
  if (!l) {
    l = { workload: n.workload, namespace: n.namespace, service: n.cluster, version: n.version ?? 'unknown' };
    labelCache.set(n, l);
  }
  lastNode = n;
  lastLabels = l;
  return l;
}

const idCache = new WeakMap<NodeInfo, string>();
function selfId(n: NodeInfo): string {
  let id = idCache.get(n);
  if (id === undefined) {
    id = `spiffe://${n.trustDomain}/ns/${n.namespace}/sa/${n.serviceAccount}`;
    idCache.set(n, id);
  }
  return id;
}

function requestHasBody(req: DownstreamRequest): boolean {
  if (req.httpVersionMajor === 2) return !(req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

// Semantic checks over a whole ConfigSnapshot: cross-references (route
// configs, clusters, mirror clusters, secrets), regexes, exactly-one-of rules,
// weights, ports. Shared by the bootstrap loader and the xDS client, so a
// snapshot from either source is accepted or refused by the same rules.

import { isIP } from 'node:net';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import { formatPath, type PathSeg } from '../../common/path-format.js';
import type {
  ConfigSnapshot,
  HeaderMatcher,
  HttpConnectionManager,
  ResourceKind,
  RouteConfiguration,
  StringMatcher,
  TcpProxy,
  UpstreamTlsContext,
  DownstreamTlsContext,
} from './resources.js';
import { captureGroups, substitutionProblem } from '../router/path-rewrite.js';
import { isRootsName } from '../tls/file-roots.js';

/** A host name a DNS cluster may resolve: dot-separated labels of letters, digits, '-' and '_', ≤ 253 characters. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;

/** Where a resource lives in the input; lets the bootstrap loader add file:line. */
export type Locate = (kind: ResourceKind, name: string, path: readonly PathSeg[]) => Omit<ValidationIssue, 'message'>;

export interface CheckOptions {
  locate?: Locate;
  /** Secrets that arrive at runtime (SDS / the identity manager) and may be missing now. Default: default, ROOTCA. */
  runtimeSecrets?: ReadonlySet<string>;
  /**
   * Refuse routes and TCP proxies that name a cluster the snapshot lacks (Envoy's validate_clusters).
   * Default true, as Envoy does for static config. xDS-delivered config passes false, as Envoy's RDS
   * default: a route may name a cluster that does not exist (yet); the request then gets 503
   * MESH_NO_CLUSTER instead of the whole update a NACK. (A cluster a push removes while routes still name
   * it is kept until they stop: proxy/xds/config-assembler.ts.)
   */
  validateClusters?: boolean;
}

/** Istio's names for the workload certificate and trust bundle, which the identity manager provides (proxy/identity/secrets.ts). */
export const RUNTIME_SECRETS: ReadonlySet<string> = new Set(['default', 'ROOTCA']);

export function checkSnapshot(snap: ConfigSnapshot, opts: CheckOptions = {}): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const { resources: res } = snap;
  const runtimeSecrets = opts.runtimeSecrets ?? RUNTIME_SECRETS;
  const at = (kind: ResourceKind, name: string, path: readonly PathSeg[], message: string) => {
    const where = opts.locate?.(kind, name, path) ?? { path: `${kind}[${name}]${path.length ? '.' + formatPath(path) : ''}` };
    issues.push({ ...where, message });
  };
  const needCluster = (kind: ResourceKind, owner: string, path: PathSeg[], cluster: string | undefined) => {
    if (opts.validateClusters === false) return;
    if (cluster !== undefined && cluster !== '' && !res.cluster.has(cluster)) at(kind, owner, path, `cluster "${cluster}" is not defined`);
  };
  const needSecret = (kind: ResourceKind, owner: string, path: PathSeg[], name: string | undefined) => {
    if (name === undefined || res.secret.has(name) || runtimeSecrets.has(name) || isRootsName(name)) return;
    at(kind, owner, path, `secret "${name}" is not defined`);
  };

  const checkRouteConfig = (kind: ResourceKind, owner: string, base: PathSeg[], rc: RouteConfiguration) => {
    rc.virtualHosts.forEach((vh, v) => {
      const vp = [...base, 'virtualHosts', v];
      vh.domains.forEach((d, i) => {
        if (d !== '*' && (d.indexOf('*') !== d.lastIndexOf('*') || (d.includes('*') && !d.startsWith('*') && !d.endsWith('*'))))
          at(kind, owner, [...vp, 'domains', i], `"${d}" is not a valid domain (one leading or trailing * only)`);
      });
      vh.routes.forEach((r, ri) => {
        const rp = [...vp, 'routes', ri];
        if (r.match.safeRegex !== undefined) regex(r.match.safeRegex, (m) => at(kind, owner, [...rp, 'match', 'safeRegex'], m));
        if (r.match.prefix !== undefined && r.match.prefix !== '' && !r.match.prefix.startsWith('/'))
          at(kind, owner, [...rp, 'match', 'prefix'], 'must start with /');
        if (r.match.path !== undefined && !r.match.path.startsWith('/')) at(kind, owner, [...rp, 'match', 'path'], 'must start with /');
        r.match.headers.forEach((h, i) => headerMatcher(h, (p, m) => at(kind, owner, [...rp, 'match', 'headers', i, ...p], m)));
        r.match.queryParameters.forEach((q, i) => {
          if (q.stringMatch) stringMatcher(q.stringMatch, (p, m) => at(kind, owner, [...rp, 'match', 'queryParameters', i, 'stringMatch', ...p], m));
        });
        const prefixMatched = r.match.prefix !== undefined || r.match.pathSeparatedPrefix !== undefined;
        const d = r.redirect;
        if (d) {
          const dp = [...rp, 'redirect'];
          if (d.regexRewrite) rewriteRegex(d.regexRewrite, (p, m) => at(kind, owner, [...dp, 'regexRewrite', p], m));
          if (d.prefixRewrite !== undefined && !prefixMatched) at(kind, owner, [...dp, 'prefixRewrite'], 'needs a prefix or pathSeparatedPrefix match');
          if (d.pathRedirect !== undefined && !d.pathRedirect.startsWith('/')) at(kind, owner, [...dp, 'pathRedirect'], 'must start with /');
          if (d.hostRedirect !== undefined && !/^[A-Za-z0-9.:[\]_-]+$/.test(d.hostRedirect)) at(kind, owner, [...dp, 'hostRedirect'], `"${d.hostRedirect}" is not a host name`);
        }
        const a = r.route;
        if (!a) return;
        const ap = [...rp, 'route'];
        needCluster(kind, owner, [...ap, 'cluster'], a.cluster);
        if (a.weightedClusters) {
          a.weightedClusters.forEach((w, i) => needCluster(kind, owner, [...ap, 'weightedClusters', i, 'name'], w.name));
          if (a.weightedClusters.reduce((s, w) => s + w.weight, 0) <= 0) at(kind, owner, [...ap, 'weightedClusters'], 'weights must add up to more than 0');
        }
        a.requestMirrorPolicies.forEach((m, i) => needCluster(kind, owner, [...ap, 'requestMirrorPolicies', i, 'cluster'], m.cluster));
        if (a.regexRewrite) rewriteRegex(a.regexRewrite, (p, m) => at(kind, owner, [...ap, 'regexRewrite', p], m));
        if (a.prefixRewrite !== undefined && !prefixMatched)
          at(kind, owner, [...ap, 'prefixRewrite'], 'needs a prefix or pathSeparatedPrefix match');
      });
    });
  };

  const checkHcm = (owner: string, base: PathSeg[], h: HttpConnectionManager) => {
    if (h.rdsRouteConfigName !== undefined && !res.routeConfiguration.has(h.rdsRouteConfigName))
      at('listener', owner, [...base, 'rdsRouteConfigName'], `route configuration "${h.rdsRouteConfigName}" is not defined`);
    if (h.routeConfig) checkRouteConfig('listener', owner, [...base, 'routeConfig'], h.routeConfig);
  };
  const checkTcp = (owner: string, base: PathSeg[], t: TcpProxy) => {
    needCluster('listener', owner, [...base, 'cluster'], t.cluster);
    t.weightedClusters?.forEach((w, i) => needCluster('listener', owner, [...base, 'weightedClusters', i, 'name'], w.name));
    if (t.weightedClusters && t.weightedClusters.reduce((s, w) => s + w.weight, 0) <= 0)
      at('listener', owner, [...base, 'weightedClusters'], 'weights must add up to more than 0');
  };
  const checkTls = (kind: ResourceKind, owner: string, base: PathSeg[], t: DownstreamTlsContext | UpstreamTlsContext) => {
    needSecret(kind, owner, [...base, 'certificateSecret'], t.certificateSecret);
    needSecret(kind, owner, [...base, 'validationSecret'], t.validationSecret);
    t.matchSubjectAltNames.forEach((m, i) => stringMatcher(m, (p, msg) => at(kind, owner, [...base, 'matchSubjectAltNames', i, ...p], msg)));
  };

  const bound = new Map<string, string>();
  for (const [name, l] of res.listener) {
    if (l.apiListener) {
      checkHcm(name, ['apiListener'], l.apiListener);
      continue;
    }
    const key = `${l.address.address}:${l.address.port}`;
    if (l.address.port !== 0 && bound.has(key)) at('listener', name, ['address'], `${key} is already used by listener "${bound.get(key)}"`);
    bound.set(key, name);
    l.filterChains.forEach((fc, i) => {
      const base: PathSeg[] = ['filterChains', i];
      if (fc.filter.kind === 'http') checkHcm(name, [...base, 'filter'], fc.filter);
      else checkTcp(name, [...base, 'filter'], fc.filter);
      if (fc.transportSocket) checkTls('listener', name, [...base, 'transportSocket'], fc.transportSocket);
    });
  }
  for (const [name, rc] of res.routeConfiguration) checkRouteConfig('routeConfiguration', name, [], rc);
  for (const [name, c] of res.cluster) {
    if (c.transportSocket) checkTls('cluster', name, ['transportSocket'], c.transportSocket);
    if ((c.type === 'STATIC' || c.type === 'STRICT_DNS') && c.loadAssignment?.endpoints.length === 0) at('cluster', name, ['loadAssignment', 'endpoints'], `a ${c.type} cluster needs at least one endpoint`);
    if (c.type === 'LOGICAL_DNS' && c.loadAssignment?.endpoints.length !== 1) at('cluster', name, ['loadAssignment', 'endpoints'], 'a LOGICAL_DNS cluster has exactly one endpoint (one host name)');
    if (c.type === 'STRICT_DNS' || c.type === 'LOGICAL_DNS') {
      c.loadAssignment?.endpoints.forEach((e, i) => {
        if (!isIP(e.address.address) && !DNS_NAME.test(e.address.address)) at('cluster', name, ['loadAssignment', 'endpoints', i, 'address', 'address'], `"${e.address.address}" is neither an IP address nor a DNS name`);
      });
      c.dns?.resolvers?.forEach((a, i) => {
        if (!isIP(a.address)) at('cluster', name, ['dns', 'resolvers', i, 'address'], `a DNS server is given by IP address, not "${a.address}"`);
      });
    }
  }
  return issues;
}

/** Throws ValidationError listing every problem when the snapshot is inconsistent. */
export function assertValidSnapshot(snap: ConfigSnapshot, opts?: CheckOptions): void {
  const issues = checkSnapshot(snap, opts);
  if (issues.length) throw new ValidationError(issues);
}

function regex(source: string, fail: (m: string) => void): boolean {
  try {
    new RegExp(source, 'u');
    return true;
  } catch (e) {
    fail(`invalid regular expression: ${(e as Error).message}`);
    return false;
  }
}

function rewriteRegex(rw: { pattern: string; substitution: string }, fail: (field: 'pattern' | 'substitution', m: string) => void): void {
  if (!regex(rw.pattern, (m) => fail('pattern', m))) return;
  const problem = substitutionProblem(rw.substitution, captureGroups(rw.pattern));
  if (problem) fail('substitution', problem);
}

function stringMatcher(m: StringMatcher, fail: (path: PathSeg[], m: string) => void): void {
  const set = (['exact', 'prefix', 'suffix', 'contains', 'safeRegex'] as const).filter((k) => m[k] !== undefined);
  if (set.length !== 1) fail([], 'exactly one of exact, prefix, suffix, contains, safeRegex must be set');
  if (m.safeRegex !== undefined) regex(m.safeRegex, (msg) => fail(['safeRegex'], msg));
}

function headerMatcher(h: HeaderMatcher, fail: (path: PathSeg[], m: string) => void): void {
  if (h.stringMatch && h.presentMatch !== undefined) fail([], 'set at most one of stringMatch and presentMatch');
  if (h.stringMatch) stringMatcher(h.stringMatch, (p, m) => fail(['stringMatch', ...p], m));
}

// AuthorizationPolicy → the inbound listener's RBAC filters (Envoy RBAC
// semantics, evaluated the way Istio does): DENY policies first, then ALLOW
// policies; if any ALLOW policy applies to the workload (or MeshConfig
// defaultDeny is set) a request must match one of them.
//
// Within a rule, `from` sources are ORed and `to` operations are ORed; the
// rule matches when a source AND an operation AND every `when` condition
// match. Inside a source or an operation every field set is ANDed, each a list
// of alternatives, and a `not*` field matches when none of its values does. A
// rule with no from, to or when matches every request; a policy with no rules
// matches nothing.

import type { HttpFilter, RbacPermission, RbacPolicy, RbacPrincipal, StringMatcher } from '../../proxy/config/resources.js';
import type { AuthorizationCondition, AuthorizationPolicy, AuthorizationRule } from '../policy/types.js';
import type { NodeRegistration } from '../registry/node-registration.js';
import type { PolicyIndex, TranslateInput } from './context.js';
import { escapeRe } from './route-match.js';
import { selectsLabels } from '../policy/selector.js';

/** Istio principal syntax (`td/ns/x/sa/y`, SPIFFE URI, `*` prefix/suffix wildcard) → a matcher on the peer's SPIFFE ID. */
export function principalMatcher(pattern: string): StringMatcher | undefined {
  if (pattern === '*') return undefined; // any authenticated peer
  if (pattern.startsWith('*')) return { suffix: pattern.slice(1) };
  const full = pattern.startsWith('spiffe://') ? pattern : `spiffe://${pattern}`;
  return full.endsWith('*') ? { prefix: full.slice(0, -1) } : { exact: full };
}

export function stringMatches(m: StringMatcher, s: string): boolean {
  if (m.exact !== undefined) return s === m.exact;
  if (m.prefix !== undefined) return s.startsWith(m.prefix);
  if (m.suffix !== undefined) return s.endsWith(m.suffix);
  if (m.contains !== undefined) return s.includes(m.contains);
  return m.safeRegex !== undefined && new RegExp(`^(?:${m.safeRegex})$`).test(s);
}

/** Policies that apply to this workload: same namespace, and targetRef/selector match (neither = namespace-wide). */
export function policiesForNode(idx: PolicyIndex, node: NodeRegistration): AuthorizationPolicy[] {
  return idx.authorizationPolicies
    .filter((p) => {
      if (p.metadata.namespace !== node.namespace) return false;
      if (p.spec.targetRef) return p.spec.targetRef.name === node.service;
      const sel = p.spec.selector?.matchLabels;
      return !sel || selectsLabels(sel, node.labels);
    })
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

const ANY_AUTHENTICATED = { authenticated: { prefix: 'spiffe://' } } satisfies RbacPrincipal;
const ANY: RbacPermission = { any: true };
const anyCase = (re: string) => re.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`);

function peerPrincipal(pattern: string): RbacPrincipal {
  const m = principalMatcher(pattern);
  return m ? { authenticated: m } : ANY_AUTHENTICATED;
}

/** Istio namespace forms: exact, `prefix*`, `*suffix`, `*` — a matcher on the namespace segment of a peer's SPIFFE ID. */
export function namespaceMatcher(ns: string, trustDomain: string): StringMatcher {
  const base = `spiffe://${trustDomain}/ns/`;
  if (ns === '*') return ANY_AUTHENTICATED.authenticated;
  if (ns.endsWith('*')) return { prefix: base + ns.slice(0, -1) };
  if (ns.startsWith('*')) return { safeRegex: `${escapeRe(base)}[^/]*${escapeRe(ns.slice(1))}/sa/.+` };
  return { prefix: `${base}${ns}/sa/` };
}

const namespacePrincipal = (ns: string, trustDomain: string): RbacPrincipal => ({ authenticated: namespaceMatcher(ns, trustDomain) });

function sourcePrincipal({ source: src }: AuthorizationRule['from'][number], trustDomain: string): RbacPrincipal {
  const ids: RbacPrincipal[] = [];
  if (src.principals.length) ids.push({ orIds: src.principals.map(peerPrincipal) });
  if (src.notPrincipals.length) ids.push({ notId: { orIds: src.notPrincipals.map(peerPrincipal) } });
  if (src.namespaces.length) ids.push({ orIds: src.namespaces.map((ns) => namespacePrincipal(ns, trustDomain)) });
  if (src.notNamespaces.length) ids.push({ notId: { orIds: src.notNamespaces.map((ns) => namespacePrincipal(ns, trustDomain)) } });
  return ids.length === 1 ? ids[0]! : { andIds: ids };
}

/** Istio's value forms for paths and header values: exact, `prefix*`, `*suffix`, `*` (present). */
function wildcardMatcher(v: string): StringMatcher | undefined {
  if (v === '*') return undefined;
  if (v.endsWith('*')) return { prefix: v.slice(0, -1) };
  if (v.startsWith('*')) return { suffix: v.slice(1) };
  return { exact: v };
}

function pathPermission(p: string): RbacPermission {
  const m = wildcardMatcher(p);
  return m ? { urlPath: m } : ANY;
}

/** Hosts match the :authority case-insensitively, with or without its port. */
function hostPermission(h: string): RbacPermission {
  if (h === '*') return { header: { name: ':authority' } };
  if (h.endsWith('*')) return { header: { name: ':authority', stringMatch: { prefix: h.slice(0, -1), ignoreCase: true } } };
  const tail = h.startsWith('*') ? h.slice(1) : undefined;
  return {
    orRules: [
      { header: { name: ':authority', stringMatch: tail !== undefined ? { suffix: tail, ignoreCase: true } : { exact: h, ignoreCase: true } } },
      // Envoy ignores ignore_case for regexes: the letters carry both cases themselves.
      { header: { name: ':authority', stringMatch: { safeRegex: `${tail !== undefined ? '.*' : ''}${anyCase(escapeRe(tail ?? h))}:[0-9]+` } } },
    ],
  };
}

const methodPermission = (m: string): RbacPermission => ({ header: { name: ':method', stringMatch: { exact: m } } });

function operationPermission({ operation: op }: AuthorizationRule['to'][number]): RbacPermission {
  const rules: RbacPermission[] = [];
  const field = (yes: string[], no: string[], one: (v: string) => RbacPermission) => {
    if (yes.length) rules.push({ orRules: yes.map(one) });
    if (no.length) rules.push({ notRule: { orRules: no.map(one) } });
  };
  field(op.hosts, op.notHosts, hostPermission);
  field(op.paths, op.notPaths, pathPermission);
  field(op.methods, op.notMethods, methodPermission);
  return rules.length === 1 ? rules[0]! : { andRules: rules };
}

function headerCondition(c: AuthorizationCondition): RbacPermission {
  const name = c.key.slice('request.headers['.length, -1).toLowerCase();
  const one = (v: string): RbacPermission => {
    const m = wildcardMatcher(v);
    return { header: m ? { name, stringMatch: m } : { name } };
  };
  const parts: RbacPermission[] = [];
  if (c.values.length) parts.push({ orRules: c.values.map(one) });
  if (c.notValues.length) parts.push({ notRule: { orRules: c.notValues.map(one) } });
  return parts.length === 1 ? parts[0]! : { andRules: parts };
}

function peerCondition(c: AuthorizationCondition, trustDomain: string): RbacPrincipal {
  const one = (v: string) => (c.key === 'source.principal' ? peerPrincipal(v) : namespacePrincipal(v, trustDomain));
  const parts: RbacPrincipal[] = [];
  if (c.values.length) parts.push({ orIds: c.values.map(one) });
  if (c.notValues.length) parts.push({ notId: { orIds: c.notValues.map(one) } });
  return parts.length === 1 ? parts[0]! : { andIds: parts };
}

/** Every `when` condition joins every alternative of its side (request conditions the permissions, peer ones the principals). */
function rulePolicy(rule: AuthorizationRule, trustDomain: string): RbacPolicy {
  const onRequest = rule.when.filter((c) => c.key.startsWith('request.')).map(headerCondition);
  const onPeer = rule.when.filter((c) => c.key.startsWith('source.')).map((c) => peerCondition(c, trustDomain));
  const permissions = rule.to.length ? rule.to.map(operationPermission) : [ANY];
  const principals: RbacPrincipal[] = rule.from.length ? rule.from.map((f) => sourcePrincipal(f, trustDomain)) : [{ any: true }];
  return {
    permissions: onRequest.length ? permissions.map((p) => ({ andRules: p === ANY ? onRequest : [p, ...onRequest] })) : permissions,
    principals: onPeer.length ? principals.map((p) => ({ andIds: 'any' in p ? onPeer : [p, ...onPeer] })) : principals,
  };
}

function rbacPolicies(list: AuthorizationPolicy[], trustDomain: string): Record<string, RbacPolicy> {
  const out: Record<string, RbacPolicy> = {};
  for (const p of list) {
    p.spec.rules.forEach((rule, i) => {
      out[`${p.metadata.namespace}.${p.metadata.name}[${i}]`] = rulePolicy(rule, trustDomain);
    });
  }
  return out;
}

/** The inbound HTTP filters in order: RBAC deny, RBAC allow (when any), router. */
export function inboundHttpFilters(input: TranslateInput, idx: PolicyIndex): HttpFilter[] {
  const applicable = policiesForNode(idx, input.node);
  const deny = applicable.filter((p) => p.spec.action === 'DENY');
  const allow = applicable.filter((p) => p.spec.action === 'ALLOW');
  const filters: HttpFilter[] = [];
  if (deny.length) filters.push({ name: 'tsmesh.rbac.deny', kind: 'rbac', rules: { action: 'DENY', policies: rbacPolicies(deny, input.mesh.trustDomain) } });
  if (allow.length || input.mesh.defaultDeny) {
    filters.push({ name: 'tsmesh.rbac.allow', kind: 'rbac', rules: { action: 'ALLOW', policies: rbacPolicies(allow, input.mesh.trustDomain) } });
  }
  filters.push({ name: 'envoy.filters.http.router', kind: 'router' });
  return filters;
}

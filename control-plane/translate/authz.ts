// AuthorizationPolicy → the inbound listener's RBAC filters (Envoy RBAC
// semantics, evaluated the way Istio does): DENY policies first, then ALLOW
// policies; if any ALLOW policy applies to the workload (or MeshConfig
// defaultDeny is set) a request must match one of them.
//
// Within a rule, `from` sources are ORed and `to` operations are ORed; the
// rule matches when a source AND an operation match. Inside a source,
// principals and namespaces are ANDed (each a list of alternatives); inside
// an operation, paths and methods are ANDed. A rule with neither from nor to
// matches every request; a policy with no rules matches nothing.

import type { HttpFilter, RbacPermission, RbacPolicy, RbacPrincipal, StringMatcher } from '../../proxy/config/resources.js';
import type { AuthorizationPolicy, AuthorizationRule } from '../policy/types.js';
import type { NodeRegistration } from '../registry/node-registration.js';
import type { PolicyIndex, TranslateInput } from './context.js';

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
      return !sel || Object.entries(sel).every(([k, v]) => node.labels[k] === v);
    })
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

const ANY_AUTHENTICATED: RbacPrincipal = { authenticated: { prefix: 'spiffe://' } };

function sourcePrincipal({ source: src }: AuthorizationRule['from'][number], trustDomain: string): RbacPrincipal {
  const ids: RbacPrincipal[] = [];
  if (src.principals.length) {
    ids.push({ orIds: src.principals.map((p) => {
      const m = principalMatcher(p);
      return m ? { authenticated: m } : ANY_AUTHENTICATED;
    }) });
  }
  if (src.namespaces.length) {
    ids.push({ orIds: src.namespaces.map((ns): RbacPrincipal =>
      ns === '*' ? ANY_AUTHENTICATED : { authenticated: { prefix: `spiffe://${trustDomain}/ns/${ns}/sa/` } },
    ) });
  }
  return ids.length === 1 ? ids[0]! : { andIds: ids };
}

function operationPermission({ operation: op }: AuthorizationRule['to'][number]): RbacPermission {
  const rules: RbacPermission[] = [];
  if (op.paths.length) {
    rules.push({ orRules: op.paths.map((p): RbacPermission =>
      p === '*' ? { any: true } : p.endsWith('*') ? { urlPath: { prefix: p.slice(0, -1) } } : { urlPath: { exact: p } },
    ) });
  }
  if (op.methods.length) {
    rules.push({ orRules: op.methods.map((m): RbacPermission => ({ header: { name: ':method', stringMatch: { exact: m } } })) });
  }
  return rules.length === 1 ? rules[0]! : { andRules: rules };
}

function rulePolicy(rule: AuthorizationRule, trustDomain: string): RbacPolicy {
  return {
    permissions: rule.to.length ? rule.to.map(operationPermission) : [{ any: true }],
    principals: rule.from.length ? rule.from.map((f) => sourcePrincipal(f, trustDomain)) : [{ any: true }],
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

// Envoy RBAC compiled once into a matcher. Every DENY rule set is checked
// before any ALLOW set; when an ALLOW set exists (even an empty one: the
// default-deny option) a request that matches none of its policies is denied.
// Decisions are preallocated: evaluating a request allocates nothing.
import type { HeaderMatcher, RbacPermission, RbacPrincipal, RbacRules } from '../config/resources.js';
import { compileStringMatcher } from './string-matcher.js';

/** What RBAC sees of a request. `path` is the normalised path without query (normalize-path.ts). */
export interface RbacRequest {
  path: string;
  method: string;
  /** Lower-case header lookup (multiple values joined by ","), undefined when absent. */
  header(name: string): string | undefined;
  /** The peer's verified SPIFFE ID; undefined for plaintext. */
  principal: string | undefined;
}

export type RbacDecision =
  | { allowed: true }
  | { allowed: false; /** name of the DENY policy that matched, or undefined for default deny */ policy: string | undefined; reason: string };

/** The header the proxy's local 403 reply carries. */
export const RBAC_DENIED_HEADER = { name: 'x-tsmesh-error', value: 'MESH_RBAC_DENIED' } as const;

type Pred = (r: RbacRequest) => boolean;

function headerValue(r: RbacRequest, name: string): string | undefined {
  if (name === ':method') return r.method;
  if (name === ':path') return r.path;
  return r.header(name);
}

function compileHeader(h: HeaderMatcher): Pred {
  const name = h.name.toLowerCase();
  const inv = h.invertMatch === true;
  const m = h.stringMatch ? compileStringMatcher(h.stringMatch) : undefined;
  return (r) => {
    const v = headerValue(r, name);
    const hit = v !== undefined && (m ? m(v) : h.presentMatch !== false);
    return hit !== inv;
  };
}

function all(ps: Pred[]): Pred {
  return (r) => {
    for (let i = 0; i < ps.length; i++) if (!ps[i]!(r)) return false;
    return true;
  };
}
function any(ps: Pred[]): Pred {
  return (r) => {
    for (let i = 0; i < ps.length; i++) if (ps[i]!(r)) return true;
    return false;
  };
}

export function compilePermission(p: RbacPermission): Pred {
  if ('any' in p) return () => true;
  if ('urlPath' in p) {
    const m = compileStringMatcher(p.urlPath);
    return (r) => m(r.path);
  }
  if ('header' in p) return compileHeader(p.header);
  if ('andRules' in p) return all(p.andRules.map(compilePermission));
  if ('orRules' in p) return any(p.orRules.map(compilePermission));
  if ('notRule' in p) {
    const inner = compilePermission(p.notRule);
    return (r) => !inner(r);
  }
  throw new Error(`unknown RBAC permission ${JSON.stringify(p)}`);
}

export function compilePrincipal(p: RbacPrincipal): Pred {
  if ('any' in p) return () => true;
  if ('authenticated' in p) {
    const sm = p.authenticated;
    const hasField = sm.exact ?? sm.prefix ?? sm.suffix ?? sm.contains ?? sm.safeRegex;
    // An empty matcher means "any authenticated peer" (Envoy: authenticated without principal_name).
    if (hasField === undefined) return (r) => r.principal !== undefined;
    const m = compileStringMatcher(sm);
    return (r) => r.principal !== undefined && m(r.principal);
  }
  if ('andIds' in p) return all(p.andIds.map(compilePrincipal));
  if ('orIds' in p) return any(p.orIds.map(compilePrincipal));
  if ('notId' in p) {
    const inner = compilePrincipal(p.notId);
    return (r) => !inner(r);
  }
  throw new Error(`unknown RBAC principal ${JSON.stringify(p)}`);
}

interface CompiledPolicy {
  name: string;
  match: Pred;
  denial: RbacDecision;
}

function compilePolicies(rules: RbacRules): CompiledPolicy[] {
  return Object.keys(rules.policies)
    .sort()
    .map((name) => {
      const pol = rules.policies[name]!;
      const perm = any(pol.permissions.map(compilePermission));
      const princ = any(pol.principals.map(compilePrincipal));
      return {
        name,
        match: (r: RbacRequest) => princ(r) && perm(r),
        denial: { allowed: false, policy: name, reason: `denied by policy ${name}` },
      };
    });
}

const ALLOWED: RbacDecision = { allowed: true };
const DEFAULT_DENY: RbacDecision = { allowed: false, policy: undefined, reason: 'no ALLOW policy matched' };

export interface RbacEngine {
  evaluate(r: RbacRequest): RbacDecision;
}

/** Compiles the RBAC filters of one filter chain (in any order) into one engine. */
export function compileRbac(ruleSets: readonly RbacRules[]): RbacEngine {
  const deny = ruleSets.filter((r) => r.action === 'DENY').flatMap(compilePolicies);
  const allowSets = ruleSets.filter((r) => r.action === 'ALLOW').map(compilePolicies);
  return {
    evaluate(r) {
      for (let i = 0; i < deny.length; i++) if (deny[i]!.match(r)) return deny[i]!.denial;
      // Each ALLOW filter must let the request through (Envoy runs them in sequence).
      for (let s = 0; s < allowSets.length; s++) {
        const set = allowSets[s]!;
        let ok = false;
        for (let i = 0; i < set.length; i++) {
          if (set[i]!.match(r)) {
            ok = true;
            break;
          }
        }
        if (!ok) return DEFAULT_DENY;
      }
      return ALLOWED;
    },
  };
}

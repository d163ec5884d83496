// Rewrites an HTTPRoute/GRPCRoute manifest (as the admin API returns it, YAML)
// so that the rules that send traffic to the stable backend split it between
// stable and canary. Everything else in the manifest is left as it was.

import { parse, stringify } from 'yaml';
import { MeshError } from '../../common/errors.js';

interface BackendRefDoc {
  name?: string;
  weight?: number;
  port?: number;
  [k: string]: unknown;
}

/** The manifest with `canaryWeight`% on the canary backend and the rest on the stable one. */
export function setCanaryWeight(manifestYaml: string, stable: { name: string; port?: number }, canary: { name: string; port?: number }, canaryWeight: number): string {
  const doc = parse(manifestYaml) as { kind?: string; metadata?: { name?: string }; spec?: { rules?: { backendRefs?: BackendRefDoc[] }[] } };
  const rules = doc?.spec?.rules ?? [];
  let touched = 0;
  for (const rule of rules) {
    const refs = rule.backendRefs;
    if (!refs?.some((b) => b.name === stable.name || b.name === canary.name)) continue;
    if (isTesterRule(rule, stable.name, canary.name)) continue;
    let s = refs.find((b) => b.name === stable.name);
    let c = refs.find((b) => b.name === canary.name);
    if (!s) refs.push((s = { name: stable.name, ...(stable.port ? { port: stable.port } : {}) }));
    if (!c) refs.push((c = { name: canary.name, ...(canary.port ? { port: canary.port } : {}) }));
    s.weight = 100 - canaryWeight;
    c.weight = canaryWeight;
    touched++;
  }
  if (!touched) throw new MeshError('MESH_CANARY_ROUTE', `${doc?.kind ?? 'route'} ${doc?.metadata?.name ?? ''} has no rule with backend ${stable.name} or ${canary.name}`);
  return stringify(doc);
}

/** The canary backend's current weight in percent across the matching rules (first rule wins). */
export function currentCanaryWeight(manifestYaml: string, stable: string, canary: string): number | undefined {
  const doc = parse(manifestYaml) as { spec?: { rules?: { backendRefs?: BackendRefDoc[] }[] } };
  for (const rule of doc?.spec?.rules ?? []) {
    const refs = rule.backendRefs ?? [];
    const s = refs.find((b) => b.name === stable);
    const c = refs.find((b) => b.name === canary);
    if (!s && !c) continue;
    if (isTesterRule(rule, stable, canary)) continue;
    const sw = s ? s.weight ?? 1 : 0;
    const cw = c ? c.weight ?? 1 : 0;
    return sw + cw === 0 ? 0 : Math.round((100 * cw) / (sw + cw));
  }
  return undefined;
}

type RuleDoc = { matches?: unknown[]; backendRefs?: BackendRefDoc[] };

/** The testers' rule: header matches sending everything to the canary alone. */
function isTesterRule(rule: RuleDoc, stable: string, canary: string): boolean {
  const refs = rule.backendRefs ?? [];
  return refs.length === 1 && refs[0]!.name === canary && refs.every((b) => b.name !== stable) && (rule.matches?.length ?? 0) > 0;
}

/**
 * Adds (present = true) or removes the rule that sends requests carrying the
 * testers' headers to the canary only, whatever the weights. It goes first:
 * header matches outrank the catch-all rule by Gateway API precedence anyway.
 */
export function setTesterRule(manifestYaml: string, stable: string, canary: { name: string; port?: number }, headers: { type: string; name: string; value: string }[], present: boolean): string {
  const doc = parse(manifestYaml) as { spec?: { rules?: RuleDoc[] } };
  if (!doc.spec) return manifestYaml;
  const rules = (doc.spec.rules ?? []).filter((r) => !isTesterRule(r, stable, canary.name));
  if (present) rules.unshift({ matches: [{ headers: headers.map((h) => ({ type: h.type, name: h.name, value: h.value })) }], backendRefs: [{ name: canary.name, ...(canary.port ? { port: canary.port } : {}) }] });
  doc.spec.rules = rules;
  return stringify(doc);
}

type FilterDoc = { type?: string; requestMirror?: { backendRef?: { name?: string } } };

/**
 * Adds (present = true) or removes a RequestMirror filter copying the stable
 * rules' traffic to the canary: the mirroring phase, before any live weight.
 * The canary's responses are discarded by the callers' sidecars, which
 * compare their status with the primary's.
 */
export function setMirror(manifestYaml: string, stable: string, canary: { name: string; port?: number }, present: boolean): string {
  const doc = parse(manifestYaml) as { spec?: { rules?: (RuleDoc & { filters?: FilterDoc[] })[] } };
  for (const rule of doc?.spec?.rules ?? []) {
    if (isTesterRule(rule, stable, canary.name)) continue;
    if (!rule.backendRefs?.some((b) => b.name === stable)) continue;
    const kept = (rule.filters ?? []).filter((f) => !(f.type === 'RequestMirror' && f.requestMirror?.backendRef?.name === canary.name));
    if (present) kept.push({ type: 'RequestMirror', requestMirror: { backendRef: { name: canary.name, ...(canary.port ? { port: canary.port } : {}) } } });
    if (kept.length) rule.filters = kept;
    else delete rule.filters;
  }
  return stringify(doc);
}

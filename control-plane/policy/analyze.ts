// What `meshctl analyze` reports (istioctl analyze's idea): policies that are
// valid but do not do what they say against the mesh as it is now — a target
// or backend that has since gone from the registry or the store, a selector
// that matches no workload, a second policy for the same target that is
// ignored. Apply-time checks refuse such references; registries and stores
// change afterwards, so this looks again on demand. Pure: policies + registry in,
// findings out.

import type { RegistryView } from '../registry/types.js';
import { parentNames, resolveBackend, resolveBackendRef, type ServiceRef } from '../translate/context.js';
import { externalServices, withExternalServices } from '../translate/external-services.js';
import { hostToServiceKey } from '../translate/scope.js';
import { refOf, type Policy, type PolicyRef, type ServiceEntry } from './types.js';
import { selectsLabels } from './selector.js';

export interface Finding {
  /** Error: the policy (or part of it) has no effect or breaks traffic. Warning: it may not do what was meant. */
  level: 'Error' | 'Warning';
  code: FindingCode;
  policy: PolicyRef;
  message: string;
}

/** Stable codes, as istioctl's IST0101…: the number says the kind of problem. */
export const FINDING_CODES = {
  /** A Service, route or rule the policy names does not exist. */
  ReferenceNotFound: 'TSM0101',
  /** A selector that matches no workload in the namespace. */
  SelectsNothing: 'TSM0102',
  /** Another policy for the same target wins; this one is ignored. */
  Shadowed: 'TSM0103',
} as const;
export type FindingCode = (typeof FINDING_CODES)[keyof typeof FINDING_CODES];

const key = (r: PolicyRef) => `${r.kind}/${r.namespace}/${r.name}`;

export function analyzePolicies(policies: readonly Policy[], registry: RegistryView): Finding[] {
  const out: Finding[] = [];
  const add = (p: Policy, level: Finding['level'], code: FindingCode, message: string) => out.push({ level, code, policy: refOf(p), message });
  const service = (ns: string, name: string) => registry.service(ns, name) !== undefined;
  const backend = (ns: string, name: string, port?: number) => service(ns, name) || resolveBackend(registry, ns, name, port, { requireEndpoints: true }) !== undefined;
  // Routes may also attach to ServiceEntries and send to their hosts.
  const view = withExternalServices(registry, externalServices(policies.filter((p): p is ServiceEntry => p.kind === 'ServiceEntry')));
  const backendRef = (ns: string, b: ServiceRef, port?: number) =>
    b.kind === 'Hostname' || b.kind === 'ServiceEntry' ? resolveBackendRef(view, ns, b, port) !== undefined : backend(b.namespace ?? ns, b.name, port);
  const labelsIn = (ns: string) =>
    registry
      .services()
      .filter((s) => s.namespace === ns)
      .flatMap((s) => registry.endpoints(ns, s.name).map((e) => e.labels));
  const selects = (ns: string, match: Record<string, string>) => labelsIn(ns).some((l) => selectsLabels(match, l));

  // First by name wins for one target (the translator's rule): the others are shadowed.
  const winners = new Map<string, Policy>();
  const claim = (p: Policy, target: string, what: string) => {
    const prev = winners.get(target);
    if (!prev) return void winners.set(target, p);
    const [win, lose] = prev.metadata.name <= p.metadata.name ? [prev, p] : [p, prev];
    winners.set(target, win);
    add(lose, 'Warning', FINDING_CODES.Shadowed, `ignored: ${key(refOf(win))} also ${what} and wins (first by name)`);
  };

  for (const p of policies) {
    const ns = p.metadata.namespace;
    switch (p.kind) {
      case 'HTTPRoute':
      case 'GRPCRoute':
        for (const pr of p.spec.parentRefs) {
          const pns = pr.namespace ?? ns;
          if (pr.kind === 'ServiceEntry') {
            if (!view.services().some((s) => parentNames(ns, pr, s))) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `parent ServiceEntry ${pns}/${pr.name} does not exist: the route applies to nothing`);
          } else if (!service(pns, pr.name)) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `parent Service ${pns}/${pr.name} is not in the registry: the route applies to nothing`);
        }
        p.spec.rules.forEach((rule, i) => {
          const rname = rule.name ?? `rules[${i}]`;
          const what = (b: ServiceRef) => (b.kind === 'Hostname' ? `host ${b.name}` : `${b.namespace ?? ns}/${b.name}`);
          for (const b of rule.backendRefs) {
            if (b.weight > 0 && !backendRef(ns, b, b.port)) {
              add(p, 'Error', FINDING_CODES.ReferenceNotFound, `${rname}: backend ${what(b)} is not in the registry (or has no endpoints): its share of requests fails`);
            }
          }
          for (const f of rule.filters) {
            if (f.type !== 'RequestMirror') continue;
            const m = f.requestMirror.backendRef;
            if (!backendRef(ns, m, m.port)) add(p, 'Warning', FINDING_CODES.ReferenceNotFound, `${rname}: mirror target ${what(m)} is not in the registry: nothing is mirrored`);
          }
        });
        break;
      case 'DestinationPolicy':
      case 'RateLimitPolicy': {
        const t = p.spec.targetRef;
        const tns = ('namespace' in t && t.namespace) || ns;
        if (t.kind === 'ServiceEntry') {
          if (!view.services().some((s) => parentNames(ns, t, s))) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target ServiceEntry ${tns}/${t.name} does not exist: the policy has no effect`);
          claim(p, `${p.kind}:ServiceEntry:${tns}/${t.name}`, `targets ServiceEntry ${tns}/${t.name}`);
          break;
        }
        if (!service(tns, t.name)) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target Service ${tns}/${t.name} is not in the registry: the policy has no effect`);
        claim(p, `${p.kind}:${tns}/${t.name}`, `targets Service ${tns}/${t.name}`);
        break;
      }
      case 'AuthorizationPolicy':
        if (p.spec.targetRef && !service(ns, p.spec.targetRef.name)) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target Service ${ns}/${p.spec.targetRef.name} is not in the registry: the policy has no effect`);
        if (p.spec.selector && !selects(ns, p.spec.selector.matchLabels)) add(p, 'Warning', FINDING_CODES.SelectsNothing, `selector ${labelsText(p.spec.selector.matchLabels)} matches no workload in namespace ${ns}`);
        break;
      case 'PeerAuthentication': {
        const sel = p.spec.selector?.matchLabels;
        if (!sel) {
          claim(p, `PeerAuthentication:${ns}`, `is namespace-wide in ${ns}`);
          break;
        }
        const workloads = labelsIn(ns).filter((l) => selectsLabels(sel, l));
        if (!workloads.length) add(p, 'Warning', FINDING_CODES.SelectsNothing, `selector ${labelsText(sel)} matches no workload in namespace ${ns}`);
        // A workload takes one selecting policy (the first by name): another one selecting it is ignored there.
        for (const other of policies) {
          if (other === p || other.kind !== 'PeerAuthentication' || other.metadata.namespace !== ns || !other.spec.selector || other.metadata.name > p.metadata.name) continue;
          const o = other.spec.selector.matchLabels;
          if (workloads.some((l) => selectsLabels(o, l))) {
            add(p, 'Warning', FINDING_CODES.Shadowed, `ignored where ${key(refOf(other))} also selects the workload (first by name wins)`);
            break;
          }
        }
        break;
      }
      case 'FaultPolicy': {
        const t = p.spec.targetRef;
        if (t.kind === 'Service') {
          if (!service(ns, t.name)) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target Service ${ns}/${t.name} is not in the registry: the policy has no effect`);
          break;
        }
        const route = policies.find((r) => r.kind === t.kind && r.metadata.namespace === ns && r.metadata.name === t.name);
        if (!route) add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target ${t.kind} ${ns}/${t.name} does not exist: the policy has no effect`);
        else if (t.sectionName !== undefined && (route.kind === 'HTTPRoute' || route.kind === 'GRPCRoute') && !route.spec.rules.some((r) => r.name === t.sectionName)) {
          add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target ${t.kind} ${ns}/${t.name} has no rule named "${t.sectionName}": the policy has no effect`);
        }
        break;
      }
      case 'Canary': {
        const t = p.spec.targetRef;
        if (!policies.some((r) => r.kind === t.kind && r.metadata.namespace === ns && r.metadata.name === t.name)) {
          add(p, 'Error', FINDING_CODES.ReferenceNotFound, `target ${t.kind} ${ns}/${t.name} does not exist: the canary cannot shift traffic`);
        }
        break;
      }
      case 'ServiceEntry':
        for (const host of p.spec.hosts) {
          claim(p, `ServiceEntry host\0${ns}\0${host}`, `names host ${host} in this namespace`);
          const mesh = hostToServiceKey(registry, host, ns);
          if (mesh !== undefined && !registry.service(...(mesh.split('/') as [string, string]))?.external) {
            add(p, 'Warning', FINDING_CODES.Shadowed, `host ${host} is the mesh Service ${mesh}, which wins: the entry has no effect for it`);
          }
        }
        break;
      case 'MeshConfig':
        break;
    }
  }
  return out.sort((a, b) => (key(a.policy) < key(b.policy) ? -1 : key(a.policy) > key(b.policy) ? 1 : a.message < b.message ? -1 : 1));
}

const labelsText = (m: Record<string, string>) => `{${Object.entries(m).map(([k, v]) => `${k}: ${v}`).join(', ')}}`;

// Checks that span resources: references to Services the registry does not
// know, duplicate names within one apply, more than one MeshConfig, a Canary
// or FaultPolicy naming a route (or rule) that does not exist. Run against the batch being applied
// plus what the store already holds (the batch wins on name clashes).

import type { ValidationIssue } from '../../common/errors.js';
import { formatPath, type PathSeg } from '../../common/yaml-source.js';
import type { RegistryView } from '../registry/types.js';
import type { SourcedPolicy } from './parse.js';
import { externalService, resolveBackend, type ServiceRef } from '../translate/context.js';
import { externalServices, withExternalServices } from '../translate/external-services.js';
import { policyKey, refOf, type Policy, type ServiceEntry } from './types.js';

export function crossCheck(batch: readonly SourcedPolicy[], existing: readonly Policy[], registry: RegistryView): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const at = (sp: SourcedPolicy, path: PathSeg[], message: string) => {
    issues.push({ file: sp.source?.file, line: sp.source?.lineOf(path), path: formatPath(path), message });
  };

  const seen = new Map<string, SourcedPolicy>();
  for (const sp of batch) {
    const key = policyKey(refOf(sp.policy));
    const prev = seen.get(key);
    if (prev) {
      const where = prev.source?.file ? ` (first at ${prev.source.file}:${prev.source.line})` : '';
      at(sp, ['metadata', 'name'], `duplicate ${sp.policy.kind} "${sp.policy.metadata.namespace}/${sp.policy.metadata.name}" in this apply${where}`);
    }
    seen.set(key, sp);
  }

  const batchKeys = new Set(seen.keys());
  const merged = [...existing.filter((p) => !batchKeys.has(policyKey(refOf(p)))), ...batch.map((b) => b.policy)];
  const meshConfigs = merged.filter((p) => p.kind === 'MeshConfig');
  if (meshConfigs.length > 1) {
    for (const sp of batch) {
      if (sp.policy.kind !== 'MeshConfig') continue;
      const others = meshConfigs.filter((m) => m !== sp.policy).map((m) => `${m.metadata.namespace}/${m.metadata.name}`);
      at(sp, ['metadata', 'name'], `only one MeshConfig may exist; ${others.join(', ')} already does (edit that one instead)`);
    }
  }

  // ServiceEntries (the batch's and the store's) are services too: routes may attach to them and name their hosts.
  const entries = merged.filter((p): p is ServiceEntry => p.kind === 'ServiceEntry');
  const view = withExternalServices(registry, externalServices(entries));

  const service = (sp: SourcedPolicy, path: PathSeg[], name: string, ns: string | undefined, port?: number) => {
    const namespace = ns ?? sp.policy.metadata.namespace;
    const svc = registry.service(namespace, name);
    if (!svc) {
      at(sp, path, `Service "${namespace}/${name}" is not in the registry (known: ${knownServices(registry)})`);
      return;
    }
    if (port !== undefined && svc.ports.length && !svc.ports.some((p) => p.port === port)) {
      at(sp, [...path.slice(0, -1), 'port'], `Service "${namespace}/${name}" has no port ${port} (ports: ${svc.ports.map((p) => p.port).join(', ')})`);
    }
  };

  const strict = { requireEndpoints: true };
  // A backend may also be a version subset `<service>-<version>` (see translate/context.ts).
  const backend = (sp: SourcedPolicy, path: PathSeg[], name: string, ns: string | undefined, port?: number) => {
    const namespace = ns ?? sp.policy.metadata.namespace;
    if (registry.service(namespace, name) || !resolveBackend(registry, namespace, name, undefined, strict)) service(sp, path, name, ns, port);
    else if (port !== undefined && !resolveBackend(registry, namespace, name, port, strict)) service(sp, path, name.slice(0, name.lastIndexOf('-')), ns, port);
  };

  /** A ServiceEntry parent (by namespace/name) and its port. */
  const entryParent = (sp: SourcedPolicy, path: PathSeg[], pr: ServiceRef & { port?: number }) => {
    const ns = pr.namespace ?? sp.policy.metadata.namespace;
    const se = entries.find((e) => e.metadata.namespace === ns && e.metadata.name === pr.name);
    if (!se) return at(sp, path, `ServiceEntry "${ns}/${pr.name}" does not exist`);
    if (pr.port !== undefined && !se.spec.ports.some((x) => x.number === pr.port)) {
      at(sp, [...path.slice(0, -1), 'port'], `ServiceEntry "${ns}/${pr.name}" has no port ${pr.port} (ports: ${se.spec.ports.map((x) => x.number).join(', ')})`);
    }
  };
  /** A Hostname or ServiceEntry backend: an entry host visible to the route's namespace, on that port. */
  const externalBackend = (sp: SourcedPolicy, path: PathSeg[], b: ServiceRef & { port?: number }) => {
    const ns = sp.policy.metadata.namespace;
    const svc = externalService(view, ns, b);
    if (!svc) return at(sp, path, b.kind === 'Hostname' ? `no ServiceEntry exported to namespace ${ns} names host "${b.name}"` : `ServiceEntry "${b.namespace ?? ns}/${b.name}" does not exist`);
    if (b.port !== undefined && !svc.ports.some((x) => x.port === b.port)) {
      at(sp, [...path.slice(0, -1), 'port'], `${svc.hostname} (ServiceEntry ${svc.external!.entry}) has no port ${b.port} (ports: ${svc.ports.map((x) => x.port).join(', ')})`);
    }
  };
  const anyBackend = (sp: SourcedPolicy, path: PathSeg[], b: ServiceRef & { port?: number }) =>
    b.kind === 'Hostname' || b.kind === 'ServiceEntry' ? externalBackend(sp, path, b) : backend(sp, path, b.name, b.namespace, b.port);

  for (const sp of batch) {
    const p = sp.policy;
    if (p.kind === 'HTTPRoute' || p.kind === 'GRPCRoute') {
      p.spec.parentRefs.forEach((pr, i) =>
        pr.kind === 'ServiceEntry' ? entryParent(sp, ['spec', 'parentRefs', i, 'name'], pr) : service(sp, ['spec', 'parentRefs', i, 'name'], pr.name, pr.namespace, pr.port),
      );
      p.spec.rules.forEach((rule, ri) => {
        rule.backendRefs.forEach((b, bi) => anyBackend(sp, ['spec', 'rules', ri, 'backendRefs', bi, 'name'], b));
        rule.filters.forEach((f, fi) => {
          if (f.type === 'RequestMirror') anyBackend(sp, ['spec', 'rules', ri, 'filters', fi, 'requestMirror', 'backendRef', 'name'], f.requestMirror.backendRef);
        });
      });
    } else if (p.kind === 'DestinationPolicy') {
      if (p.spec.targetRef.kind === 'ServiceEntry') entryParent(sp, ['spec', 'targetRef', 'name'], p.spec.targetRef);
      else service(sp, ['spec', 'targetRef', 'name'], p.spec.targetRef.name, p.spec.targetRef.namespace);
    } else if (p.kind === 'FaultPolicy') {
      const t = p.spec.targetRef;
      if (t.kind === 'Service') service(sp, ['spec', 'targetRef', 'name'], t.name, undefined);
      else {
        const route = merged.find((m) => m.kind === t.kind && m.metadata.namespace === p.metadata.namespace && m.metadata.name === t.name);
        if (!route) at(sp, ['spec', 'targetRef', 'name'], `${t.kind} "${p.metadata.namespace}/${t.name}" does not exist`);
        else if (t.sectionName !== undefined && (route.kind === 'HTTPRoute' || route.kind === 'GRPCRoute') && !route.spec.rules.some((r) => r.name === t.sectionName)) {
          const names = route.spec.rules.flatMap((r) => (r.name ? [r.name] : []));
          at(sp, ['spec', 'targetRef', 'sectionName'], `${t.kind} "${p.metadata.namespace}/${t.name}" has no rule named "${t.sectionName}" (named rules: ${names.join(', ') || 'none'})`);
        }
      }
    } else if (p.kind === 'RateLimitPolicy') {
      service(sp, ['spec', 'targetRef', 'name'], p.spec.targetRef.name, undefined);
    } else if (p.kind === 'AuthorizationPolicy' && p.spec.targetRef) {
      service(sp, ['spec', 'targetRef', 'name'], p.spec.targetRef.name, undefined);
    } else if (p.kind === 'Canary') {
      const target = merged.find((m) => m.kind === p.spec.targetRef.kind && m.metadata.namespace === p.metadata.namespace && m.metadata.name === p.spec.targetRef.name);
      if (!target) at(sp, ['spec', 'targetRef', 'name'], `${p.spec.targetRef.kind} "${p.metadata.namespace}/${p.spec.targetRef.name}" does not exist`);
      else if (
        (target.kind === 'HTTPRoute' || target.kind === 'GRPCRoute') &&
        !target.spec.rules.some((r) => r.backendRefs.some((b) => b.name === p.spec.stableBackend.name))
      ) {
        at(sp, ['spec', 'stableBackend', 'name'], `${target.kind} "${p.metadata.namespace}/${target.metadata.name}" has no backendRef "${p.spec.stableBackend.name}" for the canary to shift traffic from`);
      }
      service(sp, ['spec', 'service'], p.spec.service, undefined);
      backend(sp, ['spec', 'stableBackend', 'name'], p.spec.stableBackend.name, undefined);
      backend(sp, ['spec', 'canaryBackend', 'name'], p.spec.canaryBackend.name, undefined);
    }
  }
  return issues;
}

function knownServices(registry: RegistryView): string {
  const names = registry.services().map((s) => `${s.namespace}/${s.name}`);
  if (!names.length) return 'none';
  return names.length > 10 ? `${names.slice(0, 10).join(', ')}, …` : names.join(', ');
}

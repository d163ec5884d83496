// Sidecar injection: one pure function over Kubernetes objects, shared by
// `meshctl inject` (manifests in YAML) and the admission webhook (one Pod).

import { stringify } from 'yaml';
import { MeshError, ValidationError } from '../../common/errors.js';
import { parseYamlDocuments } from '../../common/yaml-source.js';
import {
  applyAnnotations, defaultInjectOptions, HEALTH_PORT, INIT_CONTAINER, INJECT_ANNOTATION, PROXY_CONTAINER, STATUS_ANNOTATION,
  type InjectOptions,
} from './options.js';
import { rewriteAppProbes } from './probes.js';
import { initContainer, proxyContainer, sidecarVolumes } from './sidecar.js';

type Obj = Record<string, unknown>;

export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;

export interface InjectOutcome {
  kind: string;
  name: string;
  namespace?: string;
  action: 'injected' | 'skipped';
  /** Why it was skipped (opted out, already injected, host network, not a workload). */
  reason?: string;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Kind → path from the object to its pod template ([] for a Pod itself). */
const TEMPLATE_PATHS: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function names(list: unknown): string[] {
  return Array.isArray(list) ? list.filter(isObj).map((c) => String(c.name ?? '')) : [];
}

/** TCP containerPorts of the app containers, deduplicated, in declaration order. */
function containerPorts(containers: unknown): number[] {
  const out: number[] = [];
  for (const c of Array.isArray(containers) ? containers.filter(isObj) : []) {
    for (const p of Array.isArray(c.ports) ? c.ports.filter(isObj) : []) {
      const n = p.containerPort;
      if ((p.protocol ?? 'TCP') === 'TCP' && Number.isInteger(n) && (n as number) > 0 && (n as number) < 65536 && !out.includes(n as number)) out.push(n as number);
    }
  }
  return out;
}

/** Why this pod template must not be injected, or undefined to inject it. */
function skipReason(template: Obj, workloadMeta: Obj): string | undefined {
  const meta = isObj(template.metadata) ? template.metadata : {};
  const spec = isObj(template.spec) ? template.spec : {};
  const ann = stringMap(meta.annotations);
  const labels = stringMap(meta.labels);
  const wAnn = stringMap(workloadMeta.annotations);
  if ([ann[INJECT_ANNOTATION], labels[INJECT_ANNOTATION], wAnn[INJECT_ANNOTATION]].includes('false')) return 'opted out (sidecar.tsmesh.io/inject: "false")';
  if (ann[STATUS_ANNOTATION] !== undefined) return 'already injected';
  if ([...names(spec.containers), ...names(spec.initContainers)].includes(PROXY_CONTAINER)) return 'already injected';
  if (spec.hostNetwork === true) return 'uses the host network';
  if (!Array.isArray(spec.containers) || !spec.containers.some(isObj)) return 'no containers';
  return undefined;
}

function injectTemplate(template: Obj, base: InjectOptions, where: string): Obj {
  const meta: Obj = isObj(template.metadata) ? { ...template.metadata } : {};
  const spec: Obj = isObj(template.spec) ? { ...template.spec } : {};
  const annotations = stringMap(meta.annotations);
  const o = applyAnnotations(base, annotations, where);
  const appContainers = names(spec.containers);
  const existingInit = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  // Under STRICT mTLS the kubelet's plaintext probes would be refused: they go to the sidecar instead.
  const probes = o.rewriteAppProbes ? rewriteAppProbes(Array.isArray(spec.containers) ? spec.containers : [], HEALTH_PORT) : undefined;
  const existing = probes ? probes.containers : Array.isArray(spec.containers) ? spec.containers : [];
  const proxy = proxyContainer(o, {
    appContainers,
    appPorts: containerPorts(spec.containers),
    labels: stringMap(meta.labels),
    ...(probes ? { appProbers: probes.probers } : {}),
  });
  // The proxy starts right after the redirect rules, before the app's own init
  // containers (native mode), so their traffic is meshed too.
  spec.initContainers = o.nativeSidecars ? [initContainer(o), proxy, ...existingInit] : [initContainer(o), ...existingInit];
  spec.containers = o.nativeSidecars ? existing : [proxy, ...existing];
  spec.volumes = [...(Array.isArray(spec.volumes) ? spec.volumes : []), ...sidecarVolumes(o)];
  const status = {
    initContainers: o.nativeSidecars ? [INIT_CONTAINER, PROXY_CONTAINER] : [INIT_CONTAINER],
    containers: o.nativeSidecars ? [] : [PROXY_CONTAINER],
    volumes: sidecarVolumes(o).map((v) => v.name),
    nativeSidecar: o.nativeSidecars,
  };
  const outAnn: Record<string, unknown> = { ...(isObj(meta.annotations) ? meta.annotations : {}), [STATUS_ANNOTATION]: JSON.stringify(status) };
  if (appContainers[0] && outAnn['kubectl.kubernetes.io/default-container'] === undefined) outAnn['kubectl.kubernetes.io/default-container'] = appContainers[0];
  meta.annotations = outAnn;
  // A template without metadata gets it first, where people expect it.
  return isObj(template.metadata) ? { ...template, metadata: meta, spec } : { metadata: meta, ...template, spec };
}

function setIn(obj: Obj, path: string[], value: Obj): Obj {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  return { ...obj, [head]: setIn(isObj(obj[head]) ? (obj[head] as Obj) : {}, rest, value) };
}

function getIn(obj: Obj, path: string[]): Obj | undefined {
  let cur: unknown = obj;
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined;
  return isObj(cur) ? cur : undefined;
}

/**
 * Inject the sidecar into one object (a workload, a Pod or a List of them).
 * Returns a new object; the input is not modified. Objects that are not
 * workloads, opted out or already injected come back unchanged.
 */
export function injectObject(obj: unknown, options: Partial<InjectOptions> = {}, outcomes: InjectOutcome[] = []): unknown {
  if (!isObj(obj)) return obj;
  const opts: InjectOptions = { ...defaultInjectOptions, ...options, resources: { ...defaultInjectOptions.resources, ...options.resources } };
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const name = String(meta.name ?? meta.generateName ?? '');
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(obj.items))) {
    return { ...obj, items: (Array.isArray(obj.items) ? obj.items : []).map((it) => injectObject(it, opts, outcomes)) };
  }
  const path = TEMPLATE_PATHS[kind];
  if (!path) {
    outcomes.push({ kind, name, namespace, action: 'skipped', reason: 'not a workload' });
    return obj;
  }
  const template = path.length === 0 ? obj : getIn(obj, path);
  if (!template) {
    outcomes.push({ kind, name, namespace, action: 'skipped', reason: `no pod template at ${path.join('.')}` });
    return obj;
  }
  const reason = skipReason(template, meta);
  if (reason) {
    outcomes.push({ kind, name, namespace, action: 'skipped', reason });
    return obj;
  }
  const injected = injectTemplate(template, opts, `${kind}/${name}`);
  outcomes.push({ kind, name, namespace, action: 'injected' });
  return setIn(obj, path, injected);
}

/**
 * `meshctl inject`: inject every workload in a (multi-document) YAML text.
 * Comments are not kept; key order is. Throws ValidationError with file:line
 * on malformed YAML or bad sidecar annotations.
 */
export function injectManifests(yamlText: string, options: Partial<InjectOptions> = {}, file?: string, outcomes: InjectOutcome[] = []): string {
  if (Buffer.byteLength(yamlText) > MAX_MANIFEST_BYTES) {
    throw new MeshError('MESH_TOO_LARGE', `${file ?? 'manifest'} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  const docs = parseYamlDocuments(yamlText, file);
  return docs
    .map((d) => {
      try {
        return stringify(injectObject(d.value, options, outcomes), { lineWidth: 0, aliasDuplicateObjects: false });
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        // Point at the pod template's annotations in the file.
        const kind = isObj(d.value) && typeof d.value.kind === 'string' ? d.value.kind : '';
        const base = TEMPLATE_PATHS[kind] ?? [];
        const issues = err.issues.map((i) => {
          const key = /annotations\["([^"]+)"\]/.exec(i.path)?.[1];
          const line = d.lineOf([...base, 'metadata', 'annotations', ...(key ? [key] : [])]);
          return { ...i, file, line, path: [...base, i.path].join('.') };
        });
        throw new ValidationError(issues, `sidecar annotations${file ? ` in ${file}` : ''}`);
      }
    })
    .join('---\n');
}

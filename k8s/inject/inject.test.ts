import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ValidationError } from '../../common/errors.js';
import { injectManifests, injectObject, type InjectOutcome } from './inject.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const goldenDir = join(dir, 'golden');
const update = process.env.UPDATE_GOLDEN === '1';
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const docs = (text: string) => parseAllDocuments(text).map((d) => (Array.isArray(d) ? null : d.toJS()));

function podSpecs(obj: any): any[] {
  switch (obj.kind) {
    case 'List': return obj.items.flatMap(podSpecs);
    case 'Pod': return [obj.spec];
    case 'CronJob': return [obj.spec.jobTemplate.spec.template.spec];
    case 'Service': return [];
    default: return [obj.spec.template.spec];
  }
}

describe('injectManifests golden files', () => {
  for (const f of fixtures) {
    it(f, () => {
      const out = injectManifests(readFileSync(join(dir, f), 'utf8'), {}, f);
      const golden = join(goldenDir, f);
      if (update || !existsSync(golden)) {
        mkdirSync(goldenDir, { recursive: true });
        writeFileSync(golden, out);
      }
      expect(out).toBe(readFileSync(golden, 'utf8'));
    });
  }
});

describe('injection behaviour', () => {
  it('is idempotent: injecting the injected output changes nothing', () => {
    for (const f of fixtures) {
      const once = injectManifests(readFileSync(join(dir, f), 'utf8'));
      const outcomes: InjectOutcome[] = [];
      expect(injectManifests(once, {}, f, outcomes), f).toBe(once);
      expect(outcomes.every((o) => o.action === 'skipped')).toBe(true);
    }
  });

  it('native mode: init + proxy (restartPolicy Always, startup probe) before the app init containers', () => {
    const [dep] = docs(injectManifests(readFileSync(join(dir, 'deployment-multi.yaml'), 'utf8'))) as any[];
    const spec = dep.spec.template.spec;
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['tsmesh-init', 'tsmesh-proxy', 'migrate']);
    expect(spec.containers.map((c: any) => c.name)).toEqual(['reviews', 'log-shipper']);
    const proxy = spec.initContainers[1];
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.startupProbe.httpGet).toEqual({ path: '/ready', port: 15021 });
    expect(proxy.securityContext.runAsUser).toBe(1337);
    expect(proxy.resources.requests).toEqual({ cpu: '200m', memory: '256Mi' });
    expect(proxy.env.find((e: any) => e.name === 'TSMESH_LOG_LEVEL').value).toBe('debug');
    const init = spec.initContainers[0];
    expect(init.securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(init.args).toContain('--exclude-outbound-ports=5432,6379');
    expect(spec.volumes.map((v: any) => v.name)).toEqual(['wlp-output', 'tmp', 'tsmesh-token', 'tsmesh-ca-root', 'tsmesh-data']);
    expect(spec.volumes[2].projected.sources[0].serviceAccountToken.audience).toBe('tsmesh-ca');
    expect(dep.spec.template.metadata.annotations['kubectl.kubernetes.io/default-container']).toBe('reviews');
    // untouched fields survive
    expect(spec.containers[0].securityContext).toEqual({ runAsUser: 1000 });
    expect(dep.spec.replicas).toBe(2);
  });

  it('classic mode (older clusters): proxy first in containers with a postStart hold', () => {
    const out = docs(injectManifests(readFileSync(join(dir, 'pod.yaml'), 'utf8'), { nativeSidecars: false }))[0] as any;
    expect(out.spec.initContainers.map((c: any) => c.name)).toEqual(['tsmesh-init']);
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['tsmesh-proxy', 'sleep']);
    expect(out.spec.containers[0].restartPolicy).toBeUndefined();
    expect(out.spec.containers[0].lifecycle.postStart.exec.command[0]).toBe('node');
  });

  it('injects every workload kind, skips Services and opted-out objects', () => {
    for (const f of fixtures) {
      const input = docs(readFileSync(join(dir, f), 'utf8'));
      const output = docs(injectManifests(readFileSync(join(dir, f), 'utf8')));
      output.forEach((o: any, i) => {
        const optedOut = f === 'opted-out.yaml';
        if (optedOut) expect(o).toEqual(input[i]);
        for (const spec of podSpecs(o)) {
          const all = [...(spec.initContainers ?? []), ...spec.containers].map((c: any) => c.name);
          expect(all.includes('tsmesh-proxy'), `${f}[${i}]`).toBe(!optedOut);
        }
      });
    }
  });

  it('does not modify its input object', () => {
    const pod = docs(readFileSync(join(dir, 'pod.yaml'), 'utf8'))[0];
    const copy = structuredClone(pod);
    injectObject(pod);
    expect(pod).toEqual(copy);
  });

  it('rejects bad annotations with the field path, and bad YAML with file:line', () => {
    const bad = readFileSync(join(dir, 'pod.yaml'), 'utf8').replace('labels:', 'annotations:\n    sidecar.tsmesh.io/excludeOutboundPorts: "80,http"\n  labels:');
    expect(() => injectManifests(bad, {}, 'pod.yaml')).toThrow(/pod\.yaml:7: metadata\.annotations\["sidecar\.tsmesh\.io\/excludeOutboundPorts"\]: "http" is not a port/);
    try {
      injectManifests('kind: Pod\nmetadata: [\n', {}, 'x.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as Error).message).toMatch(/x\.yaml:\d+/);
    }
  });

  it('passes the tracing endpoint and sampling (mesh-wide or per pod) to the sidecar, and refuses bad ones', () => {
    const pod = readFileSync(join(dir, 'pod.yaml'), 'utf8');
    const envOf = (yaml: string, opts = {}) => {
      const spec = docs(injectManifests(yaml, opts))[0].spec;
      const proxy = [...(spec.initContainers ?? []), ...spec.containers].find((c: { name: string }) => c.name === 'tsmesh-proxy');
      return Object.fromEntries(proxy.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
    };
    expect(envOf(pod).TSMESH_TRACING_ENDPOINT).toBeUndefined();
    const url = 'http://otel-collector.observability:4318/v1/traces';
    expect(envOf(pod, { tracingEndpoint: url })).toMatchObject({ TSMESH_TRACING_ENDPOINT: url });
    expect(envOf(pod, { tracingEndpoint: url }).TSMESH_TRACING_SAMPLING).toBeUndefined();
    const annotated = pod.replace('labels:', `annotations:\n    sidecar.tsmesh.io/tracingSampling: "25"\n  labels:`);
    expect(envOf(annotated, { tracingEndpoint: url })).toMatchObject({ TSMESH_TRACING_ENDPOINT: url, TSMESH_TRACING_SAMPLING: '25' });
    const own = pod.replace('labels:', `annotations:\n    sidecar.tsmesh.io/tracingEndpoint: "https://tempo.example:4318/v1/traces"\n  labels:`);
    expect(envOf(own, { tracingEndpoint: url }).TSMESH_TRACING_ENDPOINT).toBe('https://tempo.example:4318/v1/traces');
    expect(() => injectManifests(annotated, {}, 'pod.yaml')).toThrow(/tracingSampling"\]: needs a tracing endpoint/);
    const bad = pod.replace('labels:', `annotations:\n    sidecar.tsmesh.io/tracingEndpoint: "collector:4317"\n    sidecar.tsmesh.io/tracingSampling: "101"\n  labels:`);
    expect(() => injectManifests(bad, {}, 'pod.yaml')).toThrow(/tracingEndpoint"\]: "collector:4317" is not an http\(s\) URL[\s\S]*tracingSampling"\]: "101" is not a percentage/);
  });

  it('skips hostNetwork pods', () => {
    const outcomes: InjectOutcome[] = [];
    injectObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'h' }, spec: { hostNetwork: true, containers: [{ name: 'a', image: 'x' }] } }, {}, outcomes);
    expect(outcomes).toEqual([{ kind: 'Pod', name: 'h', namespace: undefined, action: 'skipped', reason: 'uses the host network' }]);
  });
});

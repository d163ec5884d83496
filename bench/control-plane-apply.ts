// The first half of "time from an apply until N proxies ACKed": from a policy
// apply until every proxy's new snapshot is published to the xDS cache. The
// real controller (MeshController, embedded registry and store, translator)
// recomputes every connected proxy's config and publishes it into a real
// MemorySnapshotCache. The second half (published → ACKed over gRPC) is
// control-plane/xds/bench-acks.ts.
//
//   node dist/bench/control-plane-apply.js [--nodes 100,1000] [--reps 3]
import { pathToFileURL } from 'node:url';
import { ManualClock } from '../common/clock.js';
import { MeshController } from '../control-plane/controller.js';
import { applyPolicyText } from '../control-plane/policy/apply.js';
import { EmbeddedRegistry } from '../control-plane/registry/embedded-registry.js';
import { EmbeddedPolicyStore } from '../control-plane/store/embedded-store.js';
import { MemorySnapshotCache } from '../control-plane/xds/cache.js';

export interface ApplyBenchResult {
  nodes: number;
  services: number;
  /** Wall time from the apply's store write until the last snapshot was published (controller debounce excluded). */
  applyToPublishedMs: number;
  /** Controller + translator + snapshot build CPU per proxy for that apply. */
  cpuUsPerProxy: number;
  published: number;
}

const REPLICAS_PER_SERVICE = 50;

function route(service: string, timeoutS: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${service} }
spec:
  parentRefs: [{ kind: Service, name: ${service}, port: 9080 }]
  rules:
    - backendRefs: [{ name: ${service}, port: 9080 }]
      timeouts: { request: ${timeoutS}s }
`;
}

/** `nodes` sidecars in services of 50 replicas, each calling the next service; then `reps` applies of a route change. */
export async function benchApply(nodes: number, reps: number): Promise<ApplyBenchResult[]> {
  const clock = new ManualClock();
  const registry = new EmbeddedRegistry();
  const store = EmbeddedPolicyStore.memory();
  const cache = new MemorySnapshotCache();
  let published = 0;
  const ctl = new MeshController({
    store,
    registry,
    selfRegistration: registry,
    clock,
    debounceMs: 50,
    publish: (nodeId, resources, meta) => {
      cache.setSnapshot(nodeId, String(meta.storeVersion), resources);
      published++;
    },
  });
  const services = Math.max(1, Math.ceil(nodes / REPLICAS_PER_SERVICE));
  const svc = (i: number) => `svc-${i % services}`;
  for (let i = 0; i < nodes; i++) {
    const s = Math.floor(i / REPLICAS_PER_SERVICE);
    ctl.nodeConnected({
      id: `${svc(s)}-${i}`,
      metadata: { service: svc(s), serviceAccount: svc(s), inboundAddress: `10.${s % 250}.${(i >> 8) & 255}.${i & 255}`, inboundPort: 15006, appPort: 9080, labels: { version: 'v1' } },
    });
  }
  clock.advance(50);
  for (let i = 0; i < nodes; i++) ctl.noteDependency(`${svc(Math.floor(i / REPLICAS_PER_SERVICE))}-${i}`, `${svc(Math.floor(i / REPLICAS_PER_SERVICE) + 1)}:9080`);
  clock.advance(50);
  const out: ApplyBenchResult[] = [];
  for (let r = 0; r <= reps; r++) {
    const applied = await applyPolicyText(route(svc(1), 5 + r), { store, registry });
    if (applied.version === undefined) throw new Error('bench route was not applied');
    const before = published;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    ctl.flush(); // what the debounce timer runs
    const ms = performance.now() - t0;
    const c = process.cpuUsage(cpu0);
    // Apply 0 warms the JIT; it is not reported.
    if (r > 0) out.push({ nodes, services, applyToPublishedMs: Math.round(ms), cpuUsPerProxy: Math.round((c.user + c.system) / nodes), published: published - before });
  }
  ctl.close();
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : dflt;
  };
  const results = [];
  for (const n of arg('nodes', '100,1000').split(',').map(Number)) results.push(...(await benchApply(n, Number(arg('reps', '3')))));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

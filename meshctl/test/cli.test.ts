// meshctl as a real child process against a real mesh-control-plane process.

import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalControlPlane, type LocalControlPlane, type MeshctlResult } from './local-control-plane.js';

let lcp: LocalControlPlane;
let dir = '';
let stateDir = '';
const meshctl = (args: string[], input?: string): Promise<MeshctlResult> => lcp.meshctl(args, input);

beforeAll(async () => {
  lcp = await startLocalControlPlane('meshctl-test-');
  dir = lcp.dir;
  stateDir = lcp.stateDir;
}, 30_000);

afterAll(async () => {
  await lcp?.stop();
});

const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs: [{ kind: Service, name: reviews }]
  rules:
    - timeouts: { request: 2s }
      backendRefs: [{ name: reviews-v1, port: 9080, weight: 100 }]
`;
const policy = `apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata:
  name: reviews-lb
spec:
  targetRef: { kind: Service, name: reviews }
  loadBalancer: { type: ROUND_ROBIN }
`;

describe('meshctl against a running control plane', () => {
  it('apply -f a file: created, then unchanged; get lists it in every format', async () => {
    const f = join(dir, 'lb.yaml');
    writeFileSync(f, policy);
    const first = await meshctl(['apply', '-f', f]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^DestinationPolicy\/reviews-lb created\nstore version \d+\n/);
    expect((await meshctl(['apply', '-f', f])).stdout).toMatch(/^DestinationPolicy\/reviews-lb unchanged\n/);

    const table = await meshctl(['get', 'destinationpolicy']);
    expect(table.stdout).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+VERSION\nDestinationPolicy\s+default\s+reviews-lb\s+\d+\n$/);
    const json = JSON.parse((await meshctl(['get', 'DestinationPolicy', 'reviews-lb', '-o', 'json'])).stdout) as { spec: { loadBalancer: { type: string } } };
    expect(json.spec.loadBalancer.type).toBe('ROUND_ROBIN');
    expect((await meshctl(['get', 'destinationpolicy', 'reviews-lb', '-o', 'yaml'])).stdout).toContain('type: ROUND_ROBIN');
  });

  it('apply -f - --dry-run shows a diff and changes nothing', async () => {
    const r = await meshctl(['apply', '--dry-run', '-f', '-'], policy.replace('ROUND_ROBIN', 'LEAST_REQUEST'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('DestinationPolicy/reviews-lb configured (dry run)');
    expect(r.stdout).toMatch(/LEAST_REQUEST/);
    expect((await meshctl(['get', 'destinationpolicy', 'reviews-lb', '-o', 'yaml'])).stdout).toContain('type: ROUND_ROBIN');
  });

  it('a bad field is refused whole with file:line: field, exit 2', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, `${policy}---\n${policy.replace('reviews-lb', 'other').replace('ROUND_ROBIN', 'FASTEST')}`);
    const r = await meshctl(['apply', '-f', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:15: spec.loadBalancer.type:`);
    expect(r.stderr).toContain('FASTEST');
    expect((await meshctl(['get', 'destinationpolicy', 'other'])).code).toBe(2); // nothing applied
  });

  it('an unknown kind in a file and on the command line: exit 2 with the kind named', async () => {
    const f = join(dir, 'unknown.yaml');
    writeFileSync(f, 'apiVersion: tsmesh.io/v1alpha1\nkind: Gateway\nmetadata: { name: x }\nspec: {}\n');
    const r = await meshctl(['apply', '-f', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${f}:2: kind: .*Gateway`));
    const g = await meshctl(['get', 'gateways']);
    expect(g.code).toBe(2);
    expect(g.stderr).toBe('meshctl: unknown kind "gateways"; kinds: HTTPRoute, GRPCRoute, DestinationPolicy, AuthorizationPolicy, PeerAuthentication, FaultPolicy, RateLimitPolicy, ServiceEntry, MeshConfig, Canary\n');
  });

  it('delete removes the policy; deleting again is not found (exit 2)', async () => {
    const d = await meshctl(['delete', 'destinationpolicy', 'reviews-lb']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^DestinationPolicy\/reviews-lb deleted\n/);
    const again = await meshctl(['delete', 'destinationpolicy', 'reviews-lb']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^meshctl: .*reviews-lb/);
  });

  it('status with no proxies, and the last receipt', async () => {
    const r = await meshctl(['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^control plane: store version \d+, 0 proxies connected\n\nNo proxies connected\.\n/);
  });

  it('an unreachable control plane: exit 3 naming the address', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const r = await meshctl(['get', '--control-plane', `http://127.0.0.1:${port}`, '--token', 'x']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`meshctl: cannot reach the control plane admin API at http://127.0.0.1:${port} (ECONNREFUSED); is mesh-control-plane running?\n`);
  });

  it('a wrong token: exit 1 with the server\'s reason; usage errors exit 2', async () => {
    const addr = (await import('node:fs')).readFileSync(join(stateDir, 'admin-address'), 'utf8').trim();
    const r = await meshctl(['get', '--control-plane', addr, '--token', 'wrong']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^meshctl: .+/);
    expect((await meshctl(['apply'])).code).toBe(2);
    expect((await meshctl(['proxy-config', 'nope', 'routes'])).stderr).toBe('meshctl: no connected proxy matches "nope"; see meshctl status\n');
  });

  it('token create mints a token that the control plane\'s key verifies; completion and --help', async () => {
    const t = await meshctl(['token', 'create', '--sa', 'reviews']);
    expect(t.code).toBe(0);
    const { verifyBootstrapToken, loadOrCreateTokenKey } = await import('../../control-plane/ca/bootstrap-token.js');
    expect(verifyBootstrapToken(t.stdout.trim(), await loadOrCreateTokenKey(join(stateDir, 'ca')))).toBe('spiffe://cluster.local/ns/default/sa/reviews');
    expect((await meshctl(['completion', 'bash'])).stdout).toContain('complete -F _meshctl meshctl');
    const h = await meshctl(['apply', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('--dry-run');
  });

  // meshctl canary …: meshctl/test/canary.test.ts (the control plane runs the canaries).

  it('analyze reports a policy that no longer takes effect (exit 1), and check fails on it too', async () => {
    const clean = await meshctl(['analyze']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/^✔ no problems found in \d+ polic(y|ies) \(store version \d+\)\n$/);
    // A FaultPolicy on a rule, then the route is re-applied without that rule: valid, but it now does nothing.
    const f = join(dir, 'chaos.yaml');
    writeFileSync(f, route.replace('    - timeouts:', '    - name: main\n      timeouts:') + '---\n' + `apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: chaos }
spec:
  targetRef: { kind: HTTPRoute, name: reviews, sectionName: main }
  abort: { httpStatus: 503 }
`);
    expect((await meshctl(['apply', '-f', f])).code).toBe(0);
    expect((await meshctl(['apply', '-f', '-'], route)).code).toBe(0);
    const bad = await meshctl(['analyze']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^LEVEL\s+CODE\s+POLICY\s+MESSAGE\nError\s+TSM0101\s+FaultPolicy\/default\/chaos\s+target HTTPRoute default\/reviews has no rule named "main": the policy has no effect\n1 error\(s\), 0 warning\(s\) in \d+ policies/);
    const json = JSON.parse((await meshctl(['analyze', '-o', 'json'])).stdout) as { findings: { code: string }[] };
    expect(json.findings.map((x) => x.code)).toEqual(['TSM0101']);
    const d = await meshctl(['describe', 'faultpolicy', 'chaos']);
    expect(d.stdout).toMatch(/\nFindings:     \n  Error TSM0101: target HTTPRoute default\/reviews has no rule named "main": the policy has no effect\n$/);
    expect((await meshctl(['describe', 'httproute', 'reviews'])).stdout).toMatch(/\nFindings:     <none>\n$/);
    const c = await meshctl(['check']);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('✘ policies take effect: 1 error(s), 0 warning(s)');
    expect(c.stderr).toContain('→ see meshctl analyze');
    expect((await meshctl(['delete', 'faultpolicy', 'chaos'])).code).toBe(0);
  });

  it('check passes against a healthy control plane; top without sidecars is a usage error', async () => {
    const c = await meshctl(['check']);
    expect(c.stdout).toMatch(/^✔ control plane reachable \(store version \d+\)\n/);
    const t = await meshctl(['top']);
    expect(t.code).toBe(2);
    expect(t.stderr).toBe('meshctl: no sidecars to read: pass --admin <host:port,...> (their admin listeners) or set TSMESH_SIDECAR_ADMINS\n');
  });
});

describe('meshctl inject / install: tracing', () => {
  it('passes --tracing-endpoint and --tracing-sampling to the injected sidecar and to the installed control plane', async () => {
    const pod = join(dir, 'tracing-pod.yaml');
    writeFileSync(pod, 'apiVersion: v1\nkind: Pod\nmetadata: { name: web }\nspec:\n  containers: [{ name: web, image: web }]\n');
    const url = 'http://otel-collector.observability:4318/v1/traces';
    const injected = await meshctl(['inject', '-f', pod, '--tracing-endpoint', url, '--tracing-sampling', '10']);
    expect(injected.code).toBe(0);
    expect(injected.stdout).toMatch(new RegExp(`name: TSMESH_TRACING_ENDPOINT\\s+value: ${url.replace(/[.:/]/g, '\\$&')}`));
    expect(injected.stdout).toMatch(/name: TSMESH_TRACING_SAMPLING\s+value: "10"/);
    const installed = await meshctl(['install', '--tracing-endpoint', url]);
    expect(installed.code).toBe(0);
    expect(installed.stdout).toContain('TSMESH_TRACING_ENDPOINT');
    const bad = await meshctl(['inject', '-f', pod, '--tracing-endpoint', url, '--tracing-sampling', '250']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--tracing-sampling must be a percentage (0-100), got 250');
    const noUrl = await meshctl(['install', '--tracing-sampling', '5']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('--tracing-sampling needs --tracing-endpoint');
  });
});

#!/usr/bin/env node
// `npm run demo`: a whole mesh on loopback. The control plane and five
// sidecars run as child processes (web, api v1/v2/v3, db), the apps run in
// this process, traffic flows web → api → db through the sidecars, and the
// control plane runs the canaries: applying a Canary starts it, `meshctl
// canary watch` draws its steps. It promotes api v2 step by step, then
// mirrors traffic to the bad api v3 and rolls it back on its own before v3
// ever answers a user. The sidecars trace 10 % of requests (MeshConfig) to a
// collector in this process; the end shows one whole trace. Exits 0 when the
// story went as told.
//
//   npm run demo            # ~40 s
//   npm run demo -- --quick # shorter intervals (the smoke test)

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient } from '../../control-plane/admin/client.js';
import { startApp, get } from './apps.js';
import { freePort, killAll, killAllNow, startNode } from './processes.js';
import { authorizationYaml, canaryYaml, meshConfigYaml, routeYaml } from './policies.js';
import { TraceCollector } from './traces.js';
import { LoadGenerator } from './load.js';
import { runMeshctl, streamMeshctl } from './meshctl.js';
import { writeBootstrap } from './bootstrap.js';
import { controlPlaneLink, mintToken } from './control-plane-link.js';

const quick = process.argv.includes('--quick');
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const interval = quick ? '1500ms' : '3s';
const state = mkdtempSync(join(tmpdir(), 'tsmesh-demo-'));
const t0 = Date.now();
const TRACE_PERCENT = 10;
const say = (s: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await killAll();
    rmSync(state, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    process.stdout.write(`\n${sig}: stopping the mesh…\n`);
    void cleanup().then(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  say('tsmesh demo: web → api → db on 127.0.0.1, every service behind its own sidecar');
  const cpDir = join(state, 'control-plane');
  const cp = await startNode('control-plane', join(dist, 'control-plane/main.js'), ['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', cpDir], /^listening \d+/);
  const xdsPort = Number(/\d+/.exec(cp.line)![0]);
  const admin = await waitFor('admin API', () => AdminClient.discover(cpDir), 10_000);
  const meshctlEnv = { TSMESH_STATE_DIR: cpDir };
  say(`control plane up: xDS on 127.0.0.1:${xdsPort}, state in ${cpDir}`);

  const workloads = [
    { service: 'db', version: 'v1', servicePort: 7070 },
    { service: 'api', version: 'v1', servicePort: 9080, calls: 'db:7070' },
    { service: 'api', version: 'v2', servicePort: 9080, calls: 'db:7070' },
    { service: 'api', version: 'v3', servicePort: 9080, calls: 'db:7070', errorRate: 0.3, delayMs: 300 },
    { service: 'web', version: 'v1', servicePort: 8080, calls: 'api:9080' },
  ];
  const traces = new TraceCollector();
  await traces.start();
  const link = await controlPlaneLink(cpDir, xdsPort);
  say(link.caRootFile ? 'xDS over TLS with the mesh CA; every sidecar gets a bootstrap token and a SPIFFE certificate' : 'xDS in plaintext (the control plane runs without its CA)');
  const admins: string[] = [];
  let webInbound = 0;
  for (const w of workloads) {
    const [inbound, outbound] = [await freePort(), await freePort()];
    const app = await startApp({ ...w, outboundPort: outbound });
    const dir = join(state, `${w.service}-${w.version}`);
    mkdirSync(dir, { recursive: true });
    const tokenFile = link.caRootFile ? join(dir, 'token') : undefined;
    if (tokenFile) writeFileSync(tokenFile, await mintToken(cpDir, w.service), { mode: 0o600 });
    const bootstrap = join(dir, 'bootstrap.yaml');
    writeBootstrap(bootstrap, { ...w, inbound, outbound, app: app.port }, { ...link, ...(tokenFile ? { tokenFile } : {}) }, traces.url);
    const sc = await startNode(`sidecar ${w.service}-${w.version}`, join(dist, 'proxy/main.js'), ['--config', bootstrap, '--no-watch'], /"event":"ready"/);
    admins.push(`http://127.0.0.1:${(JSON.parse(sc.line) as { admin: number }).admin}`);
    if (w.service === 'web') webInbound = inbound;
    say(`  ${`${w.service} ${w.version}`.padEnd(7)} app :${app.port}  sidecar inbound :${inbound} outbound :${outbound} admin ${admins.at(-1)}`);
  }
  await waitFor('all 5 sidecars to connect and ACK', async () => {
    const { items } = await admin.proxies();
    if (items.length < 5 || items.some((p) => !p.types.listener?.ackedVersion)) throw new Error(`${items.length}/5 proxies connected`);
  }, 20_000);

  await admin.apply(authorizationYaml(), { file: 'demo/authorization.yaml' });
  say('applied AuthorizationPolicy: api accepts only web, db accepts only api (by SPIFFE identity)');
  await admin.apply(routeYaml(), { file: 'demo/route.yaml' });
  say('applied HTTPRoute api: 100% → api-v1');
  await admin.apply(meshConfigYaml(TRACE_PERCENT), { file: 'demo/mesh.yaml' });
  say(`applied MeshConfig: every sidecar traces ${TRACE_PERCENT}% of new requests (OTLP to the demo's collector at ${traces.url})`);
  await waitFor('web → api → db through the mesh', async () => {
    const r = await get(webInbound, 'web:8080');
    if (r.status !== 200) throw new Error(`web answered ${r.status}: ${r.body}`);
  }, 15_000);
  const load = new LoadGenerator(webInbound, 'web:8080', 50);
  load.start();
  say(`traffic: ${load.rate} requests/s into web`);

  const show = (line: string) => say(`  ${line}`);

  say('── canary 1: api v2 (a good release) ──');
  await admin.apply(canaryYaml('api-v2', 'api-v1', 'api-v2', interval, [10, 25, 50, 100], { testerHeader: 'always' }), { file: 'demo/canary-v2.yaml' });
  say('applied Canary api-v2: the control plane runs it (steps 10 → 25 → 50 → 100%, judged on the sidecars\' metrics)');
  say('$ meshctl canary watch api-v2');
  const first = await streamMeshctl(['canary', 'watch', 'api-v2'], meshctlEnv, show);
  if (first.code !== 0 || !first.output.includes('canary api-v2 promoted')) throw new Error(`expected api v2 to be promoted (meshctl exit ${first.code}):\n${first.output}`);

  say('── canary 2: api v3 (slow, 30% errors), mirrored first ──');
  await admin.apply(canaryYaml('api-v3', 'api-v2', 'api-v3', interval, [10, 25, 50, 100], { mirror: quick ? '5s' : '10s', mismatchRate: 5 }), { file: 'demo/canary-v3.yaml' });
  say('applied Canary api-v3 with a mirror phase: web\'s sidecar copies api traffic to v3 and compares its answers with v2\'s');
  say('$ meshctl canary watch api-v3');
  const second = await streamMeshctl(['canary', 'watch', 'api-v3'], meshctlEnv, show);
  if (second.code !== 1 || !second.output.includes('canary api-v3 rolled back')) throw new Error(`expected api v3 to be rolled back (meshctl exit ${second.code}):\n${second.output}`);
  say('api v3 rolled back automatically while mirrored: no user request was answered by it; all traffic on api v2');

  say('── the mesh’s view: meshctl status ──');
  process.stdout.write(await runMeshctl(['status'], meshctlEnv));
  say('── meshctl top ──');
  process.stdout.write(await runMeshctl(['top', '--window', quick ? '1' : '2', '--admin', admins.join(',')], meshctlEnv));
  say('── meshctl tap api --direction inbound --limit 3 ──');
  // Informational: a tap hiccup must not fail the story (the canary results above are what the demo checks).
  process.stdout.write(await runMeshctl(['tap', 'api', '--direction', 'inbound', '--limit', '3', '--admin', admins.join(',')], meshctlEnv).catch((e: Error) => `(tap failed: ${e.message})\n`));
  say('── meshctl canary status ──');
  process.stdout.write(await runMeshctl(['canary', 'status'], meshctlEnv));
  load.stop();
  await load.idle();
  say(`traffic: ${load.sent} requests sent, ${load.ok} answered 200 (${((100 * load.ok) / Math.max(load.sent, 1)).toFixed(1)}%)`);
  for (const f of load.failures) say(`  not 200 at ${f}`);
  // The sidecars export every 500 ms; the last batch is in once a whole web → api → db trace is.
  await waitFor('a whole trace at the collector', async () => {
    if (traces.longestTrace() < 5) throw new Error(`${traces.spans.length} spans so far`);
  }, 5_000).catch(() => undefined);
  say('── traces (sidecar spans, one request from web down to db) ──');
  for (const line of traces.summary()) show(line);
  await traces.close();

  say('demo complete: api v2 promoted, api v3 rolled back');
}

async function waitFor<T>(what: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

main()
  .then(async () => {
    await cleanup();
    process.exit(0);
  })
  .catch(async (err) => {
    process.stderr.write(`\ndemo FAILED: ${(err as Error).message}\n`);
    await cleanup();
    process.exit(1);
  });

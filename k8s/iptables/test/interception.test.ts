// Real transparent interception: two network namespaces joined by a veth pair,
// the generated rules installed with iptables-restore in the "pod" namespace,
// a stand-in sidecar reading SO_ORIGINAL_DST through the native addon, and an
// unmodified curl. Needs root, `ip`, iptables and the built dist/ (npm run build).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderIptablesRestore } from '../rules.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const tag = `${process.pid % 100000}`;
const POD_NS = `tsm-pod-${tag}`;
const PEER_NS = `tsm-peer-${tag}`;
const POD_IP = '10.231.0.1';
const PEER_IP = '10.231.0.2';

const sh = (args: string[]) => spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
// async, so the stand-in sidecar's report lines are read while curl runs
const inNs = (ns: string, args: string[]) => promisify(execFile)('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (sh(['ip', '-V']).status !== 0) return '`ip` (iproute2) is not installed';
  if (sh(['iptables-restore', '--version']).status !== 0) return 'iptables is not installed';
  if (!existsSync(join(root, 'dist', 'native', 'index.js'))) return 'dist/ is not built (npm run build)';
  const probe = `tsm-probe-${tag}`;
  const r = sh(['ip', 'netns', 'add', probe]);
  if (r.status !== 0) return `cannot create network namespaces: ${r.stderr.trim()}`;
  sh(['ip', 'netns', 'del', probe]);
  return undefined;
}

async function addonOrReason(): Promise<string | undefined> {
  const { nativeAddonAvailable } = await import(join(root, 'dist', 'native', 'index.js'));
  if (nativeAddonAvailable()) return undefined;
  const { buildNativeAddon } = await import(join(root, 'dist', 'native', 'build.js'));
  return buildNativeAddon();
}

const skipReason = whyNot();
const procs: ChildProcess[] = [];

function startInNs(ns: string, script: string, args: string[] = []) {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  const lines: any[] = [];
  const waiters: { pred: (l: any) => boolean; resolve: (l: any) => void }[] = [];
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: p.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line);
    lines.push(msg);
    for (const w of [...waiters]) if (w.pred(msg)) waiters.splice(waiters.indexOf(w), 1), w.resolve(msg);
  });
  const next = (pred: (l: any) => boolean) =>
    new Promise<any>((resolve, reject) => {
      const hit = lines.find(pred);
      if (hit) return resolve(hit);
      waiters.push({ pred, resolve });
      p.once('exit', (code) => reject(new Error(`${script} exited (${code}): ${stderr}`)));
    });
  return { lines, next };
}

describe.skipIf(skipReason !== undefined)('transparent interception in network namespaces', () => {
  let addonProblem: string | undefined;
  let listener: ReturnType<typeof startInNs>;
  let ports: { outbound: number; inbound: number; peer: number; app: number; excluded: number };

  beforeAll(async () => {
    addonProblem = await addonOrReason();
    if (addonProblem) return;
    for (const ns of [POD_NS, PEER_NS]) expect(sh(['ip', 'netns', 'add', ns]).status).toBe(0);
    const steps = [
      ['ip', 'link', 'add', `veth-p${tag}`, 'netns', POD_NS, 'type', 'veth', 'peer', 'name', `veth-q${tag}`, 'netns', PEER_NS],
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'addr', 'add', `${POD_IP}/24`, 'dev', `veth-p${tag}`],
      ['ip', 'netns', 'exec', PEER_NS, 'ip', 'addr', 'add', `${PEER_IP}/24`, 'dev', `veth-q${tag}`],
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'link', 'set', `veth-p${tag}`, 'up'],
      ['ip', 'netns', 'exec', PEER_NS, 'ip', 'link', 'set', `veth-q${tag}`, 'up'],
      ['ip', 'netns', 'exec', POD_NS, 'ip', 'link', 'set', 'lo', 'up'],
      ['ip', 'netns', 'exec', PEER_NS, 'ip', 'link', 'set', 'lo', 'up'],
    ];
    for (const s of steps) {
      const r = sh(s);
      if (r.status !== 0) throw new Error(`${s.join(' ')}: ${r.stderr}`);
    }
    listener = startInNs(POD_NS, 'redirect-listener.mjs');
    const peer = startInNs(PEER_NS, 'http-echo.mjs', ['peer', PEER_IP]);
    const app = startInNs(POD_NS, 'http-echo.mjs', ['app', POD_IP]);
    const excluded = startInNs(PEER_NS, 'http-echo.mjs', ['database', PEER_IP]);
    const l = await listener.next((m) => m.event === 'listening');
    ports = { outbound: l.outbound, inbound: l.inbound, peer: (await peer.next((m) => m.event === 'listening')).port, app: (await app.next((m) => m.event === 'listening')).port, excluded: (await excluded.next((m) => m.event === 'listening')).port };
    const rules = renderIptablesRestore({ outboundPort: ports.outbound, inboundPort: ports.inbound, excludeOutboundPorts: [ports.excluded] });
    const r = spawnSync('ip', ['netns', 'exec', POD_NS, 'iptables-restore', '--noflush'], { input: rules, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`iptables-restore: ${r.stderr}`);
  });

  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
    // Deleting the namespaces removes the veth pair and every rule in them.
    for (const ns of [POD_NS, PEER_NS]) sh(['ip', 'netns', 'del', ns]);
  });

  it('intercepts an unmodified outbound HTTP call and learns its original destination', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const res = await inNs(POD_NS, ['curl', '-s', '--max-time', '5', `http://${PEER_IP}:${ports.peer}/reviews/1`]);
    expect(res.stdout).toBe(`peer got GET /reviews/1 from ${POD_IP}\n`);
    await listener.next((m) => m.event === 'intercepted' && m.role === 'outbound');
    const seen = listener.lines.filter((m) => m.event === 'intercepted' && m.role === 'outbound');
    expect(seen).toHaveLength(1);
    expect(seen[0].original).toEqual({ address: PEER_IP, port: ports.peer, family: 'IPv4' });
  });

  it('redirects inbound traffic to the inbound port and passes it through to the app', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const res = await inNs(PEER_NS, ['curl', '-s', '--max-time', '5', `http://${POD_IP}:${ports.app}/health`]);
    expect(res.stdout).toBe('app got GET /health from 127.0.0.6\n');
    await listener.next((m) => m.event === 'intercepted' && m.role === 'inbound');
    const seen = listener.lines.filter((m) => m.event === 'intercepted' && m.role === 'inbound');
    expect(seen).toHaveLength(1);
    expect(seen[0].original).toEqual({ address: POD_IP, port: ports.app, family: 'IPv4' });
    expect(seen[0].peer).toBe(PEER_IP);
  });

  it('does not redirect the proxy UID or excluded outbound ports', async (ctx) => {
    if (addonProblem) ctx.skip(`native addon unavailable: ${addonProblem}`);
    const before = listener.lines.length;
    // as the proxy's UID: straight through
    const asProxy = await inNs(POD_NS, ['setpriv', '--reuid=1337', '--regid=1337', '--clear-groups', 'curl', '-s', '--max-time', '5', `http://${PEER_IP}:${ports.peer}/direct`]);
    expect(asProxy.stdout).toBe(`peer got GET /direct from ${POD_IP}\n`);
    // an excluded outbound port (sidecar.tsmesh.io/excludeOutboundPorts): the app reaches it directly
    const direct = await inNs(POD_NS, ['curl', '-s', '--max-time', '5', `http://${PEER_IP}:${ports.excluded}/q`]);
    expect(direct.stdout).toBe(`database got GET /q from ${POD_IP}\n`);
    expect(listener.lines.length).toBe(before);
  });
});

// Say why in the test report when the real test cannot run here.
if (skipReason !== undefined) {
  describe('transparent interception', () => {
    it.skip(`skipped: ${skipReason}`, () => {});
  });
}

// meshctl canary start | promote | abort | watch. `start` runs the canary
// controller (control-plane/canary) against the control plane's apply path
// and draws each step; promote/abort rewrite the route's split, which a
// running controller notices and obeys (it never overwrites a split it did not write).

import type { CanarySpec, PolicyRef } from '../../control-plane/policy/types.js';
import { CanaryController } from '../../control-plane/canary/controller.js';
import { currentCanaryWeight, setCanaryWeight } from '../../control-plane/canary/route-weights.js';
import { parseDuration } from '../../common/duration.js';
import { adminClient, CliError, EXIT, type GlobalOptions } from '../context.js';

export function bar(weight: number): string {
  const n = Math.round(weight / 5);
  return `[${'█'.repeat(n)}${'░'.repeat(20 - n)}] ${String(weight).padStart(3)}%`;
}

function adminTargets(admin?: string): string[] {
  const t = (admin ?? process.env.TSMESH_SIDECAR_ADMINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!t.length) throw new CliError('the analysis reads the sidecars\' metrics: pass --admin <host:port,...> (or TSMESH_SIDECAR_ADMINS)', EXIT.USAGE);
  return t.map((s) => (/^https?:/.test(s) ? s : `http://${s}`));
}

export async function canaryStart(g: GlobalOptions, name: string, o: { namespace: string; admin?: string; interval?: string }): Promise<string> {
  const admin = await adminClient(g);
  const targets = adminTargets(o.admin);
  let intervalMs: number | undefined;
  if (o.interval) {
    intervalMs = parseDuration(o.interval);
    if (intervalMs === undefined || intervalMs < 100) throw new CliError(`--interval "${o.interval}" is not a duration of at least 100ms`, EXIT.USAGE);
  }
  const started = Date.now();
  const controller = new CanaryController({
    policies: admin,
    scrapeTargets: () => targets,
    ...(intervalMs ? { intervalMs } : {}),
    onEvent: (_n, ev) => process.stdout.write(`${((ev.at - started) / 1000).toFixed(1).padStart(6)}s ${bar(ev.weight)}  ${ev.reason}\n`),
  });
  // The controller's clock timers are unref'd (they never hold a server open): hold the process while the canary runs.
  const keepAlive = setInterval(() => {}, 60_000);
  const onSignal = () => void controller.abort(name, o.namespace).catch(() => process.exit(EXIT.FAILURE));
  process.once('SIGINT', onSignal);
  let run;
  try {
    run = await (await controller.start(name, o.namespace)).done;
  } finally {
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
  }
  controller.stop();
  if (run.state.phase !== 'Promoted') throw new CliError(`canary ${name} ${run.state.phase === 'RolledBack' ? '' : 'aborted: '}${run.state.events.at(-1)?.reason}`, EXIT.FAILURE);
  return `canary ${name} promoted: all traffic to ${run.spec.canaryBackend.name}\n`;
}

async function canaryRoute(g: GlobalOptions, name: string, namespace: string) {
  const admin = await adminClient(g);
  const spec = (await admin.get({ kind: 'Canary', namespace, name })).spec as CanarySpec;
  const ref: PolicyRef = { kind: spec.targetRef.kind as 'HTTPRoute', namespace, name: spec.targetRef.name };
  return { admin, spec, ref };
}

/** promote: 100% to the canary; abort: 100% back to stable. */
export async function canarySet(g: GlobalOptions, name: string, kind: 'promote' | 'abort', o: { namespace: string }): Promise<string> {
  const { admin, spec, ref } = await canaryRoute(g, name, o.namespace);
  const weight = kind === 'promote' ? 100 : 0;
  const outcome = await admin.apply(setCanaryWeight(await admin.getYaml(ref), spec.stableBackend, spec.canaryBackend, weight), { file: `canary:${ref.name}` });
  const to = kind === 'promote' ? spec.canaryBackend.name : spec.stableBackend.name;
  return `canary ${name} ${kind === 'promote' ? 'promoted' : 'aborted'}: all traffic to ${to} (store version ${outcome.version})\n`;
}

/** Draws the canary backend's live weight each time it changes; ends at `--timeout` or when it settles at 0 or 100 after moving. */
export async function canaryWatch(g: GlobalOptions, name: string, o: { namespace: string; timeout: string }): Promise<string> {
  const limit = parseDuration(o.timeout);
  if (limit === undefined) throw new CliError(`--timeout "${o.timeout}" is not a duration`, EXIT.USAGE);
  const { admin, spec, ref } = await canaryRoute(g, name, o.namespace);
  const until = Date.now() + limit;
  let last: number | undefined;
  let moved = false;
  const tty = process.stdout.isTTY;
  while (Date.now() < until) {
    const w = currentCanaryWeight(await admin.getYaml(ref), spec.stableBackend.name, spec.canaryBackend.name) ?? 0;
    if (w !== last) {
      if (last !== undefined) moved = true;
      process.stdout.write(`${tty ? '\r' : ''}${new Date().toISOString().slice(11, 19)} ${name} ${bar(w)} → ${spec.canaryBackend.name}${tty ? '' : '\n'}`);
      last = w;
      if (moved && (w === 0 || w === 100)) break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return tty ? '\n' : '';
}

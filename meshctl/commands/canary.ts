// meshctl canary status | start | watch | promote | abort. The control plane
// runs the canaries (control-plane/canary/host.ts); these commands ask it to
// start, promote or abort one and draw its steps from the events it keeps.
// Ctrl-C stops following, never the canary.

import type { CanaryStatus } from '../../control-plane/admin/canary-routes.js';
import type { AdminClient } from '../../control-plane/admin/client.js';
import type { CanaryEvent, CanaryPhase } from '../../control-plane/canary/decide.js';
import { fmt } from '../../control-plane/canary/decide.js';
import { parseDuration } from '../../common/duration.js';
import { adminClient, ago, CliError, EXIT, table, type GlobalOptions } from '../context.js';

/** How long one events request waits for the next step (below the client's 10 s timeout). */
const LONG_POLL_MS = 5000;

export function bar(weight: number): string {
  const n = Math.round(weight / 5);
  return `[${'█'.repeat(n)}${'░'.repeat(20 - n)}] ${String(weight).padStart(3)}%`;
}

/** One step as drawn by start and watch: time since the run started, weight, what happened, the stable's numbers, the receipt. */
export function eventLine(ev: CanaryEvent, startedAt: number): string {
  const t = `${((ev.at - startedAt) / 1000).toFixed(1).padStart(6)}s`;
  const extra: string[] = [];
  const st = ev.analysis?.stable;
  if (st?.requests) extra.push(`stable: success ${fmt(st.successRate ?? 100)}%, p99 ${Math.round(st.p99Ms ?? 0)}ms`);
  if (ev.applied?.receipt) extra.push(ev.applied.receipt);
  return `${t} ${ev.mirroring ? '[mirror ≫ canary,  0% live]' : bar(ev.weight)}  ${ev.reason}${extra.length ? `  | ${extra.join(' | ')}` : ''}\n`;
}

export async function canaryStatus(g: GlobalOptions, name: string | undefined, o: { namespace: string }): Promise<string> {
  const admin = await adminClient(g);
  if (name) {
    const c = await admin.canary(o.namespace, name);
    const head = table(['NAME', 'ROUTE', 'STABLE', 'CANARY', 'WEIGHT', 'PHASE'], [row(c).slice(0, 6)]);
    const events = (c.events ?? []).map((e) => eventLine(e, c.startedAt ?? e.at)).join('');
    return `${head}${events ? `\nsteps:\n${events}` : ''}`;
  }
  const { items } = await admin.canaries({ namespace: o.namespace });
  return items.length ? table(['NAME', 'ROUTE', 'STABLE', 'CANARY', 'WEIGHT', 'PHASE', 'LAST STEP'], items.map(row)) : 'No canaries.\n';
}

function row(c: CanaryStatus): string[] {
  const last = c.lastEvent ? `${ago(Date.now() - c.lastEvent.at)} ago: ${c.lastEvent.reason}` : '-';
  return [c.name, c.route, c.stable, c.canary, c.mirroring ? 'mirror' : `${c.weight}%`, c.phase, last.length > 100 ? `${last.slice(0, 99)}…` : last];
}

export async function canaryStart(g: GlobalOptions, name: string, o: { namespace: string; detach?: boolean; timeout: string }): Promise<string> {
  const timeoutMs = duration(o.timeout);
  const admin = await adminClient(g);
  const { started, run } = await admin.canaryStart(o.namespace, name);
  process.stdout.write(
    started
      ? `canary ${name} started by the control plane: ${run.stable} → ${run.canary} (Ctrl-C stops following, not the canary)\n`
      : `canary ${name} is already progressing (${run.mirroring ? 'mirroring' : `${run.weight}%`}); following it\n`,
  );
  if (o.detach) return '';
  return follow(admin, o.namespace, name, timeoutMs);
}

export async function canaryWatch(g: GlobalOptions, name: string, o: { namespace: string; timeout: string }): Promise<string> {
  const timeoutMs = duration(o.timeout);
  return follow(await adminClient(g), o.namespace, name, timeoutMs);
}

export async function canarySet(g: GlobalOptions, name: string, kind: 'promote' | 'abort', o: { namespace: string }): Promise<string> {
  const admin = await adminClient(g);
  const c = kind === 'promote' ? await admin.canaryPromote(o.namespace, name) : await admin.canaryAbort(o.namespace, name);
  return `canary ${name} ${kind === 'promote' ? 'promoted' : 'aborted'}: all traffic to ${kind === 'promote' ? c.canary : c.stable}\n`;
}

/**
 * Draws every step of the current run (from its first) as the control plane
 * records it, until the run ends: exit 0 when promoted, 1 when rolled back or
 * aborted (like `kubectl rollout status`).
 */
async function follow(admin: AdminClient, namespace: string, name: string, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  let since = 0;
  let startedAt: number | undefined;
  let last: CanaryEvent | undefined;
  let phase: CanaryPhase | 'Pending' = 'Pending';
  while (Date.now() < until) {
    const r = await admin.canaryEvents(namespace, name, since, Math.min(LONG_POLL_MS, Math.max(0, until - Date.now())));
    if (startedAt !== undefined && r.startedAt !== undefined && r.startedAt !== startedAt) {
      process.stdout.write(`(a new run of canary ${name} started)\n`);
      since = 0;
      startedAt = r.startedAt;
      continue;
    }
    startedAt ??= r.startedAt;
    for (const ev of r.events) {
      process.stdout.write(eventLine(ev, startedAt ?? ev.at));
      since = ev.seq ?? since;
      last = ev;
    }
    phase = r.phase;
    if (phase !== 'Progressing' && phase !== 'Pending') break;
  }
  const c = await admin.canary(namespace, name);
  const reason = last?.reason ?? c.lastEvent?.reason ?? '';
  if (c.phase === 'Promoted') return `canary ${name} promoted: all traffic to ${c.canary}\n`;
  if (c.phase === 'RolledBack') throw new CliError(`canary ${name} ${reason}`, EXIT.FAILURE);
  if (c.phase === 'Aborted') throw new CliError(`canary ${name} aborted: ${reason}`, EXIT.FAILURE);
  throw new CliError(`stopped following canary ${name} after ${Math.round(timeoutMs / 1000)}s; it is still ${c.phase === 'Pending' ? 'pending' : `progressing at ${c.mirroring ? 'the mirror phase' : `${c.weight}%`}`} (the control plane keeps running it)`, EXIT.FAILURE);
}

function duration(s: string): number {
  const ms = parseDuration(s);
  if (ms === undefined || ms <= 0) throw new CliError(`--timeout "${s}" is not a duration (e.g. 10m, 90s)`, EXIT.USAGE);
  return ms;
}

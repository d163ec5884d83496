// The admin API's canary endpoints (the control plane runs the canaries):
//
//   GET  /v1/canaries[?namespace=]                       → { items: CanaryStatus[] } every Canary resource and its run
//   GET  /v1/canaries/:ns/:name                          → CanaryStatus with all its events
//   GET  /v1/canaries/:ns/:name/events?since=N&waitMs=M  → { phase, weight, startedAt, events } after event N; with
//                                                          waitMs (≤ 30 s) waits for the next one while progressing
//   POST /v1/canaries/:ns/:name/start                    → { started, run }: a new run unless one is progressing
//   POST /v1/canaries/:ns/:name/promote | abort          → the run: all traffic to the canary / back to stable
// Errors: 404 MESH_NOT_FOUND, 409 MESH_CANARY_FINISHED / MESH_CANARY_RUNNING, 400 MESH_CANARY_* (start refused).

import type { IncomingMessage } from 'node:http';
import { MeshError } from '../../common/errors.js';
import type { CanaryRun } from '../canary/controller.js';
import type { CanaryHost } from '../canary/host.js';
import type { CanaryEvent, CanaryPhase } from '../canary/decide.js';
import type { CanarySpec } from '../policy/types.js';
import type { PolicyStore } from '../store/types.js';

export interface CanaryStatus {
  name: string;
  namespace: string;
  route: string;
  stable: string;
  canary: string;
  /** Pending: the Canary exists but no run started (yet). */
  phase: CanaryPhase | 'Pending';
  weight: number;
  mirroring: boolean;
  startedAt?: number;
  lastEvent?: CanaryEvent;
  events?: CanaryEvent[];
}

const MAX_WAIT_MS = 30_000;
const MAX_LONG_POLLS = 1000;
let longPolls = 0;

function summary(store: PolicyStore, name: string, namespace: string, run: CanaryRun | undefined, withEvents: boolean): CanaryStatus {
  const spec = (run?.spec ?? store.get({ kind: 'Canary', namespace, name })?.spec) as CanarySpec;
  const s = run?.state;
  return {
    name,
    namespace,
    route: `${spec.targetRef.kind}/${spec.targetRef.name}`,
    stable: spec.stableBackend.name,
    canary: spec.canaryBackend.name,
    phase: s?.phase ?? 'Pending',
    weight: s?.weight ?? 0,
    mirroring: s?.mirrorUntil !== undefined,
    ...(run ? { startedAt: run.startedAt } : {}),
    ...(s?.events.length ? { lastEvent: s.events.at(-1) } : {}),
    ...(withEvents ? { events: s?.events ?? [] } : {}),
  };
}

/** Handles /v1/canaries…; returns the status code and JSON body. */
export async function handleCanaries(host: CanaryHost, store: PolicyStore, method: string, parts: string[], url: URL, req: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const ctl = host.controller;
  try {
    if (parts.length === 2 && method === 'GET') {
      const ns = url.searchParams.get('namespace') ?? undefined;
      const items = store.list('Canary', ns).map((c) => summary(store, c.metadata.name, c.metadata.namespace, ctl.status(c.metadata.name, c.metadata.namespace), false));
      return { status: 200, body: { items } };
    }
    if (parts.length < 4 || parts.length > 5) throw new MeshError('MESH_NOT_FOUND', `no such endpoint: ${method} ${url.pathname}`);
    const [namespace, name, verb] = [parts[2]!, parts[3]!, parts[4]];
    const exists = () => {
      if (!store.get({ kind: 'Canary', namespace, name })) throw new MeshError('MESH_NOT_FOUND', `Canary ${namespace}/${name} not found`);
    };
    if (verb === undefined && method === 'GET') {
      exists();
      return { status: 200, body: summary(store, name, namespace, ctl.status(name, namespace), true) };
    }
    if (verb === 'events' && method === 'GET') {
      exists();
      const since = Math.max(0, Number(url.searchParams.get('since') ?? 0) || 0);
      const waitMs = Math.min(MAX_WAIT_MS, Math.max(0, Number(url.searchParams.get('waitMs') ?? 0) || 0));
      let run = ctl.status(name, namespace);
      const quiet = () => !run || (run.state.phase === 'Progressing' && !run.state.events.some((e) => (e.seq ?? 0) > since));
      if (waitMs > 0 && quiet() && longPolls < MAX_LONG_POLLS) {
        longPolls++;
        let onGone: (() => void) | undefined;
        // The client hanging up ends the wait too (the socket, not the request: a GET's request ends at once).
        const gone = new Promise<void>((resolve) => req.socket.once('close', (onGone = resolve)));
        const until = Date.now() + waitMs;
        try {
          // Any run's event wakes the poll; it waits on until one of this run's arrives.
          while (quiet() && Date.now() < until && !req.socket.destroyed) {
            const next = ctl.nextEvent();
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([next.wait, new Promise<void>((resolve) => (timer = setTimeout(resolve, until - Date.now()))), gone]);
            next.cancel();
            clearTimeout(timer);
            run = ctl.status(name, namespace);
          }
        } finally {
          req.socket.off('close', onGone!);
          longPolls--;
        }
      }
      const events = run?.state.events.filter((e) => (e.seq ?? 0) > since) ?? [];
      return { status: 200, body: { phase: run?.state.phase ?? 'Pending', weight: run?.state.weight ?? 0, ...(run ? { startedAt: run.startedAt } : {}), events } };
    }
    if (method === 'POST' && verb === 'start') {
      exists();
      const out = await host.startRun(name, namespace);
      return { status: 200, body: { started: out.started, run: summary(store, name, namespace, out.run, false) } };
    }
    if (method === 'POST' && (verb === 'promote' || verb === 'abort')) {
      exists();
      if (!ctl.status(name, namespace)) throw new MeshError('MESH_NOT_FOUND', `canary ${namespace}/${name} has no run to ${verb}`);
      const run = verb === 'promote' ? await ctl.promote(name, namespace) : await ctl.abort(name, namespace);
      return { status: 200, body: summary(store, name, namespace, run, false) };
    }
    if (verb === undefined || ['events', 'start', 'promote', 'abort'].includes(verb)) throw new MeshError('MESH_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`);
    throw new MeshError('MESH_NOT_FOUND', `no such endpoint: ${method} ${url.pathname}`);
  } catch (e) {
    if (!(e instanceof MeshError)) throw e;
    const status = e.code === 'MESH_NOT_FOUND' ? 404 : e.code === 'MESH_METHOD_NOT_ALLOWED' ? 405 : e.code === 'MESH_CANARY_FINISHED' || e.code === 'MESH_CANARY_RUNNING' ? 409 : 400;
    return { status, body: { error: { code: e.code, message: e.message } } };
  }
}

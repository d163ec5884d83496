// meshctl status: every connected proxy, its identity, the config it ACKed,
// stale or NACKed ones with the error, and the last apply's propagation receipt.

import type { ProxyStatus } from '../../control-plane/admin/types.js';
import { adminClient, ago, table, type GlobalOptions } from '../context.js';

function state(p: ProxyStatus): { synced: string; acked: string; error?: string } {
  const types = Object.entries(p.types);
  const nack = types.find(([, t]) => t?.nack);
  const stale = types.filter(([, t]) => t?.sentVersion && t.sentVersion !== t.ackedVersion && !t.nack).map(([k]) => k);
  const acked = p.types.listener?.ackedVersion ?? p.types.cluster?.ackedVersion ?? '-';
  if (nack) return { synced: 'NACKED', acked, error: `${nack[0]} ${nack[1]!.nack!.version}: ${nack[1]!.nack!.error.split('\n').join(' ')}` };
  if (stale.length) return { synced: `STALE (${stale.join(',')})`, acked };
  return { synced: 'SYNCED', acked };
}

export async function status(g: GlobalOptions, o: { output: string }): Promise<string> {
  const admin = await adminClient(g);
  const [{ items }, version, receipt, rotation] = await Promise.all([
    admin.proxies(),
    admin.version(),
    admin.receipt('last').catch(() => undefined),
    admin.rootRotation().catch(() => undefined), // 404 without a CA
  ]);
  if (o.output === 'json') return JSON.stringify({ version, proxies: items, receipt, ...(rotation && rotation.state !== 'idle' ? { rootRotation: rotation } : {}) }, null, 2) + '\n';
  const now = Date.now();
  const rows = items
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId))
    .map((p) => {
      const s = state(p);
      return [p.service, p.nodeId.split('~')[2]?.split('.')[0] ?? p.nodeId, p.identity ?? '-', s.acked, s.synced, ago(now - p.connectedAt)];
    });
  let out = `control plane: store version ${version}, ${items.length} prox${items.length === 1 ? 'y' : 'ies'} connected\n\n`;
  out += items.length ? table(['SERVICE', 'PROXY', 'IDENTITY', 'ACKED', 'STATUS', 'CONNECTED'], rows) : 'No proxies connected.\n';
  const errors = items.flatMap((p) => (state(p).error ? [`  ${p.nodeId}: ${state(p).error}`] : []));
  if (errors.length) out += `\nNACKed:\n${errors.join('\n')}\n`;
  if (receipt) {
    const last = Math.max(receipt.appliedAt, ...receipt.acked.map((a) => a.at));
    out += `\nlast apply (version ${receipt.version}): reached ${receipt.acked.length}/${receipt.total} proxies`;
    out += receipt.pending.length ? `, ${receipt.pending.length} pending` : ` in ${last - receipt.appliedAt} ms`;
    if (receipt.nacked.length) out += `, ${receipt.nacked.length} NACKed`;
    out += '\n';
  }
  if (rotation && (rotation.state === 'running' || rotation.state === 'failed')) {
    const i = rotation.steps.findIndex((st) => st.state === 'running' || st.state === 'failed');
    const st = rotation.steps[i]!;
    out += rotation.state === 'running'
      ? `\nroot rotation: step ${i + 1}/${rotation.steps.length}, ${st.title}${st.detail ? ` (${st.detail})` : ''}\n`
      : `\nroot rotation stopped at step ${i + 1}/${rotation.steps.length}: ${rotation.error}; both roots stay trusted, meshctl certs rotate-root resumes it\n`;
  }
  return out;
}

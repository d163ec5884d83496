// The canary controller's policy operations inside the control plane: the
// same apply path the admin API uses (parse, validate, cross-check, one
// versioned store write), and propagation receipts from the xDS server.

import { MeshError } from '../../common/errors.js';
import type { Clock } from '../../common/clock.js';
import type { ProxyStatusSource } from '../admin/types.js';
import { applyPolicyText, policyToYaml } from '../policy/apply.js';
import type { PolicyRef } from '../policy/types.js';
import type { RegistryView } from '../registry/types.js';
import type { PolicyStore } from '../store/types.js';
import type { CanaryPolicyPort } from './controller.js';

export function storePolicyPort(store: PolicyStore, registry: RegistryView): CanaryPolicyPort {
  const get = (ref: PolicyRef) => {
    const p = store.get(ref);
    if (!p) throw new MeshError('MESH_NOT_FOUND', `${ref.kind} ${ref.namespace}/${ref.name} not found`);
    return p;
  };
  return {
    get: async (ref) => get(ref),
    getYaml: async (ref) => policyToYaml(get(ref)),
    apply: (yaml, opts = {}) => applyPolicyText(yaml, { store, registry }, opts),
  };
}

const POLL_MS = 50;

/**
 * Waits until every connected proxy reached store version `version` (or
 * `maxWaitMs` passed) and says how far it got: "reached 5/5 proxies in 84 ms",
 * "reached 3/5 proxies, 2 pending", "… 1 NACKed: <error>".
 */
export async function waitForReceipt(status: ProxyStatusSource, clock: Clock, version: number, maxWaitMs: number): Promise<string | undefined> {
  if (!status.proxies().length) return undefined;
  const until = clock.now() + maxWaitMs;
  for (;;) {
    // The controller publishes after its debounce: no receipt yet is "not pushed yet", not "nothing to push".
    const r = status.receipt(String(version));
    if (!r && clock.now() >= until) return undefined;
    if (r && (!r.pending.length || clock.now() >= until)) {
      const reached = r.acked.length;
      const last = r.acked.reduce((m, a) => Math.max(m, a.at), r.appliedAt);
      let s = `reached ${reached}/${r.total} proxies`;
      if (!r.pending.length && !r.nacked.length) s += ` in ${Math.max(0, last - r.appliedAt)} ms`;
      if (r.pending.length) s += `, ${r.pending.length} pending`;
      if (r.nacked.length) s += `, ${r.nacked.length} NACKed: ${r.nacked[0]!.error}`;
      return s;
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, POLL_MS));
  }
}

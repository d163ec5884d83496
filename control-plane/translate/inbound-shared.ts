// The inbound listener under a round memo. Its chains are the same for every
// replica of a service (same interception mode, app ports, authorization
// policies, rate limit and mTLS modes), so they are built once per round; the listener
// around them differs per node only by address. A node whose address and chains'
// content are as last round keeps last round's listener object, whose
// encoding and content key the xDS encode cache already has — so an apply
// serializes and hashes no per-node listener that did not change.
import { createHash } from 'node:crypto';
import type { FilterChain, Listener } from '../../proxy/config/resources.js';
import type { AppProtocol } from '../registry/types.js';
import { policiesForNode } from './authz.js';
import type { PolicyIndex, TranslateInput } from './context.js';
import { inboundFilterChains, inboundListenerWith, inboundMtls } from './listeners.js';
import type { TranslateMemo } from './memo.js';

/** Content hash of the chains each listener built here was built around. */
const chainsHashOf = new WeakMap<Listener, string>();

const finite = (_k: string, v: unknown): unknown => (typeof v === 'number' && !Number.isFinite(v) ? `$number:${v}` : v);

const chainsHash = (chains: readonly FilterChain[]): string => createHash('sha256').update(JSON.stringify(chains, finite)).digest('base64url');

/** Everything but the chains, as JSON (a few fields: name, address, direction, original-destination flag). */
const shell = (l: Listener): string => JSON.stringify({ ...l, filterChains: undefined }, finite);

export function sharedInboundListener(
  input: TranslateInput,
  idx: PolicyIndex,
  apps: { port: number; protocol: AppProtocol }[],
  memo: TranslateMemo,
  previous: Listener | undefined,
): Listener {
  const { node } = input;
  const policies = policiesForNode(idx, node).map((p) => idx.authorizationPolicies.indexOf(p)).join(',');
  const rateLimit = idx.rateLimitPolicies.get(`${node.namespace}/${node.service}`);
  const mtls = inboundMtls(input, idx);
  const key = [
    'inboundChains',
    node.interceptionMode ?? '',
    apps.map((a) => `${a.port}/${a.protocol}`).join(','),
    policies,
    rateLimit ? `${rateLimit.metadata.namespace}/${rateLimit.metadata.name}` : '',
    `${mtls.mode}${[...mtls.ports].map(([p, m]) => `,${p}=${m}`).join('')}`,
  ].join('\0');
  const shared = memo.get(key, () => {
    const chains = inboundFilterChains(input, idx, apps);
    return { chains, hash: chainsHash(chains) };
  });
  const fresh = inboundListenerWith(node, shared.chains);
  if (previous) {
    // A listener built elsewhere (a proxy's first config, computed without a memo) is hashed once here.
    let was = chainsHashOf.get(previous);
    if (was === undefined) chainsHashOf.set(previous, (was = chainsHash(previous.filterChains)));
    if (was === shared.hash && shell(previous) === shell(fresh)) return previous;
  }
  chainsHashOf.set(fresh, shared.hash);
  return fresh;
}

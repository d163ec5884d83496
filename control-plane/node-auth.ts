// Who may fetch which proxy's config: a node may only receive the config of
// the identity its transport proves — the SPIFFE ID of its verified client
// certificate, or the identity a bootstrap token (`authorization: Bearer`,
// the same token the CA accepts) is bound to.

import type { Clock } from '../common/clock.js';
import { verifyBootstrapToken } from './ca/bootstrap-token.js';
import { claimedIdentity, peerSpiffeIds } from './xds/authorize.js';
import type { AuthorizeNode } from './xds/stream.js';

export function meshNodeAuthorizer(tokenKey: Buffer | undefined, clock?: Clock): AuthorizeNode {
  return (call, node) => {
    const claimed = claimedIdentity(node);
    if (!claimed) return 'node metadata carries no identity';
    const peers = peerSpiffeIds(call);
    if (peers.length) return peers.includes(claimed) || `peer is ${peers.join(', ')}, node claims ${claimed}`;
    const header = call.metadata.get('authorization')[0];
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) return 'no client certificate and no bearer token';
    if (!tokenKey) return 'bootstrap tokens are not accepted by this control plane';
    let id: string;
    try {
      id = verifyBootstrapToken(token, tokenKey, clock);
    } catch (err) {
      return (err as Error).message;
    }
    return id === claimed || `token is for ${id}, node claims ${claimed}`;
  };
}

// Who may fetch which proxy's config in Kubernetes mode: the identity the
// node claims must be the one its transport proves — a verified client
// certificate's SPIFFE ID, or the service account of the projected token the
// sidecar sends as `authorization: Bearer` (the same token the CA checks,
// through the same TokenReview authenticator).

import type { CallerAuthenticator } from '../../control-plane/ca/auth-error.js';
import { claimedIdentity, peerSpiffeIds } from '../../control-plane/xds/authorize.js';
import type { AuthorizeNode } from '../../control-plane/xds/stream.js';

export function serviceAccountNodeAuthorizer(authenticator: CallerAuthenticator): AuthorizeNode {
  return async (call, node) => {
    const claimed = claimedIdentity(node);
    if (!claimed) return 'node metadata carries no identity';
    const peers = peerSpiffeIds(call);
    if (peers.length) return peers.includes(claimed) || `peer is ${peers.join(', ')}, node claims ${claimed}`;
    const header = call.metadata.get('authorization')[0];
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (!token) return 'no client certificate and no bearer token';
    let id: string;
    try {
      id = await authenticator.authenticate(token);
    } catch (err) {
      return (err as Error).message;
    }
    return id === claimed || `token is for ${id}, node claims ${claimed}`;
  };
}

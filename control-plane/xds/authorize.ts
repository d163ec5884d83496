// Node authorization: a proxy may only receive the config of its own
// identity. The identity a node claims (metadata IDENTITY, or NAMESPACE +
// SERVICE_ACCOUNT + TRUST_DOMAIN) must equal what the transport proves: the
// SPIFFE ID in the peer's verified TLS certificate, or the identity bound to a
// bearer token.

import type { ServerDuplexStream } from '@grpc/grpc-js';
import { nodeMetadata, type NodeMsg } from '../../proxy/xds/ads-wire.js';
import type { AuthorizeNode } from './stream.js';

/** The SPIFFE identity a node claims in its metadata, if any. */
export function claimedIdentity(node: NodeMsg): string | undefined {
  const md = nodeMetadata(node);
  if (md.IDENTITY) return md.IDENTITY;
  if (md.TRUST_DOMAIN && md.NAMESPACE && md.SERVICE_ACCOUNT) return `spiffe://${md.TRUST_DOMAIN}/ns/${md.NAMESPACE}/sa/${md.SERVICE_ACCOUNT}`;
  return undefined;
}

/** URI SANs of the peer's (already verified) certificate. */
export function peerSpiffeIds(call: ServerDuplexStream<unknown, unknown>): string[] {
  const cert = call.getAuthContext?.().sslPeerCertificate;
  const san = cert?.subjectaltname ?? '';
  return san
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:spiffe://'))
    .map((s) => s.slice(4));
}

/** mTLS: the node's claimed identity must be the peer certificate's SPIFFE ID. */
export function spiffeNodeAuthorizer(): AuthorizeNode {
  return (call, node) => {
    const claimed = claimedIdentity(node);
    if (!claimed) return 'node metadata carries no identity';
    const ids = peerSpiffeIds(call);
    if (!ids.length) return 'no verified client certificate with a SPIFFE ID';
    return ids.includes(claimed) || `peer is ${ids.join(', ')}, node claims ${claimed}`;
  };
}

/** Bearer tokens (gRPC metadata `authorization: Bearer <token>`), each bound to one identity. */
export function bearerTokenAuthorizer(tokens: ReadonlyMap<string, string>): AuthorizeNode {
  return (call, node) => {
    const header = call.metadata.get('authorization')[0];
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined;
    const identity = token ? tokens.get(token) : undefined;
    if (!identity) return 'missing or unknown bearer token';
    const claimed = claimedIdentity(node);
    return claimed === identity || `token is for ${identity}, node claims ${claimed ?? 'no identity'}`;
  };
}

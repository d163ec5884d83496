// Where each policy kind lives in the Kubernetes API.

import type { PolicyKind } from '../../control-plane/policy/types.js';

export interface KindLocation {
  group: string;
  version: string;
  plural: string;
}

export const POLICY_LOCATIONS: Record<PolicyKind, KindLocation> = {
  HTTPRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' },
  GRPCRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes' },
  DestinationPolicy: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'destinationpolicies' },
  AuthorizationPolicy: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'authorizationpolicies' },
  PeerAuthentication: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'peerauthentications' },
  FaultPolicy: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'faultpolicies' },
  RateLimitPolicy: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'ratelimitpolicies' },
  ServiceEntry: { group: 'networking.istio.io', version: 'v1', plural: 'serviceentries' },
  MeshConfig: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'meshconfigs' },
  Canary: { group: 'tsmesh.io', version: 'v1alpha1', plural: 'canaries' },
};

/** The plurals of tsmesh's own kinds (its CRDs), e.g. for RBAC rules and test API servers. */
export const TSMESH_PLURALS: readonly string[] = Object.values(POLICY_LOCATIONS).filter((l) => l.group === 'tsmesh.io').map((l) => l.plural);

export const collectionPath = (l: KindLocation) => `/apis/${l.group}/${l.version}/${l.plural}`;

export { MemorySnapshotCache, type SnapshotCache, type OnDemandHook } from './cache.js';
export { buildSnapshot, checkConsistency, emptyResources, PUSH_ORDER, type Snapshot } from './snapshot.js';
export { XdsServer, type XdsServerOptions } from './xds-server.js';
export { formatReceipt, type Receipt } from './receipts.js';
export type { AuthorizeNode } from './stream.js';
export { bearerTokenAuthorizer, claimedIdentity, spiffeNodeAuthorizer } from './authorize.js';
export { loadStaticSnapshots, parseStaticSnapshots, type StaticSnapshots } from './static-snapshot.js';
export { startStaticSource, type StaticSource } from './static-source.js';

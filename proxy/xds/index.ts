// The sidecar's xDS side: the ADS client and what it is built from.
export { XdsClient, type XdsClientOptions } from './client.js';
export { buildNode, type NodeExtras } from './node.js';
export { loadPersisted, savePersisted, type PersistedState } from './persist.js';
export { decodeResource, encodeResource, fromProtoObject, toProtoObject, kindOfTypeUrl } from './codec/index.js';

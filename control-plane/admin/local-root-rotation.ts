// Assembles the root rotation of a local-mode control plane (CA files in
// `<state-dir>/ca`) from what the running control plane has: the CA, the
// snapshot cache (what each proxy was sent), the xDS server (what each ACKed)
// and the controller (who is connected, republish).

import { join } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { CaSetup } from '../ca/setup.js';
import type { PolicyPlane } from '../policy-plane.js';
import type { SnapshotCache } from '../xds/cache.js';
import type { XdsServer } from '../xds/xds-server.js';
import { RootRotation } from './root-rotation.js';
import type { SavedRotation } from './rotation-store.js';

export interface RootRotationDeps {
  cache: SnapshotCache;
  xds: XdsServer;
  plane: PolicyPlane;
}

const ROOTCA = 'ROOTCA';

export function localRootRotation(ca: CaSetup, d: RootRotationDeps, stateDir: string, trustDomain: string, log?: Logger, restored?: SavedRotation): RootRotation {
  return new RootRotation({
    ca: ca.ca,
    trustDomain,
    caDir: join(stateDir, 'ca'),
    rootCertFile: join(stateDir, 'root-cert.pem'),
    proxies: () => d.xds.proxies(),
    published: (nodeId) => {
      const snap = d.cache.getSnapshot(nodeId);
      if (!snap) return undefined;
      return { secretVersion: snap.types.secret.version, bundle: snap.resources.secret.get(ROOTCA)?.validationContext?.trustedCa };
    },
    workloads: () => d.plane.controller.connectedNodes().map((n) => ({ nodeId: n.nodeId, inboundAddress: n.inboundAddress, inboundPort: n.inboundPort })),
    republish: () => d.plane.controller.flush(),
    ...(log ? { log } : {}),
    ...(restored ? { restored } : {}),
  });
}

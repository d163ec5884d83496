// ClusterLoadAssignment (EDS). The domain keeps a flat endpoint list; on the wire
// consecutive endpoints with the same locality and priority share one
// LocalityLbEndpoints whose weight is the sum of theirs (gRPC's xDS clients
// ignore localities without a weight).

import type { Reader } from '../../../common/reader.js';
import type { ClusterLoadAssignment, HealthStatus, LbEndpoint } from '../../config/resources.js';
import { readAddress, readTsmeshMetadata, readU32, socketAddress, tsmeshMetadata, type PObj } from './wire.js';

const HEALTH: readonly HealthStatus[] = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'];
const MAX_ENDPOINTS = 10_000;

function localityKey(e: LbEndpoint): string {
  const l = e.locality;
  return `${e.priority}\u0000${l?.region ?? ''}\u0000${l?.zone ?? ''}\u0000${l?.subZone ?? ''}`;
}

export function encodeClusterLoadAssignment(cla: ClusterLoadAssignment): PObj {
  const groups: PObj[] = [];
  let current: { key: string; group: PObj; eps: PObj[]; weight: number } | undefined;
  for (const e of cla.endpoints) {
    const key = localityKey(e);
    if (!current || current.key !== key) {
      const group: PObj = {};
      if (e.locality) {
        const l: PObj = {};
        if (e.locality.region) l.region = e.locality.region;
        if (e.locality.zone) l.zone = e.locality.zone;
        if (e.locality.subZone) l.sub_zone = e.locality.subZone;
        group.locality = l;
      }
      if (e.priority) group.priority = e.priority;
      current = { key, group, eps: [], weight: 0 };
      groups.push(group);
    }
    const ep: PObj = { endpoint: { address: socketAddress(e.address) }, load_balancing_weight: { value: e.weight } };
    if (e.healthStatus !== 'UNKNOWN') ep.health_status = e.healthStatus;
    const md = tsmeshMetadata(e.metadata);
    if (md) ep.metadata = md;
    current.eps.push(ep);
    current.weight += e.weight;
    current.group.lb_endpoints = current.eps;
    current.group.load_balancing_weight = { value: current.weight };
  }
  return { cluster_name: cla.clusterName, endpoints: groups };
}

export function decodeClusterLoadAssignment(r: Reader): ClusterLoadAssignment | undefined {
  const clusterName = r.field('cluster_name').string({ required: true, maxLength: 256 });
  const endpoints: LbEndpoint[] = [];
  for (const g of r.field('endpoints').array()) {
    if (!g.object(true)) continue;
    const priority = g.field('priority').number({ integer: true, min: 0, max: 127 }) ?? 0;
    const lr = g.field('locality');
    let locality: LbEndpoint['locality'];
    if (lr.object()) {
      locality = {};
      const region = lr.field('region').string();
      const zone = lr.field('zone').string();
      const subZone = lr.field('sub_zone').string();
      if (region) locality.region = region;
      if (zone) locality.zone = zone;
      if (subZone) locality.subZone = subZone;
    }
    for (const le of g.field('lb_endpoints').array()) {
      if (endpoints.length >= MAX_ENDPOINTS) {
        le.fail(`more than ${MAX_ENDPOINTS} endpoints`);
        break;
      }
      if (!le.object(true)) continue;
      if (!le.field('endpoint').present) {
        le.fail('only endpoint host identifiers are supported');
        continue;
      }
      const address = readAddress(le.field('endpoint').field('address'));
      const weight = readU32(le.field('load_balancing_weight'), { min: 1 }) ?? 1;
      const healthStatus = (le.field('health_status').string({ enum: HEALTH }) ?? 'UNKNOWN') as HealthStatus;
      if (!address) continue;
      const ep: LbEndpoint = { address, weight, healthStatus, priority, metadata: readTsmeshMetadata(le.field('metadata')) };
      if (locality) ep.locality = locality;
      endpoints.push(ep);
    }
  }
  return clusterName === undefined ? undefined : { clusterName, endpoints };
}

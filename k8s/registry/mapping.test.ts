// Multi-port mapping edge: a pod that lacks a Service port's named target port
// (the EndpointSlice controller leaves that port out of its slice) serves only
// the other port, and the translator leaves it out of that port's cluster.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RegistryView } from '../../control-plane/registry/types.js';
import { loadAssignment } from '../../control-plane/translate/endpoints.js';
import type { TranslateInput } from '../../control-plane/translate/context.js';
import { toEndpoints, toServiceInfo } from './mapping.js';

const fx = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'multiport.json'), 'utf8'));

describe('toEndpoints with several service ports', () => {
  const svc = toServiceInfo(fx.service, 'cluster.local')!;
  const pods = new Map<string, any>(fx.pods.map((p: any) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
  // echo-v2 without a grpc port: its slice carries only http.
  const slices = structuredClone(fx.endpointSlices);
  slices[1].ports = slices[1].ports.filter((p: any) => p.name === 'http');
  const eps = toEndpoints(svc, slices, (k) => pods.get(k), 'cluster.local');

  it('maps each pod to the ports it serves', () => {
    expect(eps.map((e) => [e.address, e.inboundPort, e.targetPorts])).toEqual([
      ['10.244.1.21', 8080, { 80: 8080, 9090: 9090 }],
      ['10.244.2.22', 8081, { 80: 8081 }],
    ]);
  });

  it('a port cluster has only the pods serving it', () => {
    const registry: RegistryView = { services: () => [svc], service: () => svc, endpoints: () => eps };
    const input = { registry } as unknown as TranslateInput;
    const at = (port: number) => loadAssignment(input, { service: svc, port: svc.ports.find((p) => p.port === port)! }).endpoints.map((e) => `${e.address.address}:${e.address.port}`);
    expect(at(80)).toEqual(['10.244.1.21:8080', '10.244.2.22:8081']);
    expect(at(9090)).toEqual(['10.244.1.21:9090']);
  });

  it('a single-port Service keeps its endpoints as before (no port map)', () => {
    const one = { ...svc, ports: [svc.ports[0]!] };
    expect(toEndpoints(one, fx.endpointSlices, (k) => pods.get(k), 'cluster.local').map((e) => [e.address, e.inboundPort, e.targetPorts])).toEqual([
      ['10.244.1.21', 8080, undefined],
      ['10.244.2.22', 8081, undefined],
    ]);
  });
});

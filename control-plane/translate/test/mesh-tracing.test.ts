// MeshConfig's tracing sampling lands on every HTTP connection manager a
// sidecar gets (both listeners, with and without interception), as Envoy's
// tracing.random_sampling; without it, none carries a tracing block. Its
// accessLogFile lands on every connection manager and TCP proxy the same way,
// in its accessLogEncoding and accessLogFormat.
import { describe, expect, it } from 'vitest';
import type { HttpConnectionManager, Listener } from '../../../proxy/config/resources.js';
import { DEFAULT_MESH_CONFIG, type MeshConfigSpec } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate } from '../index.js';
import { ISTIO_JSON_FORMAT, ISTIO_TEXT_FORMAT } from '../../../proxy/telemetry/log-format.js';

const registry = new EmbeddedRegistry();
const meta = (address: string, extra: Record<string, string> = {}) => ({ inboundAddress: address, inboundPort: 15006, appPort: 8080, protocol: 'http', ...extra });
registry.registerFromNode({ id: 'web-0', cluster: 'web', metadata: meta('10.0.0.1') });
registry.registerFromNode({ id: 'api-0', cluster: 'api', metadata: meta('10.0.0.2') });

function hcms(mesh: MeshConfigSpec, interception?: 'REDIRECT'): HttpConnectionManager[] {
  const node = readNodeRegistration({ id: 'web-0', cluster: 'web', metadata: meta('10.0.0.1', interception ? { INTERCEPTION_MODE: interception } : {}) });
  const out = translate({ policies: [], registry, mesh, node, dependencies: new Set(['default/api']) });
  return [...out.listener.values()].flatMap((l: Listener) => l.filterChains.map((c) => c.filter)).filter((f): f is HttpConnectionManager => f.kind === 'http');
}

describe('MeshConfig tracing in the translation', () => {
  it('sets every HTTP connection manager\'s sampling, inbound and outbound, with or without interception', () => {
    const mesh = { ...DEFAULT_MESH_CONFIG, tracing: { randomSamplingPercentage: 25 } };
    for (const mode of [undefined, 'REDIRECT'] as const) {
      const all = hcms(mesh, mode);
      expect(all.length).toBeGreaterThanOrEqual(2);
      for (const h of all) expect(h.tracing).toEqual({ randomSamplingPercent: 25 });
      expect(new Set(all.map((h) => h.statPrefix.startsWith('inbound')))).toEqual(new Set([true, false]));
    }
  });

  it('leaves the sidecars\' own sampling alone when the mesh sets none', () => {
    for (const h of hcms(DEFAULT_MESH_CONFIG)) expect(h.tracing).toBeUndefined();
  });
});

describe('MeshConfig accessLogFile in the translation', () => {
  function filters(mesh: MeshConfigSpec, interception?: 'REDIRECT') {
    const node = readNodeRegistration({ id: 'web-0', cluster: 'web', metadata: meta('10.0.0.1', interception ? { INTERCEPTION_MODE: interception } : {}) });
    const out = translate({ policies: [], registry, mesh, node, dependencies: new Set(['default/api']) });
    return [...out.listener.values()].flatMap((l: Listener) => l.filterChains.map((c) => c.filter));
  }

  it('puts the file access log on every connection manager and TCP proxy, inbound and outbound', () => {
    const mesh = { ...DEFAULT_MESH_CONFIG, accessLogFile: '/dev/stdout' as const };
    for (const mode of [undefined, 'REDIRECT'] as const) {
      const all = filters(mesh, mode);
      expect(all.some((f) => f.kind === 'tcp')).toBe(mode === 'REDIRECT'); // the inbound passthrough chains
      for (const f of all) expect(f.accessLog).toEqual([{ path: '/dev/stdout', format: { text: ISTIO_TEXT_FORMAT } }]);
    }
  });

  it("carries MeshConfig's encoding and format: Istio's JSON fields, or the format given", () => {
    const json = filters({ ...DEFAULT_MESH_CONFIG, accessLogFile: '/dev/stderr', accessLogEncoding: 'JSON' });
    for (const f of json) expect(f.accessLog).toEqual([{ path: '/dev/stderr', format: { json: ISTIO_JSON_FORMAT } }]);
    const custom = filters({ ...DEFAULT_MESH_CONFIG, accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON', accessLogFormat: '{"code":"%RESPONSE_CODE%"}' });
    for (const f of custom) expect(f.accessLog).toEqual([{ path: '/dev/stdout', format: { json: { code: '%RESPONSE_CODE%' } } }]);
    const text = filters({ ...DEFAULT_MESH_CONFIG, accessLogFile: '/dev/stdout', accessLogFormat: '%RESPONSE_CODE% %DURATION%\n' });
    for (const f of text) expect(f.accessLog).toEqual([{ path: '/dev/stdout', format: { text: '%RESPONSE_CODE% %DURATION%\n' } }]);
  });

  it('leaves it off when the mesh sets none', () => {
    for (const f of filters(DEFAULT_MESH_CONFIG, 'REDIRECT')) expect(f.accessLog).toBeUndefined();
  });
});

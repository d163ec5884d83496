// MeshConfig access logging with real processes: the sidecars start without an
// access log; a MeshConfig naming /dev/stdout makes both sides of a → b write a
// line per request to their stdout — Istio's TEXT line by default, JSON with
// accessLogEncoding, Envoy's command operators with accessLogFormat — a bad
// format is refused whole while the last good one keeps logging, and removing
// the file stops it. Needs the build: `npx tsc -p .` first.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, get, type SidecarProc } from './mesh-harness.js';

const meshConfig = (spec: string) => `apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: ${spec}
`;

/** A sidecar's stdout lines that mention `path` (JSON objects only, with `json`). */
const linesFor = (s: SidecarProc, path: string, json = false): string[] => s.proc.out.split('\n').filter((l) => l.includes(path) && (!json || l.startsWith('{')));

/** Sends a request with a fresh path until both sidecars have logged it (as JSON, with `json`); returns the path. */
async function loggedRequest(a: SidecarProc, b: SidecarProc, prefix: string, json = false): Promise<string> {
  let path = '';
  await eventually(`${prefix} logged`, async () => {
    path = `/${prefix}-${Date.now()}`;
    expect((await get(a.outbound, 'b:8080', path)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // the log's batch interval (250 ms)
    expect(linesFor(a, path, json).length).toBeGreaterThan(0);
    expect(linesFor(b, path, json).length).toBeGreaterThan(0);
  });
  return path;
}

describe('MeshConfig access logging over the mesh', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair());
  }, 20_000);
  afterAll(() => mesh.close());

  it("writes Istio's TEXT line on both sides once accessLogFile is set", async () => {
    expect((await get(a.outbound, 'b:8080', '/before')).status).toBe(200);
    await mesh.admin.apply(meshConfig('{ accessLogFile: /dev/stdout }'));
    const path = await loggedRequest(a, b, 'text');
    const ip = '127\\.0\\.0\\.1:\\d+';
    // [start] "GET path HTTP/1.1" 200 - via_upstream - "-" 0 bytes duration - "-" "ua" "request id" "b:8080" "host" cluster upstream-local downstream-local downstream-remote sni route
    const outbound = new RegExp(
      `^\\[\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\] "GET ${path} HTTP/1\\.1" 200 - via_upstream - "-" 0 \\d+ \\d+ - "-" "-" "[0-9a-f-]{36}" "b:8080" "${ip}" outbound\\|8080\\|\\|b\\S* ${ip} ${ip} ${ip} - \\S+$`,
    );
    expect(linesFor(a, path).at(-1)).toMatch(outbound);
    // The server side: its inbound cluster, and the SNI a's sidecar sent over mTLS.
    expect(linesFor(b, path).at(-1)).toMatch(new RegExp(`"GET ${path} HTTP/1\\.1" 200 - via_upstream .* inbound\\|\\d+\\|\\|\\S* ${ip} ${ip} ${ip} (?!- )\\S+ \\S+$`));
    expect(linesFor(a, '/before')).toEqual([]);
  }, 20_000);

  it('switches to JSON lines in a custom format, and keeps it when a bad format is applied', async () => {
    const format = JSON.stringify({ path: '%REQ(:PATH)%', code: '%RESPONSE_CODE%', cluster: '%UPSTREAM_CLUSTER%', peer: '%DOWNSTREAM_PEER_URI_SAN%', details: '%RESPONSE_CODE_DETAILS%' });
    await mesh.admin.apply(meshConfig(`{ accessLogFile: /dev/stdout, accessLogEncoding: JSON, accessLogFormat: '${format}' }`));
    const path = await loggedRequest(a, b, 'json', true);
    const json = (s: SidecarProc) => JSON.parse(linesFor(s, path).at(-1)!) as Record<string, unknown>;
    expect(json(a)).toMatchObject({ path, code: 200, peer: null, details: 'via_upstream' });
    expect(String(json(a).cluster)).toMatch(/^outbound\|8080\|\|b/);
    expect(json(b)).toMatchObject({ path, code: 200, peer: 'spiffe://cluster.local/ns/default/sa/a' });
    expect(String(json(b).cluster)).toMatch(/^inbound\|/);

    await expect(mesh.admin.apply(meshConfig('{ accessLogFile: /dev/stdout, accessLogFormat: "%START_TIME% %NOPE%" }'))).rejects.toThrow(/accessLogFormat: unknown or unsupported command operator %NOPE% .*\(column 14\)/);
    const still = await loggedRequest(a, b, 'kept', true);
    expect(JSON.parse(linesFor(a, still).at(-1)!)).toMatchObject({ path: still, code: 200 });
  }, 20_000);

  it('stops logging when accessLogFile is removed', async () => {
    await mesh.admin.apply(meshConfig('{}'));
    await eventually('logging off', async () => {
      const path = `/after-${Date.now()}`;
      expect((await get(a.outbound, 'b:8080', path)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      expect(linesFor(a, path)).toEqual([]);
    });
  }, 20_000);
});

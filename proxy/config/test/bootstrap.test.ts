import { ISTIO_TEXT_FORMAT } from '../../telemetry/log-format.js';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../../../common/errors.js';
import { loadBootstrapFile } from '../bootstrap.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const issuesOf = (file: string): string[] => {
  try {
    loadBootstrapFile(file);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).message.split('\n').slice(1).map((s) => s.trim());
  }
  throw new Error('expected the file to be refused');
};

describe('bootstrap loading', () => {
  it('loads the sample bootstraps with Envoy defaults applied', () => {
    const b = loadBootstrapFile(here('../../../examples/bootstrap/http-one-hop.yaml'));
    expect(b.node.cluster).toBe('web');
    expect(b.admin.address).toEqual({ address: '127.0.0.1', port: 15000 });
    const l = b.snapshot.resources.listener.get('outbound_http')!;
    expect(l.protocolDetectionTimeout).toBe(100);
    const hcm = l.filterChains[0]!.filter;
    expect(hcm.kind === 'http' && hcm.limits.maxRequestHeadersKb).toBe(60);
    const c = b.snapshot.resources.cluster.get('backend')!;
    expect(c.connectTimeout).toBe(1000);
    expect(c.circuitBreakers.maxRequests).toBe(1024);
    expect(c.loadAssignment!.endpoints[0]!.weight).toBe(1);
    const route = b.snapshot.resources.routeConfiguration.get('local_route')!.virtualHosts[0]!.routes[0]!;
    expect(route.route!.timeout).toBe(15_000);
    const tcp = loadBootstrapFile(here('../../../examples/bootstrap/tcp.yaml'));
    expect(tcp.snapshot.resources.listener.get('outbound_tcp')!.filterChains[0]!.filter.kind).toBe('tcp');
    expect(tcp.drainTimeout).toBe(5000);
  });

  it('reports every structural problem with file:line and field path', () => {
    const file = here('fixtures/bad.yaml');
    const issues = issuesOf(file);
    expect(issues).toContain(`${file}:4: node.colour: unknown field (expected one of: id, cluster, namespace, serviceAccount, workload, version, labels, trustDomain)`);
    expect(issues).toContain(`${file}:8: staticResources.listeners[0].address.port: must be ≤ 65535, got 70000`);
    expect(issues).toContain(`${file}:21: staticResources.routeConfigurations[0].virtualHosts[0].routes[1].match: exactly one of prefix, path, safeRegex, pathSeparatedPrefix must be set`);
    expect(issues.some((i) => i.startsWith(`${file}:22: staticResources.routeConfigurations[0].virtualHosts[0].routes[1].route.timeout: must be a duration`))).toBe(true);
    expect(issues).toHaveLength(7); // plus the 3 reference/regex problems the same file has
  });

  it('reports every broken reference and bad regex with file:line', () => {
    const file = here('fixtures/bad-refs.yaml');
    const issues = issuesOf(file);
    const rp = 'staticResources.routeConfigurations[0].virtualHosts[0].routes[0]';
    expect(issues).toEqual(
      expect.arrayContaining([
        `${file}:9: staticResources.listeners[0].filterChains[0].filter.rdsRouteConfigName: route configuration "missing_routes" is not defined`,
        expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:16: ${rp.replace(/[[\].]/g, '\\$&')}\\.match\\.safeRegex: invalid regular expression`)),
        `${file}:18: ${rp}.route.cluster: cluster "nowhere" is not defined`,
        `${file}:19: ${rp}.route.requestMirrorPolicies[0].cluster: cluster "shadow" is not defined`,
      ]),
    );
    expect(issues).toHaveLength(4);
  });

  it('refuses bad redirect routes whole, naming each problem by line and field', () => {
    const file = here('fixtures/bad-redirects.yaml');
    const issues = issuesOf(file);
    const r = (i: number) => `staticResources.routeConfigurations[0].virtualHosts[0].routes[${i}]`;
    expect(issues).toEqual(
      expect.arrayContaining([
        `${file}:10: ${r(0)}.redirect.responseCode: must be one of 301, 302, 303, 307, 308; got 305`,
        `${file}:10: ${r(0)}.redirect.prefixRewrite: needs a prefix or pathSeparatedPrefix match`,
        `${file}:12: ${r(1)}.redirect: at most one of pathRedirect, prefixRewrite and regexRewrite may be set`,
        `${file}:13: ${r(1)}.redirect.regexRewrite.substitution: \\2 names capture group 2, but the pattern has 1`,
        `${file}:15: ${r(2)}: exactly one of route, redirect and directResponse must be set`,
        `${file}:19: ${r(3)}.redirect.hostRedirect: "bad host/" is not a host name`,
      ]),
    );
  });

  it('refuses a missing file clearly', () => {
    expect(() => loadBootstrapFile(here('fixtures/does-not-exist.yaml'))).toThrow(/cannot read the bootstrap file/);
  });
});

describe('bootstrap: interception and metrics settings', () => {
  const yaml = (extra: string) => `
node: { id: n1, cluster: web }
metrics: { address: { address: 0.0.0.0, port: 15090 } }
staticResources:
  listeners:
    - name: inbound
      address: { address: 0.0.0.0, port: 15006 }
      useOriginalDst: true
      filterChains:
        - name: app-9090
          filterChainMatch: { destinationPort: ${extra} }
          filter: { kind: tcp, statPrefix: t, cluster: app }
        - name: http
          filter:
            kind: http
            statPrefix: h
            outboundTrafficPolicy: REGISTRY_ONLY
            routeConfig: { name: r, virtualHosts: [{ name: v, domains: ['*'], routes: [{ match: { prefix: / }, route: { cluster: app } }] }] }
  clusters:
    - { name: app, loadAssignment: { endpoints: [{ address: { address: 127.0.0.1, port: 9090 } }] } }
`;

  it('reads the metrics address, destinationPort and outboundTrafficPolicy', async () => {
    const { parseBootstrap } = await import('../bootstrap.js');
    const b = parseBootstrap(yaml('9090'));
    expect(b.metrics).toEqual({ address: { address: '0.0.0.0', port: 15090 } });
    const chains = b.snapshot.resources.listener.get('inbound')!.filterChains;
    expect(chains[0]!.filterChainMatch).toEqual({ destinationPort: 9090 });
    expect(chains[1]!.filter.kind === 'http' && chains[1]!.filter.outboundTrafficPolicy).toBe('REGISTRY_ONLY');
    expect(() => parseBootstrap(yaml('0'), 'b.yaml')).toThrow(/b\.yaml:11: staticResources\.listeners\[0\]\.filterChains\[0\]\.filterChainMatch\.destinationPort: must be ≥ 1, got 0/);
    // prefixRanges: a TCP service's addresses; a bad one names its field and line.
    const ranged = parseBootstrap(yaml('5432, prefixRanges: [{ addressPrefix: 10.96.0.9, prefixLen: 32 }]'));
    expect(ranged.snapshot.resources.listener.get('inbound')!.filterChains[0]!.filterChainMatch).toEqual({ destinationPort: 5432, prefixRanges: [{ addressPrefix: '10.96.0.9', prefixLen: 32 }] });
    expect(() => parseBootstrap(yaml('5432, prefixRanges: [{ addressPrefix: 10.96.0.9, prefixLen: 33 }]'), 'b.yaml')).toThrow(/b\.yaml:11: staticResources\.listeners\[0\]\.filterChains\[0\]\.filterChainMatch\.prefixRanges\[0\]: prefixLen must be 0-32, got 33/);
    expect(() => parseBootstrap(yaml('5432, prefixRanges: [{ addressPrefix: db.local, prefixLen: 32 }]'), 'b.yaml')).toThrow(/prefixRanges\[0\]: "db\.local" is not an IP address/);
  });

  it("reads a listener's own access logs (the process's streams only)", async () => {
    const { parseBootstrap } = await import('../bootstrap.js');
    const withLogs = (tcp: string, http: string) =>
      yaml('9090').replace('cluster: app }', `cluster: app, accessLog: [{ path: ${tcp} }] }`).replace('statPrefix: h', `statPrefix: h\n            accessLog: [{ path: ${http} }]`);
    const chains = parseBootstrap(withLogs('/dev/stderr', '/dev/stdout')).snapshot.resources.listener.get('inbound')!.filterChains;
    expect(chains.map((c) => c.filter.accessLog)).toEqual([[{ path: '/dev/stderr' }], [{ path: '/dev/stdout' }]]);
    expect(() => parseBootstrap(withLogs('/dev/stderr', '/var/log/app.log'), 'b.yaml')).toThrow(
      /b\.yaml:\d+: staticResources\.listeners\[0\]\.filterChains\[1\]\.filter\.accessLog\[0\]\.path: must be one of \/dev\/stdout, \/dev\/stderr; got "\/var\/log\/app\.log"/,
    );
  });

  it("reads access log formats, and names a bad operator by line, field and column", async () => {
    const { parseBootstrap } = await import('../bootstrap.js');
    const doc = (log: string) => `${yaml('9090')}accessLog:\n${log}`;
    expect(parseBootstrap(doc('  path: stdout\n')).accessLog).toEqual({ path: 'stdout' });
    expect(parseBootstrap(doc('  path: stdout\n  format: text\n')).accessLog?.format).toEqual({ text: ISTIO_TEXT_FORMAT });
    expect(parseBootstrap(doc('  path: stdout\n  format: text\n  textFormat: "%RESPONSE_CODE% %DURATION%"\n')).accessLog?.format).toEqual({ text: '%RESPONSE_CODE% %DURATION%' });
    expect(parseBootstrap(doc('  path: stdout\n  jsonFormat: { code: "%RESPONSE_CODE%" }\n  omitEmptyValues: true\n')).accessLog?.format).toEqual({ json: { code: '%RESPONSE_CODE%' }, omitEmptyValues: true });
    expect(() => parseBootstrap(doc('  path: stdout\n  format: text\n  textFormat: "%RESPONSE_CODE% %DURATON%"\n'), 'b.yaml')).toThrow(/b\.yaml:\d+: accessLog\.textFormat: unknown or unsupported command operator %DURATON% .*\(column 17\)/);
    expect(() => parseBootstrap(doc('  path: stdout\n  jsonFormat:\n    ok: "%DURATION%"\n    peer: { san: "%SAN%" }\n'), 'b.yaml')).toThrow(/b\.yaml:\d+: accessLog\.jsonFormat\.peer\.san: unknown or unsupported command operator %SAN%/);
    expect(() => parseBootstrap(doc('  path: stdout\n  format: json\n  textFormat: "%DURATION%"\n'), 'b.yaml')).toThrow(/accessLog\.textFormat: only with format: text/);
    // A listener's own log: Envoy's default line unless it names a format.
    const listener = yaml('9090').replace('statPrefix: h', 'statPrefix: h\n            accessLog: [{ path: /dev/stdout, jsonFormat: { code: "%RESPONSE_CODE%" } }, { path: /dev/stderr }]');
    expect(parseBootstrap(listener).snapshot.resources.listener.get('inbound')!.filterChains[1]!.filter.accessLog).toEqual([{ path: '/dev/stdout', format: { json: { code: '%RESPONSE_CODE%' } } }, { path: '/dev/stderr' }]);
  });

  it('reads the tracing export settings and names a bad batch size by line and field', async () => {
    const { parseBootstrap } = await import('../bootstrap.js');
    const doc = (size: string) => `${yaml('9090')}tracing:\n  exporter: otlp\n  exportDelayMs: 1000\n  exportBatchSize: ${size}\n`;
    expect(parseBootstrap(doc('128')).tracing).toEqual({ exporter: 'otlp', exportDelayMs: 1000, exportBatchSize: 128 });
    expect(() => parseBootstrap(doc('0'), 'b.yaml')).toThrow(/b\.yaml:24: tracing\.exportBatchSize: must be ≥ 1, got 0/);
    expect(() => parseBootstrap(doc('5000'), 'b.yaml')).toThrow(/b\.yaml:24: tracing\.exportBatchSize: must be ≤ 2048, got 5000/);
    // A listener's own sampling (HCM tracing), Envoy's default 100 % when the block names none.
    const hcm = (t: string) => parseBootstrap(yaml('9090').replace('statPrefix: h\n', `statPrefix: h\n            tracing: ${t}\n`)).snapshot.resources.listener.values().next().value!.filterChains[1]!.filter;
    expect(hcm('{ randomSamplingPercent: 5 }')).toMatchObject({ tracing: { randomSamplingPercent: 5 } });
    expect(hcm('{}')).toMatchObject({ tracing: { randomSamplingPercent: 100 } });
    const proto = (p: string) => `${yaml('9090')}tracing:\n  exporter: otlp\n  protocol: ${p}\n`;
    expect(parseBootstrap(proto('http/json')).tracing).toEqual({ exporter: 'otlp', protocol: 'http/json' });
    expect(() => parseBootstrap(proto('grpc'), 'b.yaml')).toThrow(/b\.yaml:23: tracing\.protocol: .*http\/protobuf.*http\/json.*grpc/);
  });

  it('reads an ORIGINAL_DST cluster (inbound passthrough) and refuses one that balances or has endpoints', async () => {
    const { parseBootstrap } = await import('../bootstrap.js');
    const passthrough = (extra: string) => yaml('9090').replace('  clusters:\n', `  clusters:\n    - { name: pass, type: ORIGINAL_DST, upstreamBindConfig: { sourceAddress: { address: 127.0.0.6, port: 0 } }${extra} }\n`);
    const c = parseBootstrap(passthrough('')).snapshot.resources.cluster.get('pass')!;
    expect(c).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', upstreamBindConfig: { sourceAddress: { address: '127.0.0.6', port: 0 } } });
    expect(() => parseBootstrap(passthrough(', lbPolicy: ROUND_ROBIN'), 'b.yaml')).toThrow(/b\.yaml:\d+: staticResources\.clusters\[0\]\.lbPolicy: must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster/);
    expect(() => parseBootstrap(passthrough(', loadAssignment: { endpoints: [{ address: { address: 127.0.0.1, port: 1 } }] }'), 'b.yaml')).toThrow(/clusters\[0\]\.loadAssignment: an ORIGINAL_DST cluster has no endpoints/);
  });
});

describe('bootstrap: ADS settings', () => {
  const doc = (extra: string) => `node: { id: n1, cluster: web }
dynamicResources:
  ads:
    address: { address: 127.0.0.1, port: 15010 }
${extra}`;

  it('reads initialFetchTimeout (absent = the client default) and names a bad one by line and field', async () => {
    const { parseBootstrap } = await import('../bootstrap.js');
    expect(parseBootstrap(doc('')).dynamicResources!.ads.initialFetchTimeout).toBeUndefined();
    expect(parseBootstrap(doc('    initialFetchTimeout: 5s\n')).dynamicResources!.ads.initialFetchTimeout).toBe(5000);
    expect(parseBootstrap(doc('    initialFetchTimeout: 0s\n')).dynamicResources!.ads.initialFetchTimeout).toBe(0);
    expect(() => parseBootstrap(doc('    initialFetchTimeout: soon\n'), 'b.yaml')).toThrow(/b\.yaml:5: dynamicResources\.ads\.initialFetchTimeout: /);
  });
});

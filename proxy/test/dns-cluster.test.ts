// DNS clusters end to end: a sidecar whose cluster names hosts by DNS name,
// resolved against a real DNS server on 127.0.0.1 (or the system resolver),
// upstreams on other loopback addresses (127.0.0.2, 127.0.0.3) and real
// requests through the sidecar.

import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { parseBootstrap } from '../config/bootstrap.js';
import { ValidationError } from '../../common/errors.js';
import { Sidecar } from '../sidecar.js';
import { resolveName } from '../upstream/dns-clusters.js';
import { TestDnsServer } from './dns-server.js';
import { close, get, listen, portOf, routeTo } from './resilience-helpers.js';
import { httpBootstrap, startSidecar } from './helpers.js';

/** An upstream on a given loopback address that answers with its own name. */
async function named(name: string, host: string, port = 0): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    req.resume();
    res.end(name);
  });
  s.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => resolve());
  });
  return s;
}

function dnsCluster(name: string, type: string, host: string, port: number, dns: string): string {
  return `
    - name: ${name}
      type: ${type}
      connectTimeout: 1s
      lbPolicy: ROUND_ROBIN
      dns: ${dns}
      loadAssignment:
        endpoints: [{ address: { address: ${host}, port: ${port} } }]`;
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('STRICT_DNS and LOGICAL_DNS clusters', () => {
  const dns = new TestDnsServer();
  let a: http.Server;
  let b: http.Server;
  let port: number;
  const agent = new Agent({ connections: 8 });
  const sidecars: Sidecar[] = [];

  beforeAll(async () => {
    await dns.start();
    a = await named('a', '127.0.0.2');
    port = portOf(a);
    b = await named('b', '127.0.0.3', port);
  });
  afterEach(async () => {
    for (const s of sidecars.splice(0)) await s.close();
    dns.records.clear();
    dns.delayMs = 0;
    dns.failing = false;
  });
  afterAll(async () => {
    dns.close();
    await agent.close();
    await Promise.all([close(a), close(b)]);
  });

  const servers = () => `{ refreshRate: 100ms, lookupFamily: V4_ONLY, resolvers: [{ address: 127.0.0.1, port: ${dns.port} }] }`;
  const start = async (clusterYaml: string) => {
    const s = await startSidecar(httpBootstrap(routeTo('ext', '/', 'ext'), clusterYaml));
    sidecars.push(s.sidecar);
    return s.port();
  };
  const bodies = async (p: number, n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await get(agent, p, '/')).body);
    return out;
  };

  it('STRICT_DNS: every address of the name is a host; a changed answer moves traffic; a failing server keeps the last good hosts', async () => {
    dns.records.set('api.test', { a: ['127.0.0.2', '127.0.0.3'] });
    const p = await start(dnsCluster('ext', 'STRICT_DNS', 'api.test', port, servers()));
    expect(new Set(await bodies(p, 6))).toEqual(new Set(['a', 'b']));

    dns.records.set('api.test', { a: ['127.0.0.3'] });
    await until(async () => (await bodies(p, 4)).every((x) => x === 'b'));

    dns.failing = true;
    const asked = dns.queries;
    await until(() => dns.queries >= asked + 2); // two failed refreshes
    expect(await bodies(p, 4)).toEqual(['b', 'b', 'b', 'b']);
  });

  it('LOGICAL_DNS: one host, the first address of the latest answer', async () => {
    dns.records.set('www.test', { a: ['127.0.0.2', '127.0.0.3'] });
    const p = await start(dnsCluster('ext', 'LOGICAL_DNS', 'www.test', port, servers()));
    expect(await bodies(p, 4)).toEqual(['a', 'a', 'a', 'a']);
    dns.records.set('www.test', { a: ['127.0.0.3', '127.0.0.2'] });
    await until(async () => (await bodies(p, 2)).every((x) => x === 'b'));
  });

  it('a new DNS cluster is warmed before its config serves: the first request after apply is answered, not 503', async () => {
    dns.records.set('slow.test', { a: ['127.0.0.2'] });
    dns.delayMs = 300;
    const t0 = performance.now();
    const p = await start(dnsCluster('ext', 'STRICT_DNS', 'slow.test', port, servers()));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(await get(agent, p, '/')).toMatchObject({ status: 200, body: 'a' });
  });

  it('a name that does not resolve leaves the cluster without hosts (503 UH) until it does', async () => {
    const p = await start(dnsCluster('ext', 'STRICT_DNS', 'later.test', port, servers()));
    const r = await get(agent, p, '/');
    expect(r.status).toBe(503);
    expect(r.headers['x-envoy-response-flags'] ?? r.body).toMatch(/UH|no healthy upstream/);
    dns.records.set('later.test', { a: ['127.0.0.3'] });
    await until(async () => (await get(agent, p, '/')).status === 200);
    expect((await get(agent, p, '/')).body).toBe('b');
  });

  it('the system resolver (getaddrinfo) by default: localhost', async () => {
    const local = await listen(
      http.createServer((req, res) => {
        req.resume();
        res.end('local');
      }),
    );
    try {
      const p = await start(dnsCluster('ext', 'STRICT_DNS', 'localhost', portOf(local), '{ lookupFamily: V4_ONLY }'));
      expect(await get(agent, p, '/')).toMatchObject({ status: 200, body: 'local' });
      const eps = sidecars[0]!.clusters().find((c) => c.name === 'ext')!.endpoints;
      expect(eps.map((e) => [e.address, e.metadata.hostname])).toEqual([[`127.0.0.1:${portOf(local)}`, 'localhost']]);
    } finally {
      await close(local);
    }
  });

  it('lookup families: AUTO prefers IPv6, V4_PREFERRED IPv4, ALL keeps both', async () => {
    dns.records.set('dual.test', { a: ['127.0.0.2'], aaaa: ['::1'] });
    dns.records.set('v4.test', { a: ['127.0.0.2'] });
    const { Resolver } = await import('node:dns/promises');
    const r = new Resolver();
    r.setServers([`127.0.0.1:${dns.port}`]);
    const s = (lookupFamily: 'AUTO' | 'V4_PREFERRED' | 'ALL' | 'V6_ONLY') => ({ refreshRate: 1000, respectTtl: false, lookupFamily });
    expect((await resolveName('dual.test', s('AUTO'), r)).addresses).toEqual(['::1']);
    expect((await resolveName('v4.test', s('AUTO'), r)).addresses).toEqual(['127.0.0.2']);
    expect((await resolveName('dual.test', s('V4_PREFERRED'), r)).addresses).toEqual(['127.0.0.2']);
    expect((await resolveName('dual.test', s('ALL'), r)).addresses).toEqual(['127.0.0.2', '::1']);
    await expect(resolveName('v4.test', s('V6_ONLY'), r)).rejects.toThrow();
    expect((await resolveName('10.1.2.3', s('V6_ONLY'), r)).addresses).toEqual(['10.1.2.3']);
  });
});

describe('DNS cluster bootstrap refusals', () => {
  const refusal = (yaml: string): string => {
    try {
      parseBootstrap(yaml, 'dns.yaml');
      return 'accepted';
    } catch (e) {
      if (e instanceof ValidationError) return e.message;
      throw e;
    }
  };
  const bootstrap = (cluster: string) => httpBootstrap(routeTo('ext', '/', 'ext'), cluster);

  it('says what is wrong, and where', () => {
    expect(refusal(bootstrap(`
    - name: ext
      type: STRICT_DNS`))).toMatch(/dns\.yaml:\d+.*loadAssignment.*required for a STRICT_DNS cluster/s);
    expect(refusal(bootstrap(`
    - name: ext
      type: LOGICAL_DNS
      loadAssignment:
        endpoints: [{ address: { address: a.test, port: 80 } }, { address: { address: b.test, port: 80 } }]`))).toMatch(/LOGICAL_DNS cluster has exactly one endpoint/);
    expect(refusal(bootstrap(`
    - name: ext
      type: STRICT_DNS
      dns: { resolvers: [{ address: dns.google, port: 53 }] }
      loadAssignment:
        endpoints: [{ address: { address: a.test, port: 80 } }]`))).toMatch(/DNS server is given by IP address, not "dns\.google"/);
    expect(refusal(bootstrap(`
    - name: ext
      type: STRICT_DNS
      loadAssignment:
        endpoints: [{ address: { address: "bad name!", port: 80 } }]`))).toMatch(/"bad name!" is neither an IP address nor a DNS name/);
    expect(refusal(bootstrap(`
    - name: ext
      dns: { refreshRate: 1s }
      loadAssignment:
        endpoints: [{ address: { address: 127.0.0.1, port: 80 } }]`))).toMatch(/dns.*only for STRICT_DNS and LOGICAL_DNS clusters/s);
    expect(refusal(bootstrap(`
    - name: ext
      type: STRICT_DNS
      dns: { lookupFamily: V5 }
      loadAssignment:
        endpoints: [{ address: { address: a.test, port: 80 } }]`))).toMatch(/lookupFamily/);
  });
});

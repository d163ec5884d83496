// Opaque TCP between sidecars over mesh mTLS (a database behind a sidecar):
// the outbound TCP proxy originates mTLS with the cluster's SPIFFE check, the
// inbound terminates it (STRICT) and pipes to the app. Outbound chains are
// picked by destination IP (Envoy prefix_ranges), most specific range first.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, workload } from '../identity/test/helpers.js';
import type { TcpConnectionRecord } from '../telemetry/types.js';
import type { Sidecar } from '../sidecar.js';
import { close, cluster, listen, meshSecrets, node, portOf, RecordingTelemetry, startSidecar } from './helpers.js';

const DB = 'spiffe://cluster.local/ns/default/sa/ratings-db';
const CLIENT = 'spiffe://cluster.local/ns/default/sa/ratings';

class TcpRecords extends RecordingTelemetry {
  // As a sidecar with an access log: connection records carry the addresses and failure reasons formats read.
  readonly accessLogging = true;
  tcp: TcpConnectionRecord[] = [];
  opened: { clusterName: string | undefined; destination: TcpConnectionRecord['destination'] }[] = [];
  override tcpConnectionOpened(_direction: 'inbound' | 'outbound', clusterName: string | undefined, peers: Pick<TcpConnectionRecord, 'source' | 'destination' | 'mtls'>): void {
    this.opened.push({ clusterName, destination: peers.destination });
  }
  override tcpConnectionClosed(r: TcpConnectionRecord): void {
    this.tcp.push(r);
  }
}

/** Send one line over a fresh connection; resolves with all the bytes until the other side closes. */
function exchange(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(line));
    let got = '';
    s.setEncoding('utf8').on('data', (d) => {
      got += d;
      if (got.endsWith('\n')) s.end();
    });
    s.on('close', () => resolve(got)).on('error', reject);
  });
}

const echo = (tag: string) => net.createServer((s) => s.on('data', (d) => s.write(`${tag}:${d}`)).on('error', () => {}));

describe('opaque TCP over mesh mTLS', () => {
  let db: net.Server;
  let plain: net.Server;
  let a: Sidecar;
  let b: Sidecar;
  let port: (name?: string) => number;
  const aTelemetry = new TcpRecords();
  const bTelemetry = new TcpRecords();

  beforeAll(async () => {
    const ca = await makeCa();
    const [server, client] = await Promise.all([workload(ca, DB), workload(ca, CLIENT)]);
    db = await listen(echo('db'));
    plain = await listen(echo('plain'));
    const sb = await startSidecar(`${node}
staticResources:
  listeners:
    - name: inbound
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: INBOUND
      filterChains:
        - filterChainMatch: { transportProtocol: tls }
          transportSocket: { certificateSecret: default, validationSecret: ROOTCA, requireClientCertificate: true, matchSubjectAltNames: [{ prefix: "spiffe://cluster.local/" }] }
          filter: { kind: tcp, cluster: db-app }
  clusters:${cluster('db-app', portOf(db))}
`, bTelemetry);
    b = sb.sidecar;
    for (const s of meshSecrets(server)) b.updateSecret(s);
    const mtls = (name: string, id: string) => cluster(name, sb.port('inbound'), `
      transportSocket:
        certificateSecret: default
        validationSecret: ROOTCA
        matchSubjectAltNames: [{ exact: "${id}" }]`);
    // Three outbound listeners, each with the TCP service's chain (a /32, as a ClusterIP) beside a wider range.
    const listener = (name: string, dbRange: string, dbCluster: string) => `
    - name: ${name}
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: OUTBOUND
      filterChains:
        - name: wide
          filterChainMatch: { prefixRanges: [{ addressPrefix: 127.0.0.0, prefixLen: 8 }] }
          filter: { kind: tcp, cluster: plain }
        - name: ratings-db
          filterChainMatch: { prefixRanges: [{ addressPrefix: ${dbRange}, prefixLen: 32 }] }
          filter: { kind: tcp, cluster: ${dbCluster} }`;
    const sa = await startSidecar(`${node}
staticResources:
  listeners:${listener('db', '127.0.0.1', 'ratings-db')}${listener('elsewhere', '10.96.0.9', 'ratings-db')}${listener('impostor', '127.0.0.1', 'impostor')}
  clusters:${mtls('ratings-db', DB)}${mtls('impostor', 'spiffe://cluster.local/ns/default/sa/someone-else')}${cluster('plain', portOf(plain))}
`, aTelemetry);
    a = sa.sidecar;
    for (const s of meshSecrets(client)) a.updateSecret(s);
    port = sa.port;
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await Promise.all([close(db), close(plain)]);
  });

  it('carries the bytes over mTLS to the app; the inbound side records the mTLS connection', async () => {
    // The /32 chain wins over the /8 one listed first: the bytes reach the app behind the other sidecar.
    expect(await exchange(port('db'), 'select 1\n')).toBe('db:select 1\n');
    await expect.poll(() => bTelemetry.tcp.length).toBeGreaterThan(0);
    const inbound = bTelemetry.tcp.at(-1)!;
    expect(inbound.mtls).toBe(true);
    expect(inbound.source.principal).toBe(CLIENT);
    expect(inbound.bytesReceived).toBe('select 1\n'.length);
    await expect.poll(() => aTelemetry.tcp.some((r) => r.clusterName === 'ratings-db' && r.bytesSent === 'db:select 1\n'.length)).toBe(true);
    // The caller's side names the peer it reached by the identity its certificate proved, on both series.
    const outbound = aTelemetry.tcp.find((r) => r.clusterName === 'ratings-db')!;
    expect(outbound.destination.principal).toBe(DB);
    // What access logs print: the client's port, the address it dialled, this proxy's upstream address.
    expect(outbound).toMatchObject({ downstreamRemoteAddress: '127.0.0.1', downstreamLocalAddress: `127.0.0.1:${port('db')}` });
    expect(outbound.downstreamRemotePort).toBeGreaterThan(0);
    expect(outbound.upstreamLocalAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(aTelemetry.opened.find((o) => o.clusterName === 'ratings-db')?.destination).toBe(outbound.destination);
  });

  it('a destination IP outside the service range takes the other chain', async () => {
    expect(await exchange(port('elsewhere'), 'ping\n')).toBe('plain:ping\n');
  });

  it('refuses a peer whose SPIFFE ID is not the one the cluster expects: no bytes reach it (UF)', async () => {
    const before = bTelemetry.tcp.length;
    expect(await exchange(port('impostor'), 'secret\n')).toBe('');
    await expect.poll(() => aTelemetry.tcp.find((r) => r.clusterName === 'impostor')?.responseFlags).toEqual(['UF']);
    expect(aTelemetry.tcp.find((r) => r.clusterName === 'impostor')?.upstreamTransportFailureReason).toMatch(/^MESH_UPSTREAM_IDENTITY: upstream identity refused/);
    // Refused before any identity was accepted: counted as opened and closed, with no principal.
    expect(aTelemetry.opened.filter((o) => o.clusterName === 'impostor').map((o) => o.destination.principal)).toEqual([undefined]);
    expect(bTelemetry.tcp.slice(before).every((r) => r.bytesReceived === 0)).toBe(true);
  });
});

// The SVID a sidecar actually serves with: its inbound listener (found in the
// sidecar's /config_dump) is asked for its certificate in a TLS handshake.
// The workload certificate never travels over xDS, so the config dump does
// not have it; the handshake shows what peers see.

import tls from 'node:tls';

interface ListenerDump {
  configs?: { resources?: { resource: { address?: { address: string; port: number }; trafficDirection?: string; filterChains?: { transportSocket?: unknown }[] } }[] }[];
}

const toPem = (raw: Buffer) => `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;

/** host:port of the sidecar's mTLS inbound listener; an unspecified address is reached at the admin's host. */
export async function inboundTlsAddress(adminUrl: string): Promise<{ host: string; port: number } | undefined> {
  const res = await fetch(new URL('/config_dump?resource=listener', adminUrl), { signal: AbortSignal.timeout(5000) });
  if (!res.ok) return undefined;
  const dump = (await res.json()) as ListenerDump;
  for (const { resource: l } of dump.configs?.flatMap((c) => c.resources ?? []) ?? []) {
    if (l.trafficDirection !== 'INBOUND' || !l.address || !l.filterChains?.some((c) => c.transportSocket)) continue;
    const host = l.address.address === '0.0.0.0' || l.address.address === '::' ? new URL(adminUrl).hostname : l.address.address;
    return { host, port: l.address.port };
  }
  return undefined;
}

/** The certificate chain (leaf first, PEM, without a self-signed root) presented at host:port. */
export function presentedChainPem(host: string, port: number, timeoutMs = 3000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], timeout: timeoutMs }, () => {
      const out: string[] = [];
      let c = s.getPeerCertificate(true);
      for (let i = 0; c?.raw && i < 8; i++) {
        if (i > 0 && c.issuerCertificate === c) break; // the root, when the server sends it
        out.push(toPem(c.raw));
        if (c.issuerCertificate === c) break;
        c = c.issuerCertificate;
      }
      s.destroy();
      resolve(out);
    });
    s.once('timeout', () => (s.destroy(), reject(new Error(`no TLS answer from ${host}:${port} within ${timeoutMs} ms`))));
    s.once('error', reject);
  });
}

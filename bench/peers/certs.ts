// Throw-away mTLS material for the two-hop paths: a P-256 CA and a server and
// client certificate with SPIFFE URI SANs, made with openssl in the run's temp
// dir (the identity engineer's CA lives in bench/ca/ and certs/; the peers
// only need files they can read).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CertPaths } from './types.js';

const TRUST_DOMAIN = 'bench.tsmesh.local';

export function makeCerts(dir: string, openssl: string): CertPaths {
  const p = (f: string): string => path.join(dir, f);
  const run = (args: string[]): void => {
    execFileSync(openssl, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'),
    '-days', '2', '-subj', '/O=tsmesh bench/CN=bench CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const leaf = (name: string, spiffe: string, dns: string, eku: string): void => {
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/O=tsmesh bench/CN=${name}`]);
    fs.writeFileSync(p(`${name}.ext`), `subjectAltName=URI:${spiffe},DNS:${dns}\nextendedKeyUsage=${eku}\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=critical,CA:FALSE\n`);
    run(['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-out', p(`${name}.pem`), '-extfile', p(`${name}.ext`)]);
    fs.writeFileSync(p(`${name}.bundle.pem`), fs.readFileSync(p(`${name}.pem`), 'utf8') + fs.readFileSync(p(`${name}.key`), 'utf8'));
  };
  const serverId = `spiffe://${TRUST_DOMAIN}/ns/default/sa/server`;
  const clientId = `spiffe://${TRUST_DOMAIN}/ns/default/sa/client`;
  leaf('server', serverId, 'server.bench', 'serverAuth,clientAuth');
  leaf('client', clientId, 'client.bench', 'serverAuth,clientAuth');
  return {
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    serverPem: p('server.bundle.pem'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    clientPem: p('client.bundle.pem'),
    serverName: 'server.bench',
    serverSpiffeId: serverId,
    clientSpiffeId: clientId,
  };
}

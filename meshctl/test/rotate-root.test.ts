// meshctl certs rotate-root against real processes: mesh-control-plane with
// its CA and two mesh-proxy sidecars under STRICT mTLS, requests flowing
// A → B the whole time. Needs the build: `npx tsc -p .` first.

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { CertificateAuthority } from '../../certs/ca.js';
import { loadCaFromFiles } from '../../certs/ca-store.js';
import { createWorkloadCsr } from '../../certs/csr.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Load, Mesh, eventually, get, type SidecarProc } from '../../proxy/test/mesh-harness.js';
import { bundleFingerprints } from '../../proxy/identity/trust-bundle.js';
import { verifyChainToBundle } from '../../proxy/identity/verify-chain.js';

const meshctlBin = join(import.meta.dirname, '..', '..', 'dist', 'meshctl', 'main.js');

function meshctl(stateDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [meshctlBin, '--state-dir', stateDir, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The ROOTCA bundle the control plane pushed to a sidecar (its /config_dump). */
async function pushedBundle(s: SidecarProc): Promise<string> {
  const dump = (await (await fetch(`http://127.0.0.1:${s.admin}/config_dump?resource=secret`)).json()) as {
    configs: { resources?: { name: string; resource: { validationContext?: { trustedCa: string } } }[] }[];
  };
  return dump.configs.flatMap((c) => c.resources ?? []).find((r) => r.name === 'ROOTCA')!.resource.validationContext!.trustedCa;
}

const toPem = (raw: Buffer) => `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;

/** The chain (leaf, intermediates) a sidecar's inbound listener presents: the workload's SVID in use. */
function presentedChain(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      let c = s.getPeerCertificate(true);
      let pem = '';
      for (let i = 0; c && i < 4 && c.issuerCertificate !== c; i++, c = c.issuerCertificate) pem += toPem(c.raw);
      s.destroy();
      resolve(pem);
    });
    s.on('error', reject);
  });
}

/** One HTTP/1.1 request into a sidecar's inbound listener as a workload with this certificate; the status, or the error. */
function callAs(port: number, cert: { certChainPem: string; privateKeyPem: string }): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], cert: cert.certChainPem, key: cert.privateKeyPem });
    let out = '';
    s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: b:8080\r\nconnection: close\r\n\r\n'));
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out.split('\r\n')[0] || 'closed without a response'));
    s.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  });
}

/**
 * Runs a convergence wait; if it times out, the error carries the sidecars' own warnings (certificate
 * requests, connects), so a slow convergence on a loaded CI machine says why.
 */
async function convergence(sidecars: SidecarProc[], wait: Promise<unknown>): Promise<void> {
  try {
    await wait;
  } catch (err) {
    const logs = sidecars.map((s) => `--- sidecar ${s.proc.child.pid} ---\n${(s.proc.out + s.proc.err).slice(-3000)}`).join('\n');
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
}

/** A workload certificate for `sa` issued by the CA whose files are in `dir`. */
async function issueFrom(dir: string, sa: string): Promise<{ certChainPem: string; privateKeyPem: string }> {
  const ca = new CertificateAuthority(await loadCaFromFiles({ certFile: join(dir, 'ca-cert.pem'), keyFile: join(dir, 'ca-key.pem'), rootFile: join(dir, 'root-cert.pem') }));
  const id = `spiffe://cluster.local/ns/default/sa/${sa}`;
  const { csrPem, privateKeyPem } = await createWorkloadCsr(id);
  return { certChainPem: (await ca.issueWorkloadCertificate(csrPem, id)).certChainPem, privateKeyPem };
}

const STRICT = `apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  trustDomain: cluster.local
  mtls: { mode: STRICT }
`;

describe('meshctl certs rotate-root', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;
  let oldRoot: string;

  beforeAll(async () => {
    await mesh.startControlPlane();
    oldRoot = readFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), 'utf8');
    ({ a, b } = await mesh.pair());
    await mesh.admin.apply(STRICT);
    // Both certificates issued and STRICT pushed: on a loaded CI machine this converges slowly.
    await convergence([a, b], eventually(
      'a → b over mTLS',
      async () => {
        const r = await get(a.outbound, 'b:8080');
        expect(r.status, `${r.status} ${String(r.headers['x-tsmesh-error'] ?? '')} ${r.body.slice(0, 200)}`).toBe(200);
        expect((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-forwarded-client-cert']).toContain('URI=spiffe://cluster.local/ns/default/sa/a');
      },
      25_000,
    ));
  }, 45_000);
  afterAll(() => mesh.close());

  it('--dry-run shows the plan and the current root and changes nothing', async () => {
    const r = await meshctl(mesh.stateDir, ['certs', 'rotate-root', '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const fp = bundleFingerprints(oldRoot)[0]!;
    expect(r.stdout).toContain(`root rotation plan (dry run: nothing was changed)\n  current root: O=tsmesh, CN=tsmesh root CA cluster.local, sha256 ${fp.slice(0, 16)}…`);
    expect(r.stdout).toContain('  connected proxies: 2\n  1. create the new root CA\n  2. publish trust bundle old+new to every proxy\n');
    expect(r.stdout).toContain('  6. make the new root the one the control plane loads\n');
    expect((await mesh.admin.rootRotation()).state).toBe('idle');
    expect(bundleFingerprints(await pushedBundle(b))).toEqual([fp]);
    // A workload with a certificate from this root is accepted (the same call is refused after the rotation).
    expect(await callAs(b.inbound, await issueFrom(join(mesh.stateDir, 'ca'), 'a'))).toBe('HTTP/1.1 200 OK');
  });

  it('rotates under steady STRICT mTLS traffic with zero failed requests; SVIDs then chain to the new root only', async () => {
    const load = new Load(a.outbound, 'b:8080');
    load.start();
    let r: Awaited<ReturnType<typeof meshctl>>;
    try {
      r = await meshctl(mesh.stateDir, ['certs', 'rotate-root']);
      // Traffic keeps flowing a little after the old root is gone.
      await new Promise((res) => setTimeout(res, 500));
    } finally {
      await load.stop();
    }
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✔ \[2\/6\] trust bundle old\+new reached 2\/2 proxies in \d+ ms\n/);
    expect(r.stdout).toMatch(/✔ \[3\/6\] signing with the new root; trust bundle new\+old reached 2\/2 proxies in \d+ ms\n/);
    expect(r.stdout).toMatch(/✔ \[4\/6\] 2\/2 workloads present certificates from the new root/);
    expect(r.stdout).toMatch(/✔ \[5\/6\] trust bundle new reached 2\/2 proxies in \d+ ms\n/);
    expect(r.stdout).toMatch(/root rotation complete: workloads use root sha256 [0-9a-f]{16}…; the old root [0-9a-f]{16}… is no longer trusted\n$/);
    expect(load.failures).toEqual([]);
    expect(load.byApp.get('b') ?? 0).toBeGreaterThan(50);

    const newRoot = readFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), 'utf8');
    expect(bundleFingerprints(newRoot)).not.toEqual(bundleFingerprints(oldRoot));
    for (const s of [a, b]) {
      expect(bundleFingerprints(await pushedBundle(s))).toEqual(bundleFingerprints(newRoot));
      const chain = await presentedChain(s.inbound);
      expect(verifyChainToBundle(chain, newRoot, Date.now(), 0)).toBeUndefined();
      expect(verifyChainToBundle(chain, oldRoot, Date.now(), 0)).toBe('certificate chain does not lead to a root in the trust bundle');
    }
    // What meshctl certs shows for B: the SVID it presents and one root, the new one.
    const shown = await meshctl(mesh.stateDir, ['certs', '--admin', `127.0.0.1:${b.admin}`]);
    expect(shown.stdout).toContain(`  SVID (presented on 127.0.0.1:${b.inbound}): spiffe://cluster.local/ns/default/sa/b\n`);
    expect(shown.stdout.match(/trust bundle \(ROOTCA\): O=tsmesh, CN=tsmesh root CA cluster\.local \[CA\]\n {4}serial \w+, sha256 (\w+)…/g)).toEqual([
      expect.stringContaining(`sha256 ${bundleFingerprints(newRoot)[0]!.slice(0, 16)}…`),
    ]);
    // The old root is gone from what B trusts: a caller with an old-root certificate is refused, a new-root one accepted.
    const retired = readdirSync(join(mesh.stateDir, 'ca')).find((f) => f.startsWith('retired-'))!;
    expect(await callAs(b.inbound, await issueFrom(join(mesh.stateDir, 'ca', retired), 'a'))).not.toBe('HTTP/1.1 200 OK');
    expect(await callAs(b.inbound, await issueFrom(join(mesh.stateDir, 'ca'), 'a'))).toBe('HTTP/1.1 200 OK');
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
    const st = await mesh.admin.rootRotation();
    expect(st.state).toBe('done');
    expect(st.steps.every((x) => x.state === 'done')).toBe(true);
  }, 60_000);

  it('a proxy that does not ACK stops the rotation in a safe phase with the reason; running it again resumes and completes', async () => {
    const before = readFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), 'utf8');
    const pid = b.proc.child.pid!;
    process.kill(pid, 'SIGSTOP');
    let stopped: Awaited<ReturnType<typeof meshctl>>;
    try {
      stopped = await meshctl(mesh.stateDir, ['certs', 'rotate-root', '--step-timeout', '2s']);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(stopped.code).toBe(1);
    expect(stopped.stdout).toMatch(/✔ \[1\/6\] new root [0-9a-f]{16}… valid until \d{4}-\d\d-\d\d\n {2}\[2\/6\] publish trust bundle old\+new to every proxy …\n {2}✘ \[2\/6\] publish trust bundle old\+new to every proxy\n$/);
    expect(stopped.stderr).toBe(
      'meshctl: root rotation stopped: overlap: the trust bundle did not reach 1/2 proxies within 2 s: sidecar~127.0.0.1~b-v1.default~default.svc.cluster.local\n' +
        '  the mesh stays in the last confirmed phase; fix the cause and run meshctl certs rotate-root again to resume\n',
    );
    // Both roots are trusted, the old one still signs: nothing broke.
    const st = await mesh.admin.rootRotation();
    expect(st.state).toBe('failed');
    expect(bundleFingerprints(await pushedBundle(a))).toEqual([...bundleFingerprints(before), st.newRoot!.fingerprint]);
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
    expect((await meshctl(mesh.stateDir, ['status'])).stdout).toContain(
      '\nroot rotation stopped at step 2/6: overlap: the trust bundle did not reach 1/2 proxies within 2 s: sidecar~127.0.0.1~b-v1.default~default.svc.cluster.local; both roots stay trusted, meshctl certs rotate-root resumes it\n',
    );

    const check = await meshctl(mesh.stateDir, ['check']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('✘ root rotation stopped: overlap: the trust bundle did not reach 1/2 proxies within 2 s: sidecar~127.0.0.1~b-v1.default~default.svc.cluster.local\n    → fix the cause (see meshctl status), then meshctl certs rotate-root resumes it; both roots stay trusted meanwhile\n');

    const resumed = await meshctl(mesh.stateDir, ['certs', 'rotate-root']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/^resuming the root rotation at step 2\/6 \(new root sha256 [0-9a-f]{16}…\)\n/);
    expect(resumed.stdout).not.toContain('[1/6]');
    expect(resumed.stdout).toMatch(/✔ \[2\/6\] trust bundle old\+new reached 2\/2 proxies/);
    const after = readFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), 'utf8');
    for (const s of [a, b]) {
      expect(bundleFingerprints(await pushedBundle(s))).toEqual(bundleFingerprints(after));
      expect(verifyChainToBundle(await presentedChain(s.inbound), after, Date.now(), 0)).toBeUndefined();
    }
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
  }, 60_000);
});

// A mesh of its own: it restarts its control plane twice.
describe('meshctl certs rotate-root across a control-plane restart', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let b: SidecarProc;

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair());
    await convergence([a, b], eventually(
      'a → b',
      async () => {
        const r = await get(a.outbound, 'b:8080');
        expect(r.status, `${r.status} ${String(r.headers['x-tsmesh-error'] ?? '')} ${r.body.slice(0, 200)}`).toBe(200);
      },
      25_000,
    ));
  }, 45_000);
  afterAll(() => mesh.close());

  it('a restarted control plane comes back with the unfinished rotation and its new root; rotate-root resumes it', async () => {
    const pid = b.proc.child.pid!;
    process.kill(pid, 'SIGSTOP');
    let stopped: Awaited<ReturnType<typeof meshctl>>;
    try {
      stopped = await meshctl(mesh.stateDir, ['certs', 'rotate-root', '--step-timeout', '1s']);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(stopped.code).toBe(1);
    const newRoot = (await mesh.admin.rootRotation()).newRoot!.fingerprint;

    await mesh.killControlPlane();
    await mesh.startControlPlane(undefined, mesh.xdsPort);
    const st = await mesh.admin.rootRotation();
    expect(st.state).toBe('failed');
    expect(st.newRoot!.fingerprint).toBe(newRoot);
    expect(st.error).toBe('the control plane restarted during the rotation; it is back at step 2/6 with the same new root — run meshctl certs rotate-root to resume');
    await mesh.waitConnected(2);

    const resumed = await meshctl(mesh.stateDir, ['certs', 'rotate-root']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`resuming the root rotation at step 2/6 (new root sha256 ${newRoot.slice(0, 16)}…)\n`);
    const after = readFileSync(join(mesh.stateDir, 'ca', 'root-cert.pem'), 'utf8');
    expect(bundleFingerprints(after)).toEqual([newRoot]);
    for (const s of [a, b]) expect(verifyChainToBundle(await presentedChain(s.inbound), after, Date.now(), 0)).toBeUndefined();
    expect(readdirSync(join(mesh.stateDir, 'ca')).filter((f) => f === 'next' || f === 'rotation.json')).toEqual([]);
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);

    // The control plane restarts under the new root. a and b still verify it with the root file they read at
    // start (the old root only): the old root's cross-signature of the new one in its serving chain gets them in.
    const restartedAt = Date.now();
    await mesh.killControlPlane();
    await mesh.startControlPlane(undefined, mesh.xdsPort);
    await eventually('a and b reconnected to the restarted control plane', async () => {
      const { items } = await mesh.admin.proxies();
      expect(items.filter((p) => p.connectedAt >= restartedAt && p.types.listener?.ackedVersion).map((p) => p.service).sort()).toEqual(['a', 'b']);
    }, 20_000);
    const c = await mesh.app('c');
    const sc = await mesh.sidecar('c', 'v1', c); // reads root-cert.pem now: the new root only
    await mesh.waitConnected(3);
    expect(bundleFingerprints(readFileSync(join(mesh.stateDir, 'root-cert.pem'), 'utf8'))).toEqual([newRoot]);
    await eventually('c → b', async () => expect((await get(sc.outbound, 'b:8080')).status).toBe(200));
    expect((await get(a.outbound, 'b:8080')).status).toBe(200);
  }, 90_000);
});

describe('meshctl certs rotate-root without a CA', () => {
  const mesh = new Mesh();
  beforeAll(() => mesh.startControlPlane(['--insecure']), 20_000);
  afterAll(() => mesh.close());

  it('is refused with the reason (exit 2); a bad --step-timeout is a usage error', async () => {
    const r = await meshctl(mesh.stateDir, ['certs', 'rotate-root']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('meshctl: this control plane has no root rotation: it runs without its CA (--insecure, a static snapshot) or in Kubernetes mode (the CA comes from the tsmesh-ca Secret)\n');
    const bad = await meshctl(mesh.stateDir, ['certs', 'rotate-root', '--step-timeout', 'later']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('meshctl: --step-timeout "later" is not a duration from 100ms to 24h (e.g. 2m)\n');
  });
});

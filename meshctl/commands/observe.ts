// meshctl tap | certs | check: what the sidecars and the CA show right now.

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { inspectCertificate, parseCertificate } from '../../certs/svid.js';
import { adminClient, CliError, EXIT, type GlobalOptions } from '../context.js';
import { inboundTlsAddress, presentedChainPem } from './presented-svid.js';
import { sidecarAdmins } from './sidecars.js';
import { bundleFingerprints } from '../../proxy/identity/trust-bundle.js';

export function sidecarTargets(admin?: string): string[] {
  const t = (admin ?? process.env.TSMESH_SIDECAR_ADMINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!t.length) throw new CliError('no sidecars given: pass --admin <host:port,...> (their admin listeners) or set TSMESH_SIDECAR_ADMINS', EXIT.USAGE);
  return t.map((s) => (/^https?:/.test(s) ? s : `http://${s}`));
}

interface TapRecord {
  time: string;
  direction: string;
  method: string;
  authority: string;
  path: string;
  status: number;
  latency_ms: number;
  response_flags: string;
  mtls: boolean;
  source: { principal: string | null; workload: string | null };
  destination: { principal?: string | null; workload?: string | null };
}

/** Streams requests passing the sidecars (linkerd viz tap style) until --limit records or Ctrl-C; without --admin, every sidecar the control plane knows. */
export async function tap(g: GlobalOptions, service: string, o: { admin?: string; limit?: string; direction?: string; output: string }): Promise<string> {
  const targets = await sidecarAdmins(g, o.admin);
  if (!targets.length) throw new CliError('no sidecars given: pass --admin <host:port,...> (their admin listeners) or set TSMESH_SIDECAR_ADMINS', EXIT.USAGE);
  const limit = o.limit ? Number(o.limit) : undefined;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0 && limit <= 1_000_000)) throw new CliError(`--limit must be a positive integer, got ${o.limit}`, EXIT.USAGE);
  if (o.direction && o.direction !== 'inbound' && o.direction !== 'outbound') throw new CliError('--direction must be inbound or outbound', EXIT.USAGE);
  const q = new URLSearchParams({ service, ...(o.direction ? { direction: o.direction } : {}) });
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  let seen = 0;
  await Promise.all(
    targets.map(async (t) => {
      let res: Response;
      try {
        res = await fetch(new URL(`/tap?${q}`, t), { signal: ctl.signal });
      } catch (e) {
        if (ctl.signal.aborted) return;
        throw new CliError(`cannot tap ${t}: ${((e as Error).cause as Error)?.message ?? (e as Error).message}`, EXIT.UNREACHABLE);
      }
      if (!res.ok || !res.body) throw new CliError(`${t}/tap answered ${res.status}`, EXIT.FAILURE);
      // Ctrl-C or --limit reached on another sidecar's stream aborts this body: its error ends the lines, not the process.
      const input = Readable.fromWeb(res.body as never);
      const lines = createInterface({ input });
      let failed: Error | undefined;
      input.on('error', (e) => {
        failed ??= e;
        lines.close();
      });
      lines.on('error', () => {}); // readline re-emits the input's error (kept in `failed`)
      try {
        for await (const line of lines) {
          if (!line.trim()) continue;
          const r = JSON.parse(line) as TapRecord & { dropped?: number };
          if (r.dropped !== undefined) {
            process.stdout.write(`(${t}: ${r.dropped} records dropped while the terminal was slow)\n`);
            continue;
          }
          if (limit !== undefined && seen >= limit) break;
          process.stdout.write(o.output === 'json' ? `${line}\n` : format(r));
          if (limit !== undefined && ++seen >= limit) ctl.abort();
        }
        if (failed) throw failed;
      } catch (e) {
        if (!ctl.signal.aborted) throw e;
      }
    }),
  );
  return '';
}

function format(r: TapRecord): string {
  const who = (p: { principal?: string | null; workload?: string | null }) => p.workload ?? p.principal ?? 'unknown';
  return `${r.time.slice(11, 23)} ${r.direction === 'inbound' ? 'in ' : 'out'} ${r.method} ${r.authority}${r.path} ${r.status} ${r.latency_ms.toFixed(1)}ms ${who(r.source)} → ${who(r.destination)}${r.mtls ? ' mTLS' : ''}${r.response_flags !== '-' ? ` flags=${r.response_flags}` : ''}\n`;
}

function describeCert(label: string, pem: string): string {
  const c = inspectCertificate(parseCertificate(pem));
  const left = c.notAfter - Date.now();
  const days = (left / 86_400_000).toFixed(left < 86_400_000 ? 2 : 0);
  const name = c.uriSans.join(', ') || new X509Certificate(pem).subject.replace(/\n/g, ', ') || '(no SPIFFE ID)';
  const sha = bundleFingerprints(pem)[0]!.slice(0, 16);
  return `${label}: ${name}${c.isCa ? ' [CA]' : ''}\n  serial ${c.serialNumber}, sha256 ${sha}…\n  valid ${new Date(c.notBefore).toISOString()} → ${new Date(c.notAfter).toISOString()} (${left > 0 ? `expires in ${days} days` : 'EXPIRED'})\n`;
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The SVID a sidecar serves with (what its inbound mTLS listener presents) and the trust bundle it
 * verifies peers with (its ROOTCA secret); the private key is never shown.
 */
export async function certs(g: GlobalOptions, o: { admin?: string }): Promise<string> {
  let out = '';
  const indent = (s: string) => s.replace(/\n  /g, '\n    ');
  if (o.admin) {
    for (const t of sidecarTargets(o.admin)) {
      const res = await fetch(new URL('/config_dump?resource=secret', t), { signal: AbortSignal.timeout(5000) }).catch((e: Error) => {
        throw new CliError(`cannot reach ${t}: ${(e.cause as Error)?.message ?? e.message}`, EXIT.UNREACHABLE);
      });
      const dump = (await res.json()) as { configs?: { resources?: { name: string; resource: { tlsCertificate?: { certificateChain: string }; validationContext?: { trustedCa: string } } }[] }[] };
      const secrets = dump.configs?.flatMap((c) => c.resources ?? []) ?? [];
      const inbound = await inboundTlsAddress(t).catch(() => undefined);
      const chain = inbound ? await presentedChainPem(inbound.host, inbound.port).catch(() => []) : [];
      const bundles = secrets.flatMap((r) => (r.resource.validationContext?.trustedCa.match(PEM) ?? []).map((p) => [r.name, p] as const));
      const staticChains = secrets.flatMap((r) => (r.resource.tlsCertificate?.certificateChain.match(PEM) ?? []).map((p, i) => [r.name, i, p] as const));
      if (!chain.length && !bundles.length && !staticChains.length) {
        out += `${t}: no certificates (the sidecar has no workload identity yet)\n`;
        continue;
      }
      out += `${t}\n`;
      chain.forEach((p, i) => (out += indent(describeCert(i === 0 ? `  SVID (presented on ${inbound!.host}:${inbound!.port})` : `  chain[${i}]`, p))));
      for (const [name, i, p] of staticChains) out += indent(describeCert(i === 0 ? `  certificate (${name})` : `  chain[${i}]`, p));
      for (const [name, p] of bundles) out += indent(describeCert(`  trust bundle (${name})`, p));
    }
    return out;
  }
  const stateDir = g.stateDir ?? process.env.TSMESH_STATE_DIR;
  if (!stateDir) throw new CliError('pass --admin <sidecar admin> for a workload\'s SVID, or --state-dir for the mesh\'s trust bundle', EXIT.USAGE);
  const root = await readFile(join(stateDir, 'root-cert.pem'), 'utf8').catch(() => {
    throw new CliError(`no root-cert.pem in ${stateDir} (is the control plane running with its CA?)`, EXIT.FAILURE);
  });
  for (const p of root.match(PEM) ?? []) out += describeCert('trust bundle', p);
  return out;
}

/** Preflight: pass/fail lines with what to do; exit 1 when any check fails. */
export async function check(g: GlobalOptions): Promise<string> {
  const lines: string[] = [];
  let failed = false;
  const mark = (ok: boolean, what: string, fix?: string) => {
    if (!ok) failed = true;
    lines.push(`${ok ? '✔' : '✘'} ${what}${!ok && fix ? `\n    → ${fix}` : ''}`);
  };
  let admin;
  try {
    admin = await adminClient(g);
    const v = await admin.version();
    mark(true, `control plane reachable (store version ${v})`);
  } catch (e) {
    mark(false, `control plane reachable: ${(e as Error).message}`, 'start mesh-control-plane, or pass --control-plane/--token (or --state-dir)');
  }
  const stateDir = g.stateDir ?? process.env.TSMESH_STATE_DIR;
  if (stateDir) {
    const root = await readFile(join(stateDir, 'root-cert.pem'), 'utf8').catch(() => undefined);
    if (!root) mark(false, 'CA root certificate present', `the control plane runs without its CA (--insecure?); without it there is no mTLS`);
    else {
      const c = inspectCertificate(parseCertificate(root));
      const days = (c.notAfter - Date.now()) / 86_400_000;
      mark(days > 30, `CA root valid until ${new Date(c.notAfter).toISOString().slice(0, 10)} (${Math.floor(days)} days)`, 'rotate the root: meshctl certs rotate-root');
    }
  }
  if (admin) {
    const { items } = await admin.proxies().catch(() => ({ items: [] }));
    const bad = items.filter((p) => Object.values(p.types).some((t) => t?.nack || (t?.sentVersion && t.sentVersion !== t.ackedVersion)));
    mark(bad.length === 0, `proxies in sync: ${items.length - bad.length}/${items.length}`, `see meshctl status for ${bad.map((p) => p.nodeId).join(', ')}`);
    const analysis = await admin.analysis().catch(() => undefined);
    if (analysis) {
      const errors = analysis.findings.filter((f) => f.level === 'Error').length;
      mark(errors === 0, `policies take effect: ${errors} error(s), ${analysis.findings.length - errors} warning(s) in ${analysis.policies}`, 'see meshctl analyze');
    }
    const rotation = await admin.rootRotation().catch(() => undefined); // 404 without a CA
    if (rotation?.state === 'failed') mark(false, `root rotation stopped: ${rotation.error}`, 'fix the cause (see meshctl status), then meshctl certs rotate-root resumes it; both roots stay trusted meanwhile');
  }
  const out = lines.join('\n') + '\n';
  if (failed) throw new CliError(`${out}check failed`, EXIT.FAILURE);
  return out;
}

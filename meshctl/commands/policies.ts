// meshctl apply | get | describe | delete: policies through the admin API.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { POLICY_KINDS, type PolicyKind, type PolicyRef } from '../../control-plane/policy/types.js';
import { POLICY_LOCATIONS } from '../../k8s/store/kinds.js';
import type { ApplyOutcome } from '../../control-plane/policy/apply.js';
import type { StoredPolicy } from '../../control-plane/store/types.js';
import { adminClient, CliError, EXIT, table, type GlobalOptions } from '../context.js';

const MAX_INPUT_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 1000;

/** Files named by -f: a file, a folder (its *.yaml / *.yml / *.json, sorted), or - for stdin. */
export async function readInputs(paths: string[]): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  let total = 0;
  const add = (name: string, text: string) => {
    total += text.length;
    if (total > MAX_INPUT_BYTES) throw new CliError(`input is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB`, EXIT.USAGE);
    if (out.length >= MAX_FILES) throw new CliError(`more than ${MAX_FILES} files`, EXIT.USAGE);
    out.push({ name, text });
  };
  for (const p of paths) {
    if (p === '-') {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      add('<stdin>', Buffer.concat(chunks).toString('utf8'));
      continue;
    }
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new CliError(`${p}: no such file or directory`, EXIT.USAGE);
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
      for (const n of names) add(join(p, n), await readFile(join(p, n), 'utf8'));
    } else add(p, await readFile(p, 'utf8'));
  }
  if (!out.length) throw new CliError(`no YAML files in ${paths.join(', ')}`, EXIT.USAGE);
  return out;
}

export function printOutcome(o: ApplyOutcome, showDiff: boolean): string {
  let s = '';
  for (const c of o.changes) {
    s += `${c.ref.kind}/${c.ref.name}${c.ref.namespace === 'default' ? '' : ` -n ${c.ref.namespace}`} ${c.action}${o.dryRun ? ' (dry run)' : ''}\n`;
    if (showDiff && c.diff) s += c.diff.replace(/^/gm, '    ') + (c.diff.endsWith('\n') ? '' : '\n');
  }
  if (!o.dryRun) s += `store version ${o.version}\n`;
  return s;
}

export async function apply(g: GlobalOptions, files: string[], opts: { dryRun?: boolean }): Promise<string> {
  const inputs = await readInputs(files);
  const admin = await adminClient(g);
  const outcome = await admin.applyFiles(inputs, { dryRun: !!opts.dryRun });
  let out = printOutcome(outcome, !!opts.dryRun);
  if (!outcome.dryRun && outcome.changes.some((c) => c.action !== 'unchanged')) {
    const r = await waitReceipt(admin, outcome.version);
    if (r) out += r;
  }
  return out;
}

/** "reached N/N proxies in X ms" for a version, waiting briefly for ACKs. */
async function waitReceipt(admin: Awaited<ReturnType<typeof adminClient>>, version: number): Promise<string | undefined> {
  const until = Date.now() + 3000;
  for (;;) {
    const r = await admin.receipt(version).catch(() => undefined);
    if (!r) return undefined;
    if ((r.pending.length === 0 || Date.now() > until) && r.total >= 0) {
      const last = Math.max(r.appliedAt, ...r.acked.map((a) => a.at));
      const nack = r.nacked.map((n) => `\n  NACK ${n.nodeId}: ${n.error}`).join('');
      return `reached ${r.acked.length}/${r.total} proxies${r.pending.length ? '' : ` in ${last - r.appliedAt} ms`}${r.pending.length ? ` (${r.pending.length} pending)` : ''}${nack}\n`;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Short names kubectl users already type (Istio's `se`, Gateway API's none). */
const SHORT_NAMES: Partial<Record<PolicyKind, string>> = { ServiceEntry: 'se' };

export function parseKind(k: string): PolicyKind {
  const want = k.toLowerCase();
  // The kind, or its plural as kubectl spells it (httproutes, faultpolicies).
  const found = POLICY_KINDS.find((x) => x.toLowerCase() === want || POLICY_LOCATIONS[x].plural === want || SHORT_NAMES[x] === want);
  if (!found) throw new CliError(`unknown kind "${k}"; kinds: ${POLICY_KINDS.join(', ')}`, EXIT.USAGE);
  return found;
}

function render(items: StoredPolicy[], output: string): string {
  if (output === 'json') return JSON.stringify(items.length === 1 ? items[0] : { items }, null, 2) + '\n';
  if (output === 'yaml') return items.map((p) => stringify(p)).join('---\n');
  if (output !== 'table') throw new CliError(`unknown output format "${output}"; use table, json or yaml`, EXIT.USAGE);
  if (!items.length) return 'No resources found.\n';
  return table(
    ['KIND', 'NAMESPACE', 'NAME', 'VERSION'],
    items.map((p) => [p.kind, p.metadata.namespace, p.metadata.name, String(p.resourceVersion)]),
  );
}

export async function get(g: GlobalOptions, kind: string | undefined, name: string | undefined, o: { namespace?: string; output: string }): Promise<string> {
  const admin = await adminClient(g);
  const k = kind && kind !== 'all' ? parseKind(kind) : undefined;
  if (name) {
    if (!k) throw new CliError('a name needs a kind: meshctl get <kind> <name>', EXIT.USAGE);
    const ref: PolicyRef = { kind: k, namespace: o.namespace ?? 'default', name };
    if (o.output === 'yaml') return admin.getYaml(ref);
    return render([await admin.get(ref)], o.output);
  }
  const { items } = await admin.list({ ...(k ? { kind: k } : {}), ...(o.namespace ? { namespace: o.namespace } : {}) });
  return render(items, o.output);
}

export async function describe(g: GlobalOptions, kind: string, name: string, o: { namespace?: string }): Promise<string> {
  const admin = await adminClient(g);
  const ref: PolicyRef = { kind: parseKind(kind), namespace: o.namespace ?? 'default', name };
  const p = await admin.get(ref);
  const [yaml, analysis] = await Promise.all([admin.getYaml(ref), admin.analysis().catch(() => undefined)]);
  // What `meshctl analyze` says of this policy, as kubectl describe ends with its events.
  const mine = analysis?.findings.filter((f) => f.policy.kind === ref.kind && f.policy.namespace === ref.namespace && f.policy.name === ref.name);
  const findings = mine === undefined ? '' : `\nFindings:     ${mine.length ? mine.map((f) => `\n  ${f.level} ${f.code}: ${f.message}`).join('') : '<none>'}\n`;
  return `Name:         ${p.metadata.name}\nNamespace:    ${p.metadata.namespace}\nKind:         ${p.kind}\nVersion:      ${p.resourceVersion}\n\n${yaml}${findings}`;
}

export async function del(g: GlobalOptions, kind: string, name: string, o: { namespace?: string; dryRun?: boolean }): Promise<string> {
  const admin = await adminClient(g);
  const outcome = await admin.delete({ kind: parseKind(kind), namespace: o.namespace ?? 'default', name }, { dryRun: !!o.dryRun });
  return printOutcome(outcome, !!o.dryRun);
}

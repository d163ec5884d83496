// One apply, end to end: parse and validate every document, check references
// across resources against the registry and what the store holds, then write
// all of it to the store at once (or, on dry-run, only report). Any problem
// refuses the whole apply and leaves the running config untouched.

import { stringify } from 'yaml';
import { formatDuration } from '../../common/duration.js';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import type { RegistryView } from '../registry/types.js';
import type { ApplyChange, PolicyStore } from '../store/types.js';
import { crossCheck } from './cross-check.js';
import { formatDiff, lineDiff } from './diff.js';
import { parsePolicies, type SourcedPolicy } from './parse.js';
import { policyKey, refOf, type Policy, type PolicyRef } from './types.js';

export interface ApplyOutcome {
  version: number;
  dryRun: boolean;
  changes: (ApplyChange & { diff: string })[];
}

/** Fields that hold durations (milliseconds inside, "1.5s" for users). */
const DURATION_KEYS = new Set(['request', 'backendRequest', 'backoff', 'connectTimeout', 'idleTimeout', 'interval', 'baseEjectionTime', 'maxEjectionTime', 'certificateTtl', 'p99', 'duration', 'fixedDelay']);

function withDurationStrings(v: unknown, key?: string): unknown {
  if (typeof v === 'number' && key !== undefined && DURATION_KEYS.has(key)) return formatDuration(v);
  if (Array.isArray(v)) return v.map((x) => withDurationStrings(x));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = withDurationStrings(x, k);
    return out;
  }
  return v;
}

/** The policy as a manifest users can read and re-apply (durations as "3s"), without store bookkeeping. */
export function policyToManifest(p: Policy): Record<string, unknown> {
  const { resourceVersion: _rv, ...rest } = p as Policy & { resourceVersion?: number };
  return withDurationStrings(rest) as Record<string, unknown>;
}

/** The policy as users see it (what `get -o yaml` shows and diffs compare). */
export function policyToYaml(p: Policy | undefined): string {
  return p ? stringify(policyToManifest(p), { lineWidth: 0 }) : '';
}

export async function applyPolicyText(
  text: string,
  deps: { store: PolicyStore; registry: RegistryView },
  opts: { file?: string; dryRun?: boolean } = {},
): Promise<ApplyOutcome> {
  return applyPolicyFiles([{ name: opts.file, text }], deps, opts);
}

/**
 * Apply several files as one atomic change (`meshctl apply -f dir/`): every
 * problem in every file is reported with its own file:line, and nothing is
 * written unless all of them are valid.
 */
export async function applyPolicyFiles(
  files: readonly { name?: string; text: string }[],
  deps: { store: PolicyStore; registry: RegistryView },
  opts: { dryRun?: boolean } = {},
): Promise<ApplyOutcome> {
  const batch: SourcedPolicy[] = [];
  const issues: ValidationIssue[] = [];
  for (const f of files) {
    try {
      batch.push(...parsePolicies(f.text, f.name));
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      issues.push(...e.issues);
    }
  }
  if (issues.length) throw new ValidationError(issues, 'policy');
  if (!batch.length) throw new ValidationError([{ file: files.length === 1 ? files[0]!.name : undefined, path: '', message: 'no documents to apply' }], 'policy');
  issues.push(...crossCheck(batch, deps.store.list(), deps.registry));
  if (issues.length) throw new ValidationError(issues, 'policy');
  const before = new Map(batch.map((b) => [policyKey(refOf(b.policy)), deps.store.get(refOf(b.policy))]));
  const res = await deps.store.apply(batch.map((b) => b.policy), { dryRun: opts.dryRun });
  return {
    version: res.version,
    dryRun: res.dryRun,
    changes: res.changes.map((c) => {
      const next = batch.find((b) => policyKey(refOf(b.policy)) === policyKey(c.ref))?.policy;
      const diff = c.action === 'unchanged' ? '' : formatDiff(lineDiff(policyToYaml(before.get(policyKey(c.ref))), policyToYaml(next)));
      return { ...c, diff };
    }),
  };
}

export async function deletePolicies(refs: PolicyRef[], deps: { store: PolicyStore }, opts: { dryRun?: boolean } = {}): Promise<ApplyOutcome> {
  const before = refs.map((r) => deps.store.get(r));
  const res = await deps.store.delete(refs, { dryRun: opts.dryRun });
  return {
    version: res.version,
    dryRun: res.dryRun,
    changes: res.changes.map((c, i) => ({ ...c, diff: formatDiff(lineDiff(policyToYaml(before[i]), '')) })),
  };
}

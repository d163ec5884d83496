// One apply, end to end: parse and validate every document, check references
// across resources against the registry and what the store holds, then write
// all of it to the store at once (or, on dry-run, only report). Any problem
// refuses the whole apply and leaves the running config untouched.

import { stringify } from 'yaml';
import { ValidationError } from '../../common/errors.js';
import type { RegistryView } from '../registry/types.js';
import type { ApplyChange, PolicyStore } from '../store/types.js';
import { crossCheck } from './cross-check.js';
import { formatDiff, lineDiff } from './diff.js';
import { parsePolicies } from './parse.js';
import { policyKey, refOf, type Policy, type PolicyRef } from './types.js';

export interface ApplyOutcome {
  version: number;
  dryRun: boolean;
  changes: (ApplyChange & { diff: string })[];
}

/** The policy as users see it (what `get -o yaml` shows and diffs compare). */
export function policyToYaml(p: Policy | undefined): string {
  if (!p) return '';
  const { resourceVersion: _rv, ...rest } = p as Policy & { resourceVersion?: number };
  return stringify(rest, { lineWidth: 0 });
}

export async function applyPolicyText(
  text: string,
  deps: { store: PolicyStore; registry: RegistryView },
  opts: { file?: string; dryRun?: boolean } = {},
): Promise<ApplyOutcome> {
  const batch = parsePolicies(text, opts.file);
  if (!batch.length) throw new ValidationError([{ file: opts.file, path: '', message: 'no documents to apply' }], 'policy');
  const issues = crossCheck(batch, deps.store.list(), deps.registry);
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

// meshctl analyze: policies that are valid but do not take effect against the
// mesh as it is now (a Service, route or rule gone since the apply, a selector
// matching nothing, a second policy for one target), as istioctl analyze
// reports them. Exit 1 when any finding is an error; warnings alone exit 0.

import type { Finding } from '../../control-plane/policy/analyze.js';
import { adminClient, EXIT, table, type GlobalOptions } from '../context.js';

export async function analyze(g: GlobalOptions, o: { output: string }): Promise<string> {
  const admin = await adminClient(g);
  const { version, policies, findings } = await admin.analysis();
  const errors = findings.filter((f) => f.level === 'Error').length;
  const out =
    o.output === 'json'
      ? JSON.stringify({ version, policies, findings }, null, 2) + '\n'
      : findings.length === 0
        ? `✔ no problems found in ${policies} ${policies === 1 ? 'policy' : 'policies'} (store version ${version})\n`
        : table(['LEVEL', 'CODE', 'POLICY', 'MESSAGE'], findings.map(row)) + `${errors} error(s), ${findings.length - errors} warning(s) in ${policies} policies (store version ${version})\n`;
  // The report is the output (stdout, so `-o json | jq` works); errors only set the exit status.
  if (errors) process.exitCode = EXIT.FAILURE;
  return out;
}

const row = (f: Finding): string[] => [f.level, f.code, `${f.policy.kind}/${f.policy.namespace}/${f.policy.name}`, f.message];

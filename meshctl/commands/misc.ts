// meshctl proxy-config, token create, canary status, completion.

import { join } from 'node:path';
import { loadOrCreateTokenKey, mintBootstrapToken } from '../../control-plane/ca/bootstrap-token.js';
import { parseDuration } from '../../common/duration.js';
import type { CanarySpec } from '../../control-plane/policy/types.js';
import { currentCanaryWeight } from '../../control-plane/canary/route-weights.js';
import { adminClient, CliError, EXIT, table, type GlobalOptions } from '../context.js';

const SECTIONS: Record<string, string> = { listeners: 'listener', routes: 'routeConfiguration', clusters: 'cluster', endpoints: 'clusterLoadAssignment', secrets: 'secret' };

export async function proxyConfig(g: GlobalOptions, proxy: string, section: string, o: { output: string }): Promise<string> {
  const kind = SECTIONS[section];
  if (!kind) throw new CliError(`unknown section "${section}"; use ${Object.keys(SECTIONS).join(', ')}`, EXIT.USAGE);
  const admin = await adminClient(g);
  const { items } = await admin.proxies();
  const match = items.filter((p) => p.nodeId === proxy || p.nodeId.includes(proxy));
  if (!match.length) throw new CliError(`no connected proxy matches "${proxy}"; see meshctl status`, EXIT.USAGE);
  if (match.length > 1) throw new CliError(`"${proxy}" matches ${match.length} proxies: ${match.map((p) => p.nodeId).join(', ')}`, EXIT.USAGE);
  const cfg = await admin.proxyConfig(match[0]!.nodeId);
  const res = cfg[kind] ?? {};
  if (o.output === 'json') return JSON.stringify(res, null, 2) + '\n';
  const names = Object.keys(res).sort();
  return table(['NAME'], names.map((n) => [n]));
}

export async function tokenCreate(g: GlobalOptions, o: { namespace: string; serviceAccount: string; ttl: string; trustDomain: string }): Promise<string> {
  const stateDir = g.stateDir ?? process.env.TSMESH_STATE_DIR;
  if (!stateDir) throw new CliError('token create signs with the control plane\'s key: pass --state-dir (or TSMESH_STATE_DIR)', EXIT.USAGE);
  const ttlMs = parseDuration(o.ttl);
  if (ttlMs === undefined || ttlMs < 1000) throw new CliError(`--ttl "${o.ttl}" is not a duration of at least 1s`, EXIT.USAGE);
  const key = await loadOrCreateTokenKey(join(stateDir, 'ca'));
  return mintBootstrapToken({ key, trustDomain: o.trustDomain, namespace: o.namespace, serviceAccount: o.serviceAccount, ttlMs }) + '\n';
}

export async function canaryStatus(g: GlobalOptions, name: string | undefined, o: { namespace: string }): Promise<string> {
  const admin = await adminClient(g);
  const { items } = await admin.list({ kind: 'Canary', namespace: o.namespace });
  const canaries = items.filter((c) => !name || c.metadata.name === name);
  if (name && !canaries.length) throw new CliError(`Canary ${o.namespace}/${name} not found`, EXIT.USAGE);
  const rows: string[][] = [];
  for (const c of canaries) {
    const spec = c.spec as CanarySpec;
    const route = await admin.getYaml({ kind: spec.targetRef.kind as 'HTTPRoute', namespace: c.metadata.namespace, name: spec.targetRef.name }).catch(() => undefined);
    const w = route ? currentCanaryWeight(route, spec.stableBackend.name, spec.canaryBackend.name) : undefined;
    rows.push([c.metadata.name, `${spec.targetRef.kind}/${spec.targetRef.name}`, spec.stableBackend.name, spec.canaryBackend.name, w === undefined ? '-' : `${w}%`]);
  }
  return rows.length ? table(['NAME', 'ROUTE', 'STABLE', 'CANARY', 'CANARY WEIGHT'], rows) : 'No canaries.\n';
}

export function completionBash(commands: string[]): string {
  return `# meshctl bash completion: source <(meshctl completion bash)
_meshctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.join(' ')}" -- "$cur") )
  elif [ "\${COMP_WORDS[1]}" = get ] || [ "\${COMP_WORDS[1]}" = describe ] || [ "\${COMP_WORDS[1]}" = delete ]; then
    COMPREPLY=( $(compgen -W "httproute grpcroute destinationpolicy authorizationpolicy meshconfig canary" -- "$cur") )
  elif [ "\${COMP_WORDS[1]}" = certs ] && [ "$COMP_CWORD" -eq 2 ]; then
    COMPREPLY=( $(compgen -W "rotate-root" -- "$cur") )
  elif [ "\${COMP_WORDS[1]}" = proxy-config ] && [ "$COMP_CWORD" -eq 3 ]; then
    COMPREPLY=( $(compgen -W "listeners routes clusters endpoints secrets" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -F _meshctl meshctl
`;
}

// What every meshctl command shares: how to reach the control plane (flag,
// env, or the state dir the control plane writes), output helpers, and the
// documented exit codes.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdminApiError, AdminClient, ADMIN_ADDRESS_FILE } from '../control-plane/admin/client.js';
import { MeshError, formatIssue } from '../common/errors.js';

/** Exit codes (README "meshctl"). */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, UNREACHABLE: 3 } as const;

export interface GlobalOptions {
  controlPlane?: string;
  token?: string;
  stateDir?: string;
}

/** A failure with its exit code; main() prints the message and exits. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export async function adminClient(g: GlobalOptions): Promise<AdminClient> {
  const stateDir = g.stateDir ?? process.env.TSMESH_STATE_DIR;
  let baseUrl = g.controlPlane ?? process.env.TSMESH_CONTROL_PLANE;
  let token = g.token ?? process.env.TSMESH_TOKEN;
  if (stateDir) {
    baseUrl ??= await readFile(join(stateDir, ADMIN_ADDRESS_FILE), 'utf8').then((s) => s.trim(), () => undefined);
    token ??= await readFile(join(stateDir, 'admin-token'), 'utf8').then((s) => s.trim(), () => undefined);
  }
  if (!baseUrl) throw new CliError('no control plane given: pass --control-plane <url> (or set TSMESH_CONTROL_PLANE, or --state-dir/TSMESH_STATE_DIR of a local control plane)', EXIT.USAGE);
  if (!/^https?:\/\//.test(baseUrl)) baseUrl = `http://${baseUrl}`;
  if (!token) throw new CliError('no admin token: pass --token (or set TSMESH_TOKEN, or --state-dir holding admin-token)', EXIT.USAGE);
  return new AdminClient({ baseUrl, token, timeoutMs: 10_000 });
}

/** Maps any error to the message and exit code the user sees. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof AdminApiError) {
    const lines = err.issues?.length ? err.issues.map((i) => `  ${formatIssue(i)}`).join('\n') : '';
    const code = err.status === 400 || err.status === 404 ? EXIT.USAGE : EXIT.FAILURE;
    return new CliError(`${err.message}${lines && !err.message.includes(lines.trim()) ? `\n${lines}` : ''}`, code);
  }
  if (err instanceof MeshError && err.code === 'MESH_UNREACHABLE') return new CliError(err.message, EXIT.UNREACHABLE);
  if (err instanceof MeshError) return new CliError(err.message, EXIT.FAILURE);
  return new CliError((err as Error)?.message ?? String(err), EXIT.FAILURE);
}

/** A plain text table with aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

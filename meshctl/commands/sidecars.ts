// Which sidecars top and tap read: the --admin list (or TSMESH_SIDECAR_ADMINS),
// else every connected sidecar whose admin listener the control plane knows
// (TSMESH_ADMIN in its node metadata, shown as `admin` in /v1/proxies).

import { adminClient, type GlobalOptions } from '../context.js';

/** Bounds the fan-out of one command against a large mesh. */
export const MAX_DISCOVERED_SIDECARS = 200;

const asUrl = (s: string) => (/^https?:/.test(s) ? s : `http://${s}`);

/** The given admin listeners, else the control plane's; [] when neither names any. */
export async function sidecarAdmins(g: GlobalOptions, admin?: string): Promise<string[]> {
  const given = (admin ?? process.env.TSMESH_SIDECAR_ADMINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (given.length) return given.map(asUrl);
  const configured = g.controlPlane ?? process.env.TSMESH_CONTROL_PLANE ?? g.stateDir ?? process.env.TSMESH_STATE_DIR;
  if (!configured) return [];
  const { items } = await (await adminClient(g)).proxies();
  const urls = [...new Set(items.flatMap((p) => (p.admin ? [p.admin] : [])))].sort();
  return urls.slice(0, MAX_DISCOVERED_SIDECARS);
}

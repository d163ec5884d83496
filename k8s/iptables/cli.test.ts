// tsmesh-init as the init container runs it (the built JS), with a recording
// stand-in for iptables-restore (the other side) so it runs unprivileged.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { renderIptablesRestore } from './rules.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'k8s', 'iptables', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'tsmesh-init-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!existsSync(cli))('tsmesh-init CLI (built JS)', () => {
  it('pipes the rules to iptables-restore --noflush', () => {
    const fake = join(tmp, 'iptables-restore');
    writeFileSync(fake, `#!/bin/sh\necho "$@" > ${tmp}/args\ncat > ${tmp}/stdin\n`);
    chmodSync(fake, 0o755);
    const args = ['--outbound-port=15001', '--inbound-port=15006', '--exclude-outbound-ports=5432'];
    const r = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, TSMESH_IPTABLES_RESTORE: fake }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(readFileSync(join(tmp, 'args'), 'utf8').trim()).toBe('--noflush');
    expect(readFileSync(join(tmp, 'stdin'), 'utf8')).toBe(renderIptablesRestore({ excludeOutboundPorts: [5432] }));
  });

  it('fails the init container (exit 1, reason on stderr) on bad flags or a failing iptables-restore', () => {
    const bad = spawnSync(process.execPath, [cli, '--outbound-port=0'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/outboundPort: 0 is not a port/);
    const failing = join(tmp, 'failing');
    // Like the real tool, it reads its input before failing on a line of it
    // (exiting without reading would make the CLI see EPIPE instead).
    writeFileSync(failing, '#!/bin/sh\ncat >/dev/null\necho "iptables-restore: line 3 failed" >&2\nexit 2\n');
    chmodSync(failing, 0o755);
    const r = spawnSync(process.execPath, [cli], { env: { ...process.env, TSMESH_IPTABLES_RESTORE: failing }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/failed \(exit 2\): iptables-restore: line 3 failed/);
  });
});

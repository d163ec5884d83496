// meshctl certs rotate-root: starts the control plane's zero-downtime root
// rotation (control-plane/admin/root-rotation.ts) and shows each step as the
// mesh confirms it. Re-running after a failure resumes at the failed step.

import { parseDuration } from '../../common/duration.js';
import type { RotationStatus, RotationStep } from '../../control-plane/admin/root-rotation.js';
import { adminClient, CliError, EXIT, type GlobalOptions } from '../context.js';

const short = (fp: string) => `${fp.slice(0, 16)}…`;

function plan(s: RotationStatus): string {
  let out = 'root rotation plan (dry run: nothing was changed)\n';
  out += `  current root: ${s.oldRoot.subject}, sha256 ${short(s.oldRoot.fingerprint)}, valid until ${s.oldRoot.notAfter.slice(0, 10)}\n`;
  out += `  connected proxies: ${s.proxies}\n`;
  if (s.state === 'running') out += '  a rotation is already running: meshctl certs rotate-root follows it\n';
  if (s.state === 'failed') out += `  a previous rotation stopped (${s.error}); running again resumes it\n`;
  s.steps.forEach((st, i) => (out += `  ${i + 1}. ${st.title}${st.state === 'done' ? ' (done)' : ''}\n`));
  return out;
}

export async function rotateRoot(
  g: GlobalOptions,
  o: { dryRun?: boolean; timeout: string; stepTimeout?: string },
  write: (s: string) => void = (s) => process.stdout.write(s),
): Promise<string> {
  const timeoutMs = parseDuration(o.timeout);
  if (timeoutMs === undefined || timeoutMs < 1000) throw new CliError(`--timeout "${o.timeout}" is not a duration of at least 1s (e.g. 15m)`, EXIT.USAGE);
  const stepTimeoutMs = o.stepTimeout === undefined ? undefined : parseDuration(o.stepTimeout);
  if (o.stepTimeout !== undefined && !(stepTimeoutMs !== undefined && stepTimeoutMs >= 100 && stepTimeoutMs <= 86_400_000)) {
    throw new CliError(`--step-timeout "${o.stepTimeout}" is not a duration from 100ms to 24h (e.g. 2m)`, EXIT.USAGE);
  }
  const admin = await adminClient(g);
  if (o.dryRun) return plan(await admin.rotateRoot({ dryRun: true }));
  let s = await admin.rotateRoot(stepTimeoutMs !== undefined ? { stepTimeoutMs } : {});
  const resumed = s.steps.findIndex((st) => st.state !== 'done');
  write(
    resumed > 0
      ? `resuming the root rotation at step ${resumed + 1}/${s.steps.length} (new root sha256 ${short(s.newRoot!.fingerprint)})\n`
      : `rotating the mesh root CA (current root sha256 ${short(s.oldRoot.fingerprint)}, ${s.proxies} proxies connected)\n`,
  );
  // Steps a previous run completed are not shown again.
  const shown = new Map<string, RotationStep['state']>(s.steps.slice(0, Math.max(0, resumed)).map((st) => [st.name, st.state]));
  const n = s.steps.length;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    s.steps.forEach((st, i) => {
      if (shown.get(st.name) === st.state) return;
      if (st.state === 'running') write(`  [${i + 1}/${n}] ${st.title} …\n`);
      if (st.state === 'done') write(`  ✔ [${i + 1}/${n}] ${st.detail ?? st.title}\n`);
      if (st.state === 'failed') write(`  ✘ [${i + 1}/${n}] ${st.title}\n`);
      shown.set(st.name, st.state);
    });
    if (s.state === 'done') return `root rotation complete: workloads use root sha256 ${short(s.newRoot!.fingerprint)}; the old root ${short(s.oldRoot.fingerprint)} is no longer trusted\n`;
    if (s.state === 'failed') throw new CliError(`root rotation stopped: ${s.error}\n  the mesh stays in the last confirmed phase; fix the cause and run meshctl certs rotate-root again to resume`, EXIT.FAILURE);
    if (Date.now() > deadline) throw new CliError(`root rotation still running after ${o.timeout} (it goes on in the control plane); follow it with meshctl certs rotate-root again`, EXIT.FAILURE);
    await new Promise((r) => setTimeout(r, 250));
    s = await admin.rootRotation();
  }
}

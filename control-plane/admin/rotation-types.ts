// The root rotation as the admin API shows it (GET /v1/ca/rotation) and
// meshctl reads it: its steps, the roots, and what the mesh confirmed.

export type RotationStepName = 'generate' | 'overlap' | 'switch' | 'reissue' | 'drop-old' | 'persist';

export interface RotationStep {
  name: RotationStepName;
  title: string;
  state: 'pending' | 'running' | 'done' | 'failed';
  /** What the mesh confirmed, e.g. "trust bundle old+new reached 2/2 proxies in 84 ms". */
  detail?: string;
}

export interface RootInfo {
  subject: string;
  /** SHA-256 of the DER, hex. */
  fingerprint: string;
  notAfter: string;
}

export interface RotationStatus {
  state: 'idle' | 'running' | 'failed' | 'done';
  dryRun?: boolean;
  proxies: number;
  oldRoot: RootInfo;
  newRoot?: RootInfo;
  steps: RotationStep[];
  error?: string;
}

export interface RootRotationApi {
  status(): RotationStatus;
  /** Starts (or resumes after a failure) a rotation; a dry run only describes it. `stepTimeoutMs`: how long
   *  each waiting step (propagation, re-issue) waits for the mesh before the rotation stops, resumable. */
  start(opts: { dryRun?: boolean; stepTimeoutMs?: number }): RotationStatus;
}

export const STEP_TITLES: Record<RotationStepName, string> = {
  generate: 'create the new root CA',
  overlap: 'publish trust bundle old+new to every proxy',
  switch: 'sign workload certificates with the new root',
  reissue: 'wait for every workload to present a certificate from the new root',
  'drop-old': 'drop the old root from the trust bundle',
  persist: 'make the new root the one the control plane loads',
};

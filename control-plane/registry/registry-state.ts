// The embedded registry's self-registrations and each proxy's on-demand
// dependencies, persisted in the state dir so that a restarted control plane
// serves the same endpoints and the same scoped config while sidecars
// reconnect — instead of pushing empty endpoint sets ("delete everything").
// Restored entries that do not reconnect within a grace period are dropped.

import { readFile } from 'node:fs/promises';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { writeFileAtomic } from '../store/atomic-file.js';
import type { NodeRegistration } from './node-registration.js';

export interface RegistryState {
  format: 1;
  nodes: NodeRegistration[];
  /** nodeId → service keys (`ns/name`) it asked for. */
  dependencies: Record<string, string[]>;
}

/** Read the saved state; a missing or unreadable file means "start empty" (logged), never a failed start. */
export async function loadRegistryState(file: string, log: Logger = silentLogger): Promise<RegistryState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('registry state unreadable; starting empty', { file, error: e as Error });
    return undefined;
  }
  try {
    const s = JSON.parse(text) as RegistryState;
    if (s.format !== 1 || !Array.isArray(s.nodes) || typeof s.dependencies !== 'object' || s.dependencies === null) throw new Error('unknown format');
    return s;
  } catch (e) {
    log.warn('registry state corrupt; starting empty', { file, error: e as Error });
    return undefined;
  }
}

/** Writes the state (debounced) whenever told it changed. */
export class RegistryStatePersister {
  private timer?: Timer;
  private writing = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly snapshot: () => RegistryState,
    private readonly opts: { clock?: Clock; debounceMs?: number; log?: Logger } = {},
  ) {}

  changed(): void {
    if (this.timer) return;
    this.timer = (this.opts.clock ?? systemClock).setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.opts.debounceMs ?? 1000);
  }

  /** Write now (also used at shutdown). */
  flush(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    const data = JSON.stringify(this.snapshot());
    this.writing = this.writing.then(() =>
      writeFileAtomic(this.file, data).catch((e) => (this.opts.log ?? silentLogger).error('could not save registry state', { error: e as Error })),
    );
    return this.writing;
  }

  close(): void {
    this.timer?.cancel();
  }
}

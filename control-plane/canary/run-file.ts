// Canary runs saved in the state dir (canaries.json), so a restarted control
// plane resumes a progressing canary where it stood instead of starting over
// or forgetting it. Written after every step, atomically; a damaged file is
// reported and ignored (the canaries then start from their resources).

import { readFile } from 'node:fs/promises';
import type { Logger } from '../../common/log.js';
import { writeFileAtomic } from '../store/atomic-file.js';
import type { CanaryRun } from './controller.js';

export const CANARY_RUNS_FILE = 'canaries.json';
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export async function loadRuns(file: string, log: Logger): Promise<CanaryRun[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn('canary runs not readable; starting without them', { file, error: (e as Error).message });
    return [];
  }
  try {
    if (text.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    const v = JSON.parse(text) as { runs?: unknown };
    if (!Array.isArray(v.runs)) throw new Error('no "runs" array');
    return v.runs.filter(isRun);
  } catch (e) {
    log.warn('canary runs file is damaged; ignoring it', { file, error: (e as Error).message });
    return [];
  }
}

function isRun(r: unknown): r is CanaryRun {
  const x = r as CanaryRun;
  return !!x && typeof x.name === 'string' && typeof x.namespace === 'string' && typeof x.spec === 'object' && typeof x.state?.phase === 'string' && typeof x.state.weight === 'number' && Array.isArray(x.state.events);
}

/** Serialized writes: the last state always lands last. */
export class RunFileWriter {
  private writing = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  save(runs: CanaryRun[]): Promise<void> {
    const data = JSON.stringify({ runs });
    this.writing = this.writing.then(() => writeFileAtomic(this.file, data).catch((e) => this.log.error('could not save canary runs', { error: e as Error })));
    return this.writing;
  }

  flush(): Promise<void> {
    return this.writing;
  }
}

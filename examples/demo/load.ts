// A steady request rate into web's sidecar (open loop, bounded in flight).

import { get } from './apps.js';

export class LoadGenerator {
  sent = 0;
  ok = 0;
  /** The first few failures, as "<seconds into the run> <status or error> <body>", for the summary. */
  readonly failures: string[] = [];
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly port: number, private readonly host: string, readonly rate: number, private readonly maxInFlight = 100) {}

  start(): void {
    const every = 1000 / this.rate;
    this.timer = setInterval(() => this.fire(), every);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => (this.drained = r));
  }

  private fire(): void {
    if (this.inFlight >= this.maxInFlight) return;
    this.inFlight++;
    this.sent++;
    get(this.port, this.host)
      .then((r) => {
        if (r.status === 200) this.ok++;
        else this.fail(`${r.status} ${r.body.trim().slice(0, 120)}`);
      })
      .catch((err: Error) => this.fail(err.message))
      .finally(() => {
        if (--this.inFlight === 0) this.drained?.();
      });
  }

  private fail(what: string): void {
    if (this.failures.length < 5) this.failures.push(`${((Date.now() - this.t0) / 1000).toFixed(1)}s: ${what}`);
  }
}

// A steady request rate into web's sidecar (open loop, bounded in flight).

import { get } from './apps.js';

export class LoadGenerator {
  sent = 0;
  ok = 0;
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
      })
      .catch(() => {})
      .finally(() => {
        if (--this.inFlight === 0) this.drained?.();
      });
  }
}

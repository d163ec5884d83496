// Precise send clock for the open-loop generator, run as a worker thread.
// Node timers have 1 ms granularity, which would make every request up to a
// millisecond late before it even left the generator. This thread sleeps in
// Atomics.wait (sub-millisecond, no spinning, no CPU while asleep) until each
// send time and posts a message; a message wakes the main event loop at once.
import { parentPort, workerData } from 'node:worker_threads';

interface TickerData {
  t0: bigint; // ns, process.hrtime.bigint() clock (shared by all threads)
  periodNs: bigint;
  end: bigint;
}

const { t0, periodNs, end } = workerData as TickerData;
const cell = new Int32Array(new SharedArrayBuffer(4));
for (let k = 0n; ; k++) {
  const due = t0 + k * periodNs;
  if (due >= end) break;
  const wait = due - process.hrtime.bigint();
  if (wait > 0n) Atomics.wait(cell, 0, 0, Number(wait) / 1e6);
  parentPort!.postMessage(0);
}
parentPort!.postMessage(1);

// Imported first by the mesh-proxy entry point. The HTTP/1.1 parser is
// llhttp compiled to WebAssembly (proxy/h1/llhttp.ts). V8 runs wasm on its
// baseline compiler (Liftoff) and re-compiles hot functions with TurboFan;
// llhttp's parser is one huge state-machine function, and optimizing it
// takes ~37 MB of compiler memory for a moment after the first requests: the
// sidecar's peak RSS was 100 MB against 66 MB steady. Liftoff code parses
// fast enough that CPU per request did not move in the bench
// (bench/results/memory.md), so the sidecar stays on Liftoff. An operator's
// own wasm tiering flags (`node --wasm-…`) win.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const WASM_FLAG = /--(no-)?(liftoff|wasm)/;

export function keepWasmOnBaselineCompiler(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (execArgv.some((a) => WASM_FLAG.test(a)) || WASM_FLAG.test(nodeOptions ?? '')) return false;
  // Read when a module is compiled, so it applies to llhttp's lazy compile on the first connection.
  setFlagsFromString('--liftoff-only');
  return true;
}

keepWasmOnBaselineCompiler(process.execArgv, process.env.NODE_OPTIONS);

// The old generation grows by at most half its live size (or V8's 8 MB
// minimum step) before a full GC, instead of V8's dynamic factor of up to 4×.
// Under HTTP/2 at full load (160 streams in flight) most young objects
// survive the 2 MB young generation and are promoted: old space ran up to
// ~45 MB of mostly garbage between full GCs (peak RSS ~104 MB). With 50 %
// the peak was ~78 MB, and GC time per request did not rise (the scavenges,
// which dominate there, got cheaper); at 1,000 req/s no full GC falls inside
// a 10 s window either way (bench/results/memory.md). Read by V8 at every
// full GC, so setting it here works; an operator's own value wins.
const HEAP_GROWING = /--heap[-_]growing[-_]percent/;

export function boundOldGenerationGrowth(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (execArgv.some((a) => HEAP_GROWING.test(a)) || HEAP_GROWING.test(nodeOptions ?? '')) return false;
  setFlagsFromString('--heap-growing-percent=50');
  return true;
}

boundOldGenerationGrowth(process.execArgv, process.env.NODE_OPTIONS);

// No allocation-site pretenuring. V8 watches which allocation sites' objects
// survive scavenges and, past a threshold, allocates theirs straight into
// the old generation. Under HTTP/2 it decides that for node:http2's
// per-stream objects, which a proxy drops a millisecond later: they fill the
// old generation and each sidecar ran a full GC about once a second at
// 1,000 gRPC calls/s. Without it, 40 → 13 MB promoted per 5 s, and two-hop
// mTLS gRPC cost 6–11 % less CPU per call in two sessions' interleaved pairs;
// HTTP/1.1 moved neither CPU nor RSS (proxy/listener/PERFORMANCE.md, sessions
// 10 and 11). Read by V8 when it processes pretenuring feedback, at every GC.
const PRETENURING = /--(no-)?allocation[-_]site[-_]pretenuring/;

export function skipAllocationSitePretenuring(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (execArgv.some((a) => PRETENURING.test(a)) || PRETENURING.test(nodeOptions ?? '')) return false;
  setFlagsFromString('--no-allocation-site-pretenuring');
  return true;
}

skipAllocationSitePretenuring(process.execArgv, process.env.NODE_OPTIONS);

// No Sparkplug (V8's non-optimizing baseline compiler between the
// interpreter and TurboFan). Its machine code for every warm function stays
// resident: without it, RSS at 1,000 req/s was 0.7–1 MB lower per sidecar
// (one hop 61.1–61.3 against 61.7–62.1 MB in three pairs, the mesh path's two
// sidecars 142.0 against 144.1), and CPU per request did not move in any
// pair (HTTP/1.1 at 1,000 req/s and at saturation, the mesh path, gRPC):
// the hot request path is TurboFan code either way (bench/results/memory.md,
// session 15). proxy/node-flags.ts puts it on the command line, which saves
// more (Node's startup code too); this covers `node dist/proxy/main.js`
// started without it. Read by V8 at each tiering decision.
const SPARKPLUG = /--(no-)?(sparkplug|always[-_]sparkplug)/;

export function skipBaselineCompiler(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (execArgv.some((a) => SPARKPLUG.test(a)) || SPARKPLUG.test(nodeOptions ?? '')) return false;
  setFlagsFromString('--no-sparkplug');
  return true;
}

skipBaselineCompiler(process.execArgv, process.env.NODE_OPTIONS);

// One full garbage collection once the sidecar is configured. Startup leaves
// several MB of garbage in the old generation (module sources being decoded
// and compiled, the bootstrap's YAML tree, the config checker's working set),
// and V8 sets the first old-generation limit far above what a sidecar reaches
// at idle or moderate load. V8's memory reducer compacts an idle heap ~8 s
// after startup, but only when the allocation rate is low by then: a sidecar
// that takes traffic right away kept that garbage until its first full GC,
// and its traffic's promotions filled new pages on top of it. Collected here,
// the freed space is reused first (bench/results/memory.md). A collection of
// a ~10 MB heap takes ~15 ms, once. `gc` comes from a fresh context created
// while --expose-gc is on, so no global `gc` is left behind.
//
// Not --optimize-for-size for the whole run: it also grows the old generation
// in 2 MB steps and halves the young generation (1 MB semi-spaces), which
// under HTTP/2 at full load meant a full GC every ~300 ms and several times
// the GC CPU.
export function releaseStartupGarbage(): void {
  setFlagsFromString('--expose-gc');
  let gc: (() => void) | undefined;
  try {
    gc = runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  gc?.();
}

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

const WASM_FLAG = /--(no-)?(liftoff|wasm)/;

export function keepWasmOnBaselineCompiler(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (execArgv.some((a) => WASM_FLAG.test(a)) || WASM_FLAG.test(nodeOptions ?? '')) return false;
  // Read when a module is compiled, so it applies to llhttp's lazy compile on the first connection.
  setFlagsFromString('--liftoff-only');
  return true;
}

keepWasmOnBaselineCompiler(process.execArgv, process.env.NODE_OPTIONS);

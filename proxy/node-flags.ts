// The Node flags the sidecar runs with, in one place: the mesh-proxy bin's
// shebang carries the same list (a shebang cannot import it), the injector
// puts it on the sidecar container's command, and the bench starts tsmesh
// with it. A 2 MiB young generation per semi-space keeps RSS ~3 MB lower at no
// measurable CPU cost (1 MiB cost a third of max throughput); without V8's
// Sparkplug baseline compiler, 0.7–1 MB less (on the command line: set at
// runtime by proxy/v8-flags.ts it saves only ~0.4 MB, as Node's own startup
// code is compiled before): see bench/results/memory.md.
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--no-sparkplug'];

// The Node flags the sidecar runs with, in one place: the mesh-proxy bin's
// shebang carries the same list (a shebang cannot import it), the injector
// puts it on the sidecar container's command, and the bench starts tsmesh
// with it. A 2 MiB young generation per semi-space keeps RSS ~3 MB lower at no
// measurable CPU cost (1 MiB cost a third of max throughput): see
// bench/results/memory.md.
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

// GET /memory: what the sidecar process holds, under Envoy's /memory names
// where Envoy has one (allocated: bytes in use on the heap; heap_size: bytes
// the heap has reserved; total_physical_bytes: resident), plus what a Node
// process has besides — its peak RSS, memory outside the JS heap (Buffers,
// the HTTP/1.1 parser's wasm memory) and each V8 heap space — so where a
// sidecar's memory goes can be read without attaching a profiler.

import { getHeapSpaceStatistics } from 'node:v8';

export interface HeapSpaceView {
  name: string;
  /** Bytes V8 reserved for the space. */
  size: number;
  /** Bytes of live and not-yet-collected objects in it. */
  used: number;
  /** Of `size`, bytes backed by physical memory. */
  physical: number;
}

export interface MemoryView {
  allocated: number;
  heap_size: number;
  total_physical_bytes: number;
  peak_physical_bytes: number;
  /** C++ memory tied to JS objects (Buffers and other ArrayBuffers, wasm memory). */
  external: number;
  array_buffers: number;
  heap_spaces: HeapSpaceView[];
}

export function memoryView(): MemoryView {
  const m = process.memoryUsage();
  return {
    allocated: m.heapUsed,
    heap_size: m.heapTotal,
    total_physical_bytes: m.rss,
    peak_physical_bytes: process.resourceUsage().maxRSS * 1024,
    external: m.external,
    array_buffers: m.arrayBuffers,
    heap_spaces: getHeapSpaceStatistics().map((s) => ({
      name: s.space_name,
      size: s.space_size,
      used: s.space_used_size,
      physical: s.physical_space_size,
    })),
  };
}

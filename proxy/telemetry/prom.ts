// prom-client's Registry and metric classes, required from their own files
// instead of the package index. The index also loads what the sidecar never
// uses: the default process metrics (and through them @opentelemetry/api, for
// exemplars), Summary (tdigest, bintrees), the Pushgateway (http/https/url)
// and the cluster aggregator (node:cluster) — ~80 modules, ~2.5 MB of RSS
// (bench/results/memory.md). The classes are the same objects the index
// exports (it re-exports these files), so `instanceof` and registries mix
// freely with code that imports 'prom-client'. Types come from the package.

import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry: typeof Prom.Registry = require('prom-client/lib/registry');
export type Registry = Prom.Registry;
export const Counter: typeof Prom.Counter = require('prom-client/lib/counter');
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge: typeof Prom.Gauge = require('prom-client/lib/gauge');
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram: typeof Prom.Histogram = require('prom-client/lib/histogram');
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export type { CounterConfiguration, GaugeConfiguration, HistogramConfiguration } from 'prom-client';

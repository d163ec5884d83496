// Helpers for the other parts of the sidecar (resilience, identity, xDS
// client) to put their tsmesh_* metrics in the shared registry that the admin
// listener exposes. Idempotent by name: a component rebuilt on a config reload
// gets the metric it registered before instead of prom-client's
// "already registered" error.

import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from './prom.js';
import { MeshError } from '../../common/errors.js';

export { Registry };

type Named = { name: string; labelNames?: readonly string[] };

function existing<T>(registry: Registry, cfg: Named, ctor: new (...args: never[]) => T): T | undefined {
  if (!cfg.name.startsWith('tsmesh_')) {
    throw new MeshError('MESH_METRIC_NAME', `metric ${cfg.name}: tsmesh's own metrics are named tsmesh_*`);
  }
  const m = registry.getSingleMetric(cfg.name);
  if (m === undefined) return undefined;
  if (!(m instanceof ctor)) {
    throw new MeshError('MESH_METRIC_CONFLICT', `metric ${cfg.name} is already registered with another type`);
  }
  return m;
}

export function meshCounter<L extends string>(registry: Registry, cfg: CounterConfiguration<L>): Counter<L> {
  return existing(registry, cfg, Counter<L>) ?? new Counter({ ...cfg, registers: [registry] });
}

export function meshGauge<L extends string>(registry: Registry, cfg: GaugeConfiguration<L>): Gauge<L> {
  return existing(registry, cfg, Gauge<L>) ?? new Gauge({ ...cfg, registers: [registry] });
}

export function meshHistogram<L extends string>(registry: Registry, cfg: HistogramConfiguration<L>): Histogram<L> {
  return existing(registry, cfg, Histogram<L>) ?? new Histogram({ ...cfg, registers: [registry] });
}

// Counters and histograms for the per-request hot path, registered in a
// prom-client Registry so exposition, content types and the other tsmesh_*
// metrics stay prom-client's job.
//
// Why not prom-client's Counter/Histogram children: every inc()/observe() on
// them re-validates and re-hashes the whole label object (22 labels for the
// Istio metrics, four metrics per request). Here a caller resolves a series
// once (by its own cheap key) and then only adds numbers to it.

import type { Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;
// prom-client formats (and caches, by identity) a series' label set passed as sharedLabels.
const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>;

interface MetricValue {
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  value: number;
  metricName?: string;
}

/** The shape prom-client's Registry reads from a metric (see Registry#getMetricsAsString). */
interface RegistryMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: string; values: MetricValue[]; aggregator: 'sum' }>;
  reset(): void;
}

export class CounterSeries {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    this.value += by;
  }
}

export class HistogramSeries {
  /** Non-cumulative count per bucket; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  /** Durations and sizes only: NaN and negative values are ignored (they would poison sum and buckets). */
  observe(v: number): void {
    if (!(v >= 0)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

abstract class SeriesMetric<S extends { labels: Labels }> implements RegistryMetric {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  protected series: S[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    // prom-client types only accept its own classes; the registry itself only reads the fields above.
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }
  protected add(s: S): S {
    this.series.push(s);
    return s;
  }
  reset(): void {
    for (const s of this.series) this.clear(s);
  }
  protected abstract clear(s: S): void;
  protected abstract values(): MetricValue[];
  async get() {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: this.aggregator };
  }
}

export class FastCounter extends SeriesMetric<CounterSeries> {
  readonly type = 'counter' as const;
  /** A new series; callers keep it and call inc() on it. */
  newSeries(labels: Labels): CounterSeries {
    return this.add(new CounterSeries(labels));
  }
  protected clear(s: CounterSeries): void {
    s.value = 0;
  }
  protected values(): MetricValue[] {
    return this.series.map((s) => ({ labels: NO_LABELS, sharedLabels: s.labels, value: s.value }));
  }
}

export class FastHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = 'histogram' as const;
  constructor(
    name: string,
    help: string,
    registry: Registry,
    readonly buckets: readonly number[],
  ) {
    super(name, help, registry);
  }
  newSeries(labels: Labels): HistogramSeries {
    return this.add(new HistogramSeries(labels, this.buckets));
  }
  protected clear(s: HistogramSeries): void {
    s.counts.fill(0);
    s.sum = 0;
    s.count = 0;
  }
  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const s of this.series) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!;
        out.push({ labels: { le: this.buckets[i]! }, sharedLabels: s.labels, value: acc, metricName: bucketName });
      }
      out.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucketName });
      out.push({ labels: NO_LABELS, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      out.push({ labels: NO_LABELS, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}

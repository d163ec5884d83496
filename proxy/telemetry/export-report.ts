// What happens to exported spans, made visible: the OpenTelemetry SDK's
// exporters report a failed export only to its (unset) diagnostic logger, so
// a sidecar pointed at a wrong or dead collector dropped every span in
// silence. This wraps the exporter: each batch's outcome is counted
// (tsmesh_tracing_spans_exported_total{result}), and failures are logged as a
// warning at most once a minute, with the endpoint and the error.

import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../../common/log.js';
import type { Clock } from '../../common/clock.js';
import { meshCounter, type Registry } from './registry.js';

export const FAILURE_LOG_INTERVAL_MS = 60_000;

export interface ExportReportOptions {
  endpoint: string;
  registry: Registry | undefined;
  logger: Logger | undefined;
  clock: Pick<Clock, 'now'>;
}

/** `inner`, reporting each batch's outcome. ExportResultCode.SUCCESS is 0. */
export function reportingExporter(inner: SpanExporter, o: ExportReportOptions): SpanExporter {
  const spans = o.registry
    ? meshCounter(o.registry, { name: 'tsmesh_tracing_spans_exported_total', help: 'Spans handed to the trace exporter, by outcome of their export request', labelNames: ['result'] as const })
    : undefined;
  const ok = spans?.labels('success');
  const failed = spans?.labels('failure');
  let lastLog = -Infinity;
  let failedSinceLog = 0;
  return {
    export(batch: ReadableSpan[], done: (r: ExportResult) => void): void {
      inner.export(batch, (r) => {
        if (r.code === 0) ok?.inc(batch.length);
        else {
          failed?.inc(batch.length);
          failedSinceLog += batch.length;
          const now = o.clock.now();
          if (now - lastLog >= FAILURE_LOG_INTERVAL_MS) {
            o.logger?.warn('tracing: spans not exported', { endpoint: o.endpoint, spans: failedSinceLog, err: r.error?.message ?? 'export failed' });
            lastLog = now;
            failedSinceLog = 0;
          }
        }
        done(r);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

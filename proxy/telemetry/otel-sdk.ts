// The OpenTelemetry SDK, loaded on first use instead of at import time: a
// sidecar without tracing configured never maps its ~200 modules (the OTLP
// exporter, resources, the SDK, the API). These packages' Node entry points
// are CommonJS, so loading them with require() is the same code an `import`
// would load; it keeps RequestTracer's constructor (and createTelemetry)
// synchronous, and spans start from the first request with no await.

import { createRequire } from 'node:module';

export interface OtelSdk {
  api: typeof import('@opentelemetry/api');
  base: typeof import('@opentelemetry/sdk-trace-base');
  resources: typeof import('@opentelemetry/resources');
}

/** OTLP/HTTP encodings (OTEL_EXPORTER_OTLP_PROTOCOL's names); protobuf is OpenTelemetry's default. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

type OtlpExporterClass = typeof import('@opentelemetry/exporter-trace-otlp-proto').OTLPTraceExporter;

const require = createRequire(import.meta.url);
let sdk: OtelSdk | undefined;

export function loadOtelSdk(): OtelSdk {
  sdk ??= {
    api: require('@opentelemetry/api') as OtelSdk['api'],
    base: require('@opentelemetry/sdk-trace-base') as OtelSdk['base'],
    resources: require('@opentelemetry/resources') as OtelSdk['resources'],
  };
  return sdk;
}

/** The exporter package for one encoding; only that one is loaded. Both take the same options. */
export function loadOtlpExporter(protocol: OtlpProtocol): OtlpExporterClass {
  const pkg = protocol === 'http/json' ? '@opentelemetry/exporter-trace-otlp-http' : '@opentelemetry/exporter-trace-otlp-proto';
  return (require(pkg) as { OTLPTraceExporter: OtlpExporterClass }).OTLPTraceExporter;
}

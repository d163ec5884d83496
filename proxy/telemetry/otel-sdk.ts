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
  otlp: typeof import('@opentelemetry/exporter-trace-otlp-http');
}

const require = createRequire(import.meta.url);
let sdk: OtelSdk | undefined;

export function loadOtelSdk(): OtelSdk {
  sdk ??= {
    api: require('@opentelemetry/api') as OtelSdk['api'],
    base: require('@opentelemetry/sdk-trace-base') as OtelSdk['base'],
    resources: require('@opentelemetry/resources') as OtelSdk['resources'],
    otlp: require('@opentelemetry/exporter-trace-otlp-http') as OtelSdk['otlp'],
  };
  return sdk;
}

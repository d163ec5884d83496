// The two tracing settings a mesh operator gives once and every layer passes
// on (meshctl install/inject flags → the control plane's injector → pod
// annotations → the sidecar's environment): where spans go and how many
// requests start a trace. Checked the same way wherever they enter.

/** Why `v` is not an OTLP/HTTP traces endpoint, or undefined when it is one. */
export function tracingEndpointProblem(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return `"${v}" is not an http(s) URL (the collector's OTLP/HTTP traces endpoint, e.g. http://otel-collector.observability:4318/v1/traces)`;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    return `"${v}" is not an http(s) URL (the collector's OTLP/HTTP traces endpoint, e.g. http://otel-collector.observability:4318/v1/traces)`;
  }
  return undefined;
}

/** A sampling percentage written as text (`1`, `12.5`), or undefined when it is not one in 0–100. */
export function parseSamplingPercent(v: string): number | undefined {
  const n = /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  return n >= 0 && n <= 100 ? n : undefined;
}

// Envoy's defaults for fields a bootstrap file (or an xDS resource) may omit.

import type { CircuitBreakerThresholds, DnsSettings, HttpLimits, OutlierDetection, RetryPolicy, TlsParams } from './resources.js';

export const DEFAULT_PROTOCOL_DETECTION_TIMEOUT_MS = 100; // Istio's listener protocol detection timeout
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000; // Istio's terminationDrainDuration
export const DEFAULT_ADMIN_PORT = 15000;
export const DEFAULT_HEALTHY_PANIC_THRESHOLD = 50;

/** Envoy's DNS cluster defaults (dns_refresh_rate 5 s, AUTO family, TTL ignored). */
export const DEFAULT_DNS: Readonly<DnsSettings> = { refreshRate: 5_000, lookupFamily: 'AUTO', respectTtl: false };

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  maxRequestHeadersKb: 60,
  maxHeadersCount: 100,
  http2MaxConcurrentStreams: 100,
  requestHeadersTimeout: 0,
  idleTimeout: DEFAULT_IDLE_TIMEOUT_MS,
  streamIdleTimeout: 300_000,
  requestTimeout: 0,
  maxRequestBodyBytes: 1 << 20,
};

export const DEFAULT_CIRCUIT_BREAKERS: Readonly<CircuitBreakerThresholds> = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
};

/** Envoy's outlier detection defaults (enforcing_consecutive_gateway_failure is 0 in Envoy). */
export const DEFAULT_OUTLIER_DETECTION: Readonly<OutlierDetection> = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  interval: 10_000,
  baseEjectionTime: 30_000,
  maxEjectionTime: 300_000,
  maxEjectionPercent: 10,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  splitExternalLocalOriginErrors: false,
};

export const DEFAULT_TLS_PARAMS: Readonly<TlsParams> = { minVersion: 'TLSv1.2' };

export const DEFAULT_RETRY_BACKOFF = { baseInterval: 25, maxInterval: 250 };

export function defaultRetryPolicy(): RetryPolicy {
  return {
    retryOn: [],
    numRetries: 1,
    retriableStatusCodes: [],
    retryBackOff: { ...DEFAULT_RETRY_BACKOFF },
    retryOtherHosts: false,
    hostSelectionRetryMaxAttempts: 1,
  };
}

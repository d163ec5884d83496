// The resilience building blocks the request path composes (see INTEGRATION.md).

export { CircuitBreaker, CIRCUIT_BREAKER_DEFAULTS, RETRY_BUDGET_DEFAULTS, type CircuitBreakerStats } from './circuit-breaker.js';
export { ClusterResilience, type ClusterResilienceOptions } from './cluster-resilience.js';
export { CircuitBreakerOverflowError, RateLimitedError, UpstreamTimeoutError, type OverflowResource, type TimeoutKind } from './errors.js';
export { FaultInjector, type FaultDecision } from './fault.js';
export { grpcStatusForHttp, httpStatusForGrpc } from './grpc-status.js';
export { compileHeaderMatchers, type HeaderRecord } from './header-match.js';
export { ResilienceMetrics } from './metrics.js';
export { OutlierDetector, OUTLIER_DEFAULTS, type LocalOriginFailure } from './outlier-detector.js';
export { isPanic } from './panic.js';
export { TokenBucket } from './rate-limit.js';
export { compileRetryPolicy, parseRetryOn, validateRetryPolicy, RETRY_ON, RETRY_DEFAULTS, type CompiledRetryPolicy } from './retry-policy.js';
export { RetryState, grpcStatusOf, type AttemptFailure, type RetryDecision } from './retry-state.js';
export { RequestTimeouts } from './timeouts.js';

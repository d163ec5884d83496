// What an exchange needs from the filter chain that accepted it.

import type { Exchange } from './exchange.js';

export interface HttpChainContext {
  /** True when the downstream connection is TLS (sets :scheme and x-forwarded-proto). */
  readonly tls: boolean;
  /** Called exactly once per exchange, when it is finished or failed. */
  recordHttp(ex: Exchange): void;
}

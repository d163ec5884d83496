// TokenReview through @kubernetes/client-node, so the control plane calls it
// with whatever credentials its kubeconfig has (in a pod: the rotating
// service-account token file and the cluster CA), as client-go would.

import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { TokenReviewCall } from '../../control-plane/ca/token-review.js';

/** A CSR or xDS stream waits at most this long for the API server (the token's holder may retry). */
export const TOKEN_REVIEW_TIMEOUT_MS = 5_000;

export function kubeTokenReview(kc: KubeConfig, timeoutMs = TOKEN_REVIEW_TIMEOUT_MS): TokenReviewCall {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async ({ token, audiences }) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const call = api.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from the API server within ${timeoutMs} ms`)), timeoutMs);
      });
      const res = await Promise.race([call, timeout]);
      const st = res.status ?? {};
      return {
        ...(st.authenticated !== undefined ? { authenticated: st.authenticated } : {}),
        ...(st.user ? { user: { ...(st.user.username !== undefined ? { username: st.user.username } : {}) } } : {}),
        ...(st.audiences ? { audiences: st.audiences } : {}),
        ...(st.error ? { error: st.error } : {}),
      };
    } catch (err) {
      // ApiException's message embeds the whole response body; the status code and reason are what an operator needs.
      const e = err as { code?: number; body?: unknown };
      if (typeof e.code === 'number') throw new Error(`HTTP ${e.code}${reasonOf(e.body)}`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };
}

function reasonOf(body: unknown): string {
  try {
    const s = (typeof body === 'string' ? JSON.parse(body) : body) as { reason?: string; message?: string } | undefined;
    const r = s?.message || s?.reason;
    return r ? ` (${String(r).slice(0, 200)})` : '';
  } catch {
    return '';
  }
}

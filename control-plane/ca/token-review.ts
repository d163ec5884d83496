// Kubernetes mode: the pod's projected service-account token, checked with
// the TokenReview API (authentication.k8s.io/v1). The authenticated user
// `system:serviceaccount:<ns>:<sa>` becomes spiffe://<td>/ns/<ns>/sa/<sa>.
import { Agent, request } from 'undici';
import { formatWorkloadId } from '../../certs/spiffe.js';
import { CallerAuthError, type CallerAuthenticator } from './auth-error.js';
import { MAX_TOKEN_LENGTH } from './bootstrap-token.js';

/** What the API server answers in a TokenReview's `status`. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string };
  audiences?: string[];
  error?: string;
}

/** Posts one TokenReview and resolves with its status (or rejects when the call fails). */
export type TokenReviewCall = (spec: { token: string; audiences: string[] }) => Promise<TokenReviewStatus>;

export interface TokenReviewOptions {
  /** e.g. https://kubernetes.default.svc (unless `review` is given). */
  apiServer?: string;
  /** PEM CA of the API server. */
  apiServerCaPem?: string;
  /** The control plane's own credential for calling TokenReview (with `apiServer`). */
  reviewerToken?: () => string;
  /**
   * Instead of apiServer/reviewerToken: a function that posts the review, e.g.
   * through @kubernetes/client-node with the kubeconfig's credentials
   * (k8s/ca/token-review-call.ts).
   */
  review?: TokenReviewCall;
  /** Audiences the projected token must carry (Istio uses "istio-ca"). */
  audiences: string[];
  trustDomain: string;
  timeoutMs?: number;
}

const SA_PREFIX = 'system:serviceaccount:';

export class TokenReviewAuthenticator implements CallerAuthenticator {
  private readonly agent: Agent | undefined;
  private readonly review: TokenReviewCall;
  constructor(private readonly o: TokenReviewOptions) {
    if (o.review) {
      this.review = o.review;
    } else {
      if (!o.apiServer || !o.reviewerToken) throw new TypeError('TokenReviewAuthenticator needs either review or apiServer + reviewerToken');
      this.agent = new Agent({ connect: o.apiServerCaPem ? { ca: o.apiServerCaPem } : {} });
      this.review = (spec) => this.post(spec);
    }
  }

  private async post(spec: { token: string; audiences: string[] }): Promise<TokenReviewStatus> {
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec });
    const res = await request(new URL('/apis/authentication.k8s.io/v1/tokenreviews', this.o.apiServer), {
      method: 'POST',
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${this.o.reviewerToken!()}` },
      body,
      headersTimeout: this.o.timeoutMs ?? 5000,
      bodyTimeout: this.o.timeoutMs ?? 5000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    const json = text.length <= 1 << 20 ? (JSON.parse(text) as { status?: TokenReviewStatus }) : {};
    return json.status ?? {};
  }

  async authenticate(token: string): Promise<string> {
    if (token.length > MAX_TOKEN_LENGTH) throw new CallerAuthError('service account token too long');
    let st: TokenReviewStatus;
    try {
      st = await this.review({ token, audiences: this.o.audiences });
    } catch (err) {
      throw new CallerAuthError(`TokenReview call failed: ${(err as Error).message}`, { cause: err });
    }
    if (st.authenticated !== true) throw new CallerAuthError(`service account token rejected by TokenReview${st.error ? `: ${st.error}` : ''}`);
    const aud = st.audiences ?? [];
    if (this.o.audiences.length && !this.o.audiences.some((a) => aud.includes(a))) {
      throw new CallerAuthError(`service account token is not for audience ${this.o.audiences.join(',')}`);
    }
    const user = st.user?.username ?? '';
    if (!user.startsWith(SA_PREFIX)) throw new CallerAuthError(`token user ${JSON.stringify(user)} is not a service account`);
    const [ns, sa, extra] = user.slice(SA_PREFIX.length).split(':');
    if (!ns || !sa || extra !== undefined) throw new CallerAuthError(`malformed service account user ${JSON.stringify(user)}`);
    try {
      return formatWorkloadId(this.o.trustDomain, ns, sa);
    } catch (err) {
      throw new CallerAuthError((err as Error).message, { cause: err });
    }
  }

  close(): Promise<void> {
    return this.agent?.close() ?? Promise.resolve();
  }
}

// Kubernetes mode: the pod's projected service-account token, checked with
// the TokenReview API (authentication.k8s.io/v1). The authenticated user
// `system:serviceaccount:<ns>:<sa>` becomes spiffe://<td>/ns/<ns>/sa/<sa>.
import { Agent, request } from 'undici';
import { formatWorkloadId } from '../../certs/spiffe.js';
import { CallerAuthError, type CallerAuthenticator } from './auth-error.js';
import { MAX_TOKEN_LENGTH } from './bootstrap-token.js';

export interface TokenReviewOptions {
  /** e.g. https://kubernetes.default.svc */
  apiServer: string;
  /** PEM CA of the API server. */
  apiServerCaPem?: string;
  /** The control plane's own credential for calling TokenReview. */
  reviewerToken: () => string;
  /** Audiences the projected token must carry (Istio uses "istio-ca"). */
  audiences: string[];
  trustDomain: string;
  timeoutMs?: number;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string };
  audiences?: string[];
  error?: string;
}

const SA_PREFIX = 'system:serviceaccount:';

export class TokenReviewAuthenticator implements CallerAuthenticator {
  private readonly agent: Agent;
  constructor(private readonly o: TokenReviewOptions) {
    this.agent = new Agent({ connect: o.apiServerCaPem ? { ca: o.apiServerCaPem } : {} });
  }

  async authenticate(token: string): Promise<string> {
    if (token.length > MAX_TOKEN_LENGTH) throw new CallerAuthError('service account token too long');
    const body = JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: this.o.audiences },
    });
    let status: number;
    let json: { status?: TokenReviewStatus };
    try {
      const res = await request(new URL('/apis/authentication.k8s.io/v1/tokenreviews', this.o.apiServer), {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${this.o.reviewerToken()}` },
        body,
        headersTimeout: this.o.timeoutMs ?? 5000,
        bodyTimeout: this.o.timeoutMs ?? 5000,
      });
      status = res.statusCode;
      const text = await res.body.text();
      json = text.length <= 1 << 20 ? (JSON.parse(text) as { status?: TokenReviewStatus }) : {};
    } catch (err) {
      throw new CallerAuthError(`TokenReview call failed: ${(err as Error).message}`, { cause: err });
    }
    if (status !== 201 && status !== 200) throw new CallerAuthError(`TokenReview returned HTTP ${status}`);
    const st = json.status ?? {};
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
    return this.agent.close();
  }
}

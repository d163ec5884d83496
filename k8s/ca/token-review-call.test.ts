// TokenReview through the kubeconfig's client against the fake API server:
// the status as the API server answers it, its failures with their HTTP
// status, and a bound on how long a hung API server holds a caller.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenReviewAuthenticator } from '../../control-plane/ca/token-review.js';
import { FakeApiServer } from '../test/fake-apiserver.js';
import { kubeTokenReview } from './token-review-call.js';

let api: FakeApiServer;
beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  api.tokens.set('cart-token', { username: 'system:serviceaccount:shop:cart', audiences: ['tsmesh-ca'] });
});
afterEach(() => api.close());

const auth = (kc: KubeConfig, timeoutMs?: number) =>
  new TokenReviewAuthenticator({ review: kubeTokenReview(kc, timeoutMs), audiences: ['tsmesh-ca'], trustDomain: 'cluster.local' });

describe('kubeTokenReview', () => {
  it("maps an accepted projected token to its service account's SPIFFE ID, sending the audience", async () => {
    expect(await auth(api.kubeConfig()).authenticate('cart-token')).toBe('spiffe://cluster.local/ns/shop/sa/cart');
    expect(api.tokenReviews).toEqual([{ token: 'cart-token', audiences: ['tsmesh-ca'] }]);
    await expect(auth(api.kubeConfig()).authenticate('nope')).rejects.toThrow(/rejected by TokenReview: \[invalid bearer token/);
  });

  it('reports the HTTP status when the control plane may not review tokens', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeConfig().exportConfig().replace('test-token', 'not-the-token'));
    await expect(auth(kc).authenticate('cart-token')).rejects.toMatchObject({ code: 'MESH_CA_UNAUTHENTICATED', message: expect.stringContaining('TokenReview call failed: HTTP 401') });
  });

  it('gives up on an API server that does not answer', async () => {
    const hung = http.createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const kc = new KubeConfig();
      kc.loadFromString(api.kubeConfig().exportConfig().replace(`127.0.0.1:${api.port}`, `127.0.0.1:${(hung.address() as AddressInfo).port}`));
      await expect(auth(kc, 200).authenticate('cart-token')).rejects.toThrow('TokenReview call failed: no answer from the API server within 200 ms');
    } finally {
      hung.closeAllConnections();
      await new Promise((r) => hung.close(r));
    }
  });
});

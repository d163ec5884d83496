// Kubernetes mode of the control plane, assembled in one place: the CA from
// its Secret (workloads authenticate to it with TokenReview), the registry
// and policy store from the API server, the trust
// bundle published into namespaces, and the injection webhook (serving cert
// signed by the mesh CA, so every replica is trusted through one caBundle).
// mesh-control-plane calls this when TSMESH_REGISTRY=kubernetes.

import { KubeConfig } from '@kubernetes/client-node';
import type { CaMaterial } from '../certs/ca.js';
import { silentLogger, type Logger } from '../common/log.js';
import { loadOrCreateCaSecret } from './ca/ca-secret.js';
import { TrustBundlePublisher } from './ca/trust-bundle.js';
import type { TokenReviewCall } from '../control-plane/ca/token-review.js';
import { defaultInjectOptions, type InjectOptions } from './inject/options.js';
import { kubeTokenReview } from './ca/token-review-call.js';
import { CONTROL_PLANE_NAME } from './install/render.js';
import { KubernetesRegistry } from './registry/kube-registry.js';
import { KubernetesPolicyStore } from './store/kube-store.js';
import { setWebhookCaBundle } from './webhook/ca-bundle.js';
import { startWebhookServer, type WebhookServer } from './webhook/server.js';
import { createServingCert, serviceDnsNames } from './webhook/serving-cert.js';

export interface KubernetesModeOptions {
  /** Default: in-cluster service account, else ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** The control plane's own namespace (CA Secret, webhook Service). */
  namespace: string;
  trustDomain: string;
  webhook: { host?: string; port: number; serviceName?: string; configName?: string };
  inject?: Partial<InjectOptions>;
  /** The CA Secret in `namespace` (default tsmesh-ca). */
  caSecretName?: string;
  /** Audience the sidecars' projected tokens carry (default the injector's, tsmesh-ca). */
  tokenAudience?: string;
  logger?: Logger;
}

export interface KubernetesMode {
  registry: KubernetesRegistry;
  store: KubernetesPolicyStore;
  /** The CA from the Secret: pass to setupCa as `material`. */
  ca: CaMaterial;
  /** setupCa's `auth`: workloads' projected service-account tokens checked with TokenReview. */
  caAuth: { mode: 'kubernetes'; review: TokenReviewCall; audiences: string[] };
  /** Names sidecars reach the control plane by (its Service), for the xDS/CA serving certificate. */
  dnsNames: string[];
  trustBundle: TrustBundlePublisher;
  webhook: WebhookServer;
  close(): Promise<void>;
}

export async function startKubernetesMode(opts: KubernetesModeOptions): Promise<KubernetesMode> {
  const log = opts.logger ?? silentLogger;
  const kc = opts.kubeConfig ?? (() => {
    const k = new KubeConfig();
    k.loadFromDefault();
    return k;
  })();
  const ca = await loadOrCreateCaSecret(kc, { namespace: opts.namespace, trustDomain: opts.trustDomain, ...(opts.caSecretName ? { name: opts.caSecretName } : {}) });
  const audience = opts.tokenAudience ?? opts.inject?.tokenAudience ?? defaultInjectOptions.tokenAudience;
  const serviceName = opts.webhook.serviceName ?? CONTROL_PLANE_NAME;
  const registry = new KubernetesRegistry(kc, { trustDomain: opts.trustDomain, logger: log.child({ component: 'k8s-registry' }) });
  const store = new KubernetesPolicyStore(kc, { logger: log.child({ component: 'k8s-store' }) });
  const trustBundle = new TrustBundlePublisher(kc, ca.rootsPem.join(''), { logger: log.child({ component: 'trust-bundle' }) });
  const cleanup: (() => unknown)[] = [];
  try {
    await Promise.all([registry.start(), store.start(), trustBundle.start()]);
    cleanup.push(() => registry.close(), () => store.close(), () => trustBundle.stop());
    const serving = await createServingCert({ dnsNames: serviceDnsNames(serviceName, opts.namespace), issuer: ca });
    const webhook = await startWebhookServer({
      certPem: serving.certPem,
      keyPem: serving.keyPem,
      host: opts.webhook.host,
      port: opts.webhook.port,
      inject: { trustDomain: opts.trustDomain, tokenAudience: audience, ...opts.inject },
      logger: log.child({ component: 'webhook' }),
    });
    cleanup.push(() => webhook.close());
    await setWebhookCaBundle(kc, serving.caBundlePem, opts.webhook.configName);
    return {
      registry,
      store,
      ca,
      caAuth: { mode: 'kubernetes', review: kubeTokenReview(kc), audiences: [audience] },
      dnsNames: serviceDnsNames(serviceName, opts.namespace),
      trustBundle,
      webhook,
      close: async () => {
        for (const f of cleanup.reverse()) await f();
      },
    };
  } catch (err) {
    for (const f of cleanup.reverse()) await f();
    registry.close();
    store.close();
    trustBundle.stop();
    throw err;
  }
}

// At start the control plane points the MutatingWebhookConfiguration at its
// serving certificate (the caBundle the API server trusts for the webhook).

import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { WEBHOOK_CONFIG_NAME, webhookCaBundlePatch } from '../install/render.js';

/** Sets `caBundle` on every webhook of the configuration (a no-op patch when already equal). */
export async function setWebhookCaBundle(kc: KubeConfig, caBundlePem: string, name = WEBHOOK_CONFIG_NAME): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const current = await api.readMutatingWebhookConfiguration({ name });
  const want = Buffer.from(caBundlePem).toString('base64');
  const ops = (current.webhooks ?? []).flatMap((w, i) => {
    const have = w.clientConfig?.caBundle as unknown;
    const haveB64 = typeof have === 'string' ? have : have instanceof Uint8Array ? Buffer.from(have).toString('base64') : undefined;
    return haveB64 === want ? [] : webhookCaBundlePatch(caBundlePem).map((op) => ({ ...op, path: op.path.replace('/webhooks/0/', `/webhooks/${i}/`) }));
  });
  if (ops.length === 0) return;
  await api.patchMutatingWebhookConfiguration({ name, body: ops }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
}

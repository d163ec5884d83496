// Secrets the control plane pushes: only the trust bundle (ROOTCA). The
// workload's own certificate ('default') and its private key never leave the
// workload; listeners and clusters refer to it by name.

import type { Secret } from '../../proxy/config/resources.js';
import { VALIDATION_SECRET } from './clusters.js';
import type { TranslateInput } from './context.js';

export function secrets(input: TranslateInput): Secret[] {
  return input.trustBundle ? [{ name: VALIDATION_SECRET, validationContext: { trustedCa: input.trustBundle } }] : [];
}

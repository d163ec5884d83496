// Trust bundles a validation context names instead of a pushed secret, as
// Istio's SDS names them: `file-root:<path>` — a PEM file on the sidecar's own
// filesystem (a mounted Secret or ConfigMap; the control plane never sees it)
// — and `system-roots`, the Mozilla roots Node's own HTTPS client trusts. They
// are how a sidecar verifies servers outside the mesh (TLS origination to a
// ServiceEntry host); mesh identities keep using the pushed ROOTCA.

import { readFileSync, statSync } from 'node:fs';
import { tls } from '../lazy-builtins.js';
import type { Secret } from '../config/resources.js';

export const FILE_ROOT_PREFIX = 'file-root:';
export const SYSTEM_ROOTS = 'system-roots';
/** A trust bundle is a few hundred KB at most (Mozilla's is ~220 KB). */
export const MAX_ROOTS_FILE_BYTES = 1 << 20;

/** Whether the name is one of these (it then needs no secret in the config). */
export function isRootsName(name: string): boolean {
  return name === SYSTEM_ROOTS || (name.startsWith(FILE_ROOT_PREFIX) && name.length > FILE_ROOT_PREFIX.length);
}

/**
 * The bundle as a validation secret, or an Error saying why it cannot be had (missing, unreadable,
 * too large, no certificate in it). Read when asked; the caller caches per config.
 */
export function loadRoots(name: string): Secret | Error {
  if (name === SYSTEM_ROOTS) return { name, validationContext: { trustedCa: tls().rootCertificates.join('\n') } };
  const path = name.slice(FILE_ROOT_PREFIX.length);
  try {
    const size = statSync(path).size;
    if (size > MAX_ROOTS_FILE_BYTES) return new Error(`${path} is ${size} bytes, more than a trust bundle (${MAX_ROOTS_FILE_BYTES})`);
    const pem = readFileSync(path, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) return new Error(`${path} holds no PEM certificate`);
    return { name, validationContext: { trustedCa: pem } };
  } catch (err) {
    return new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

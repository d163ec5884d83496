// PERMISSIVE mode: mTLS and plaintext on one port. The listener peeks at the
// first bytes; a TLS handshake record goes to the TLS path (which still
// requires a verified client certificate), anything else to plaintext.
import type { MtlsMode } from './tls-contexts.js';

export type Transport = 'tls' | 'raw_buffer';

/**
 * 'tls' when `head` starts a TLS handshake record (content type 0x16,
 * record version 3.x), 'raw_buffer' when it cannot, undefined when more bytes
 * are needed to decide. Envoy's tls_inspector makes the same call.
 */
export function detectTransport(head: Uint8Array): Transport | undefined {
  if (head.length === 0) return undefined;
  if (head[0] !== 0x16) return 'raw_buffer';
  if (head.length < 3) return undefined;
  return head[1] === 0x03 && head[2]! <= 0x04 ? 'tls' : 'raw_buffer';
}

/** Whether a connection on `transport` is admitted under `mode` (STRICT refuses plaintext). */
export function admits(mode: MtlsMode, transport: Transport): boolean {
  if (mode === 'STRICT') return transport === 'tls';
  if (mode === 'DISABLE') return transport === 'raw_buffer';
  return true;
}

// Envoy's TLS defaults for the contexts the proxy builds (listeners and
// clusters alike): its cipher preference and ECDH groups. Envoy (BoringSSL)
// puts AES-128-GCM first, for TLS 1.3 as for TLS 1.2; Node's OpenSSL default
// starts with AES-256-GCM, which costs more per record for no gain a mesh
// needs, so the mesh sets the order itself. ChaCha20 stays for peers without
// AES hardware.

/** TLS 1.3 suites, then Envoy's default TLS 1.2 cipher list (ECDHE with AEAD only). */
export const MESH_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
].join(':');

/** Envoy's default ecdh_curves. */
export const MESH_ECDH_CURVES = 'X25519:P-256';

/** Spread into every SecureContext / server options the proxy creates. */
export const MESH_CIPHER_OPTIONS = { ciphers: MESH_CIPHERS, ecdhCurve: MESH_ECDH_CURVES } as const;

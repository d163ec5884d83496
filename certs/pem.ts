// PEM bundles split into their certificates. Its own module so the sidecar can
// read trust bundles and chains without loading the X.509 libraries.

/** Splits a PEM bundle into its CERTIFICATE blocks (bounded: at most `max`). */
export function splitPemCerts(pem: string, max = 32): string[] {
  const out = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (out.length > max) throw new Error(`PEM bundle has ${out.length} certificates (limit ${max})`);
  return out.map((s) => s + '\n');
}

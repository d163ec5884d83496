// One place that binds @peculiar/x509 to Node's WebCrypto and makes ECDSA
// P-256 keys (Linkerd's and Istio's ECC default). node-forge cannot make
// ECDSA certificates, so all X.509 work goes through @peculiar/x509.
import 'reflect-metadata'; // @peculiar/x509 needs a Reflect polyfill, loaded before it
import { KeyObject, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
export type KeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export const EC_KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A fresh P-256 key pair. `extractable` only so the PEM form can be handed to Node's TLS in-process. */
export async function generateKeyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY_ALG, true, ['sign', 'verify'])) as KeyPair;
}

export function privateKeyToPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Imports a PEM ECDSA P-256 private key (PKCS#8 or SEC1 "EC PRIVATE KEY") for signing. */
export async function importSigningKeyPem(pem: string): Promise<KeyPair> {
  const priv = createPrivateKey(pem);
  if (priv.asymmetricKeyType !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const what = `${priv.asymmetricKeyType ?? '?'} ${priv.asymmetricKeyDetails?.namedCurve ?? ''}`.trim();
    throw new Error(`unsupported CA key type ${what} (ECDSA P-256 required)`);
  }
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_KEY_ALG, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, EC_KEY_ALG, true, ['verify']);
  return { privateKey, publicKey };
}

export { splitPemCerts } from './pem.js';

export function randomSerialHex(): string {
  // 16 random bytes, top bit cleared so the DER INTEGER stays positive; non-zero first nibble.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

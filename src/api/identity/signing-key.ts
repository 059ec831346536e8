/**
 * @module api/identity/signing-key
 * The RSA key that signs access tokens: `DATA/identity/signing-key.pem` (PKCS#8, mode 0600),
 * created on first start and reused afterwards, so tokens stay valid across restarts. Its public
 * half is served as a JWKS (`/{tenant}/discovery/v2.0/keys`, `/adfs/discovery/keys`); the `kid`
 * is the RFC 7638 JWK thumbprint, stable for the life of the key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readIfExists, writeFileAtomic } from '../http/atomic-file.js';

export interface PublicJwk {
  kty: 'RSA';
  use: 'sig';
  alg: 'RS256';
  kid: string;
  n: string;
  e: string;
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: PublicJwk;
}

export const SIGNING_KEY_FILE = 'signing-key.pem';

/** Builds the key description from a private key (PEM or KeyObject). */
export function signingKeyFrom(privateKey: KeyObject | string): SigningKey {
  const priv = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (priv.asymmetricKeyType !== 'rsa') throw new Error('The token signing key must be an RSA key.');
  const publicKey = createPublicKey(priv);
  const exported = publicKey.export({ format: 'jwk' });
  if (typeof exported.n !== 'string' || typeof exported.e !== 'string') throw new Error('RSA public key without n/e.');
  // RFC 7638: members in lexicographic order, no whitespace
  const canonical = JSON.stringify({ e: exported.e, kty: 'RSA', n: exported.n });
  const kid = createHash('sha256').update(canonical).digest('base64url');
  return {
    kid,
    privateKey: priv,
    publicKey,
    jwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: exported.n, e: exported.e },
  };
}

/** A fresh 2048-bit key (not persisted); tests use it directly. */
export function generateSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return signingKeyFrom(privateKey);
}

/** Loads `identityDir/signing-key.pem`, creating it (and the directory) on first use. */
export async function loadOrCreateSigningKey(identityDir: string): Promise<SigningKey> {
  const path = join(identityDir, SIGNING_KEY_FILE);
  const existing = await readIfExists(path);
  if (existing !== undefined) return signingKeyFrom(existing);
  await mkdir(identityDir, { recursive: true, mode: 0o700 });
  const key = generateSigningKey();
  const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' });
  await writeFileAtomic(path, typeof pem === 'string' ? pem : pem.toString('utf8'), 0o600);
  return key;
}

/** The JSON Web Key Set document served on `jwks_uri`. */
export function jwksOf(...keys: SigningKey[]): { keys: PublicJwk[] } {
  return { keys: keys.map((k) => k.jwk) };
}

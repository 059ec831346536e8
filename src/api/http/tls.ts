/**
 * @module api/http/tls
 * The server's TLS identity: `DATA/tls/cert.pem` and `DATA/tls/key.pem`, a self-signed
 * certificate for `127.0.0.1` and `localhost` generated on first start and reused afterwards.
 * Clients trust the certificate itself as their CA (`NODE_EXTRA_CA_CERTS`, `REQUESTS_CA_BUNDLE`,
 * `curl --cacert`, `tlsOptions: { ca }` in the Azure SDKs).
 *
 * Choices, each checked against real clients (Node 20, curl, Python 3.11 `ssl` including
 * `VERIFY_X509_STRICT`, `openssl s_client -x509_strict`, az 2.45):
 * - EC P-256 key, ECDSA-SHA256 signature: generated in ~30 ms (RSA 2048 takes ~200 ms) and
 *   accepted everywhere tested.
 * - `basicConstraints CA:FALSE` (critical), `keyUsage digitalSignature`, `extKeyUsage serverAuth`,
 *   `subjectAltName IP:127.0.0.1, DNS:localhost`; a self-signed end-entity certificate works as
 *   its own trust anchor in OpenSSL.
 * - Ten years of validity, starting one hour in the past to tolerate clock skew.
 *
 * The key is written with mode 0600. If only one of the two files exists, both are regenerated.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { readIfExists, writeFileAtomic } from './atomic-file.js';

export interface TlsMaterial {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

const VALIDITY_YEARS = 10;

/** A new self-signed certificate for 127.0.0.1 and localhost. */
export async function generateCertificate(now = new Date()): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(now.getTime() - 3600_000);
  const notAfterDate = new Date(notBeforeDate);
  notAfterDate.setFullYear(notAfterDate.getFullYear() + VALIDITY_YEARS);
  const pems = await generate([{ name: 'commonName', value: 'snapdisk local' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Loads `tlsDir/cert.pem` + `key.pem`, creating them (and the directory) on first use. */
export async function ensureTlsMaterial(tlsDir: string): Promise<TlsMaterial> {
  const certPath = join(tlsDir, 'cert.pem');
  const keyPath = join(tlsDir, 'key.pem');
  const [cert, key] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)]);
  if (cert !== undefined && key !== undefined) return { certPath, keyPath, cert, key };
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  const fresh = await generateCertificate();
  await writeFileAtomic(keyPath, fresh.key, 0o600);
  await writeFileAtomic(certPath, fresh.cert, 0o644);
  return { certPath, keyPath, ...fresh };
}

/**
 * @module api/identity/dev-credentials
 * `DATA/dev-credentials.json`, the file of operational-contract.md:
 *
 *   { tenantId, subscriptionId, secondarySubscriptionId, clientId, clientSecret,
 *     restrictedClientId, restrictedClientSecret, resourceManager, caCertPath }
 *
 * Created on first start with random GUIDs and secrets (mode 0600). Later starts keep every id
 * and secret and only rewrite `resourceManager` (the HTTPS URL actually bound) and `caCertPath`
 * when they changed, so a server moved to another port keeps its principals and subscriptions.
 * A file with a missing or non-string key is a start-up error naming the key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readIfExists, writeFileAtomic } from '../http/atomic-file.js';

export interface DevCredentials {
  tenantId: string;
  subscriptionId: string;
  secondarySubscriptionId: string;
  clientId: string;
  clientSecret: string;
  restrictedClientId: string;
  restrictedClientSecret: string;
  resourceManager: string;
  caCertPath: string;
}

export const DEV_CREDENTIALS_FILE = 'dev-credentials.json';

const KEYS = [
  'tenantId',
  'subscriptionId',
  'secondarySubscriptionId',
  'clientId',
  'clientSecret',
  'restrictedClientId',
  'restrictedClientSecret',
  'resourceManager',
  'caCertPath',
] as const satisfies readonly (keyof DevCredentials)[];

/** A client secret in the style of Azure AD ones: 40 URL-safe characters. */
export function newClientSecret(): string {
  return randomBytes(30).toString('base64url');
}

export function generateDevCredentials(resourceManager: string, caCertPath: string): DevCredentials {
  return {
    tenantId: randomUUID(),
    subscriptionId: randomUUID(),
    secondarySubscriptionId: randomUUID(),
    clientId: randomUUID(),
    clientSecret: newClientSecret(),
    restrictedClientId: randomUUID(),
    restrictedClientSecret: newClientSecret(),
    resourceManager,
    caCertPath,
  };
}

export function parseDevCredentials(text: string, path: string): DevCredentials {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof raw !== 'object' || raw === null) throw new Error(`${path}: expected a JSON object`);
  const record = raw as Record<string, unknown>;
  const out: Partial<DevCredentials> = {};
  for (const key of KEYS) {
    const value = record[key];
    if (typeof value !== 'string' || value === '') throw new Error(`${path}: '${key}' must be a non-empty string`);
    out[key] = value;
  }
  return out as DevCredentials;
}

const serialise = (creds: DevCredentials): string =>
  `${JSON.stringify(Object.fromEntries(KEYS.map((k) => [k, creds[k]])), null, 2)}\n`;

/**
 * Loads `dataDir/dev-credentials.json`, creating it on first start; keeps ids and secrets, and
 * refreshes `resourceManager`/`caCertPath` to the given values.
 */
export async function loadOrCreateDevCredentials(
  dataDir: string,
  current: { resourceManager: string; caCertPath: string },
): Promise<DevCredentials> {
  const path = join(dataDir, DEV_CREDENTIALS_FILE);
  const text = await readIfExists(path);
  if (text === undefined) {
    const fresh = generateDevCredentials(current.resourceManager, current.caCertPath);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, serialise(fresh), 0o600);
    return fresh;
  }
  const existing = parseDevCredentials(text, path);
  if (existing.resourceManager === current.resourceManager && existing.caCertPath === current.caCertPath) {
    await chmod(path, 0o600);
    return existing;
  }
  const updated = { ...existing, ...current };
  await writeFileAtomic(path, serialise(updated), 0o600);
  return updated;
}

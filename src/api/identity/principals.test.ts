/**
 * @module api/identity/principals.test
 * The development credentials file (created once, exact keys, mode 0600, ids kept on restart,
 * resourceManager refreshed), the persisted signing key, and the principals' rules.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSnapdiskError } from '../../core/errors.js';
import { DEV_CREDENTIALS_FILE, generateDevCredentials, loadOrCreateDevCredentials } from './dev-credentials.js';
import { Principals } from './principals.js';
import { loadOrCreateSigningKey } from './signing-key.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'snapdisk-principals-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dev-credentials.json', () => {
  it('first start: exact keys, random GUIDs and secrets, mode 0600', async () => {
    const creds = await loadOrCreateDevCredentials(dir, { resourceManager: 'https://127.0.0.1:7443/', caCertPath: '/x/cert.pem' });
    const path = join(dir, DEV_CREDENTIALS_FILE);
    const onDisk = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    expect(Object.keys(onDisk)).toEqual([
      'tenantId',
      'subscriptionId',
      'secondarySubscriptionId',
      'clientId',
      'clientSecret',
      'restrictedClientId',
      'restrictedClientSecret',
      'resourceManager',
      'caCertPath',
    ]);
    expect(onDisk).toEqual(creds);
    for (const k of ['tenantId', 'subscriptionId', 'secondarySubscriptionId', 'clientId', 'restrictedClientId'] as const) {
      expect(creds[k]).toMatch(GUID);
    }
    expect(creds.clientSecret.length).toBeGreaterThanOrEqual(32);
    expect(creds.clientSecret).not.toBe(creds.restrictedClientSecret);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('later starts keep ids and secrets and refresh resourceManager/caCertPath', async () => {
    const first = await loadOrCreateDevCredentials(dir, { resourceManager: 'https://127.0.0.1:1/', caCertPath: '/a' });
    const again = await loadOrCreateDevCredentials(dir, { resourceManager: 'https://127.0.0.1:1/', caCertPath: '/a' });
    expect(again).toEqual(first);
    const moved = await loadOrCreateDevCredentials(dir, { resourceManager: 'https://127.0.0.1:2/', caCertPath: '/b' });
    expect(moved).toEqual({ ...first, resourceManager: 'https://127.0.0.1:2/', caCertPath: '/b' });
    expect(JSON.parse(await readFile(join(dir, DEV_CREDENTIALS_FILE), 'utf8'))).toEqual(moved);
  });

  it('a file with a missing key is an error naming the key', async () => {
    await writeFile(join(dir, DEV_CREDENTIALS_FILE), JSON.stringify({ tenantId: 't' }));
    await expect(loadOrCreateDevCredentials(dir, { resourceManager: 'r', caCertPath: 'c' })).rejects.toThrow(
      /'subscriptionId'/,
    );
  });
});

describe('signing key', () => {
  it('is created once (0600) and reused with the same kid', async () => {
    const a = await loadOrCreateSigningKey(join(dir, 'identity'));
    const b = await loadOrCreateSigningKey(join(dir, 'identity'));
    expect(b.kid).toBe(a.kid);
    expect(a.jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: a.kid });
    expect((await stat(join(dir, 'identity', 'signing-key.pem'))).mode & 0o777).toBe(0o600);
  });
});

describe('Principals', () => {
  const creds = generateDevCredentials('https://127.0.0.1:7443/', '/c.pem');
  const principals = new Principals(creds);

  it('authenticate: right secret only, for either principal', () => {
    expect(principals.authenticate(creds.clientId, creds.clientSecret)?.kind).toBe('development');
    expect(principals.authenticate(creds.restrictedClientId.toUpperCase(), creds.restrictedClientSecret)?.kind).toBe(
      'restricted',
    );
    expect(principals.authenticate(creds.clientId, creds.restrictedClientSecret)).toBeUndefined();
    expect(principals.authenticate(creds.clientId, '')).toBeUndefined();
    expect(principals.authenticate('unknown', creds.clientSecret)).toBeUndefined();
  });

  it('object ids are stable GUIDs distinct from client ids', () => {
    const again = new Principals(creds);
    expect(again.development.objectId).toBe(principals.development.objectId);
    expect(principals.development.objectId).toMatch(GUID);
    expect(principals.development.objectId).not.toBe(creds.clientId);
    expect(principals.restricted.objectId).not.toBe(principals.development.objectId);
  });

  it('subscriptionsOf: development has both, restricted only the secondary', () => {
    expect(principals.subscriptionsOf(principals.development.objectId)).toEqual([creds.subscriptionId, creds.secondarySubscriptionId]);
    expect(principals.subscriptionsOf(principals.restricted.objectId)).toEqual([creds.secondarySubscriptionId]);
    expect(principals.subscriptionsOf('nobody')).toEqual([]);
    expect(principals.subscriptionIds).toEqual([creds.subscriptionId, creds.secondarySubscriptionId]);
  });

  it('authorize: AuthorizationFailed outside the principal, SubscriptionNotFound for unknown ids', () => {
    expect(() => principals.authorize(principals.development, creds.subscriptionId.toUpperCase())).not.toThrow();
    expect(() => principals.authorize(principals.restricted, creds.secondarySubscriptionId)).not.toThrow();
    const denied = (() => {
      try {
        principals.authorize(principals.restricted, creds.subscriptionId, 'Microsoft.Compute/disks/write');
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(isSnapdiskError(denied, 'AuthorizationFailed')).toBe(true);
    expect(String((denied as Error).message)).toContain('Microsoft.Compute/disks/write');
    expect(() => principals.authorize(principals.development, 'ffffffff-0000-0000-0000-000000000000')).toThrow(
      /could not be found/,
    );
  });
});

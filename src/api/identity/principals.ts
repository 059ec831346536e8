/**
 * @module api/identity/principals
 * The two service principals of the development credentials and what they may reach:
 *
 * | principal     | client id            | subscriptions                                  |
 * |---------------|----------------------|------------------------------------------------|
 * | `development` | `clientId`           | `subscriptionId`, `secondarySubscriptionId`    |
 * | `restricted`  | `restrictedClientId` | `secondarySubscriptionId`                      |
 *
 * Object ids (`oid` in tokens) are derived from tenant and client id, so they are stable across
 * restarts without being stored. Secrets are compared in constant time (SHA-256 digests of both
 * sides, then `timingSafeEqual`, so neither length nor content leaks through timing).
 * The subscriptions themselves are catalog rows created by the engine from `subscriptionIds`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SnapdiskError } from '../../core/errors.js';
import type { DevCredentials } from './dev-credentials.js';

export type PrincipalKind = 'development' | 'restricted';

export interface Principal {
  readonly kind: PrincipalKind;
  readonly displayName: string;
  readonly tenantId: string;
  /** The application (client) id: `appid` in tokens. */
  readonly clientId: string;
  /** The service principal object id: `oid` and `sub` in tokens. */
  readonly objectId: string;
  readonly subscriptionIds: readonly string[];
}

/** A GUID-shaped id derived from `parts` (SHA-256 based, version nibble 5 for recognisability). */
export function derivedGuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const sameId = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export class Principals {
  readonly tenantId: string;
  readonly development: Principal;
  readonly restricted: Principal;
  /** Every subscription id the server knows (the engine creates one catalog row per id). */
  readonly subscriptionIds: readonly string[];
  private readonly secrets: ReadonlyMap<Principal, string>;

  constructor(creds: DevCredentials) {
    this.tenantId = creds.tenantId;
    const make = (kind: PrincipalKind, clientId: string, subscriptionIds: string[]): Principal => ({
      kind,
      displayName: kind === 'development' ? 'snapdisk-dev' : 'snapdisk-restricted',
      tenantId: creds.tenantId,
      clientId,
      objectId: derivedGuid('snapdisk-principal', creds.tenantId, clientId),
      subscriptionIds,
    });
    this.development = make('development', creds.clientId, [creds.subscriptionId, creds.secondarySubscriptionId]);
    this.restricted = make('restricted', creds.restrictedClientId, [creds.secondarySubscriptionId]);
    this.subscriptionIds = [creds.subscriptionId, creds.secondarySubscriptionId];
    this.secrets = new Map([
      [this.development, creds.clientSecret],
      [this.restricted, creds.restrictedClientSecret],
    ]);
  }

  all(): readonly Principal[] {
    return [this.development, this.restricted];
  }

  byClientId(clientId: string): Principal | undefined {
    return this.all().find((p) => sameId(p.clientId, clientId));
  }

  byObjectId(objectId: string): Principal | undefined {
    return this.all().find((p) => sameId(p.objectId, objectId));
  }

  /** The principal whose client id and secret these are, or `undefined` (never says which was wrong). */
  authenticate(clientId: string, clientSecret: string): Principal | undefined {
    const principal = this.byClientId(clientId);
    // compare against something even for an unknown id, so timing does not reveal valid ids
    const expected = principal ? (this.secrets.get(principal) ?? '') : '\u0000unknown-client';
    const ok = secretsEqual(clientSecret, expected);
    return ok && principal ? principal : undefined;
  }

  /** Subscription ids the principal with this object id may use ([] for an unknown one). */
  subscriptionsOf(objectId: string): readonly string[] {
    return this.byObjectId(objectId)?.subscriptionIds ?? [];
  }

  /**
   * Throws unless `principal` may act on `subscriptionId`: `SubscriptionNotFound` (404) for an id
   * the server does not know, `AuthorizationFailed` (403) for one outside the principal's reach.
   */
  authorize(principal: Principal, subscriptionId: string, action = 'Microsoft.Resources/subscriptions/read'): void {
    if (principal.subscriptionIds.some((s) => sameId(s, subscriptionId))) return;
    if (!this.subscriptionIds.some((s) => sameId(s, subscriptionId))) {
      throw new SnapdiskError('SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
    }
    throw new SnapdiskError(
      'AuthorizationFailed',
      `The client '${principal.clientId}' with object id '${principal.objectId}' does not have authorization to perform action '${action}' over scope '/subscriptions/${subscriptionId}' or the scope is invalid.`,
      { hint: 'If access was recently granted, please refresh your credentials.' },
    );
  }
}

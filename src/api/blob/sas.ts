/**
 * @module api/blob/sas
 * Shared access signatures for the page-blob data plane. A SAS URL names one grant (`si`), its
 * permissions (`sp`: `r` or `rw`), its validity (`st`, `se`) and carries an HMAC-SHA256 signature
 * (`sig`) over those fields and the resource, made with the server's key (DATA/identity/sas.key).
 * The signature proves the URL came from this server; revocation and expiry are then checked
 * against the grant record in the catalog on every request.
 *
 *   https://host:port/md-<grant id without dashes>/abcd?sv=2018-03-28&sr=b&si=<grant>&sp=r&st=..&se=..&sig=..
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SnapdiskError } from '../../core/errors.js';
import type { Grant } from '../../core/model.js';

export const SAS_VERSION = '2018-03-28';
export const BLOB_NAME = 'abcd';

export interface SasClaims {
  grantId: string;
  permissions: 'r' | 'rw';
  start: string;
  expiry: string;
  resourceUniqueId: string;
}

export class SasSigner {
  constructor(private readonly key: Buffer) {}

  /** Loads the key from `path`, creating it (32 random bytes, mode 0600) on first use. */
  static open(path: string): SasSigner {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600 });
    }
    return new SasSigner(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'));
  }

  /** The container segment of a grant's URL path. */
  static container(grantId: string): string {
    return `md-${grantId.replace(/-/g, '')}`;
  }

  /** The absolute SAS URL of `grant` on `baseUrl` (scheme://host:port of the ARM request). */
  url(baseUrl: string, grant: Grant): string {
    const perms = grant.access === 'Write' ? 'rw' : 'r';
    const q = new URLSearchParams({
      sv: SAS_VERSION,
      sr: 'b',
      si: grant.id,
      sp: perms,
      st: isoSeconds(grant.createdAt),
      se: isoSeconds(grant.expiresAt),
    });
    q.set('sig', this.sign({ grantId: grant.id, permissions: perms, start: isoSeconds(grant.createdAt), expiry: isoSeconds(grant.expiresAt), resourceUniqueId: grant.resourceUniqueId }));
    return `${baseUrl.replace(/\/+$/, '')}/${SasSigner.container(grant.id)}/${BLOB_NAME}?${q.toString()}`;
  }

  /**
   * Reads the signed fields of a request's query. Throws `AuthenticationFailed` when a field is
   * missing or the signature does not match for `resourceUniqueId` (the grant's resource).
   */
  parse(query: URLSearchParams): Omit<SasClaims, 'resourceUniqueId'> & { sig: string } {
    const grantId = query.get('si');
    const sp = query.get('sp');
    const st = query.get('st');
    const se = query.get('se');
    const sig = query.get('sig');
    if (!grantId || !sp || !st || !se || !sig) {
      throw new SnapdiskError('AuthenticationFailed', 'Server failed to authenticate the request: the SAS is incomplete (si, sp, st, se and sig are required).');
    }
    if (sp !== 'r' && sp !== 'rw') throw new SnapdiskError('AuthenticationFailed', `Signed permissions '${sp}' are not valid.`);
    return { grantId, permissions: sp, start: st, expiry: se, sig };
  }

  verify(claims: SasClaims, sig: string): void {
    const expected = Buffer.from(this.sign(claims), 'base64');
    const given = Buffer.from(sig, 'base64');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new SnapdiskError(
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
      );
    }
  }

  private sign(c: SasClaims): string {
    const text = [SAS_VERSION, c.grantId, c.permissions, c.start, c.expiry, c.resourceUniqueId].join('\n');
    return createHmac('sha256', this.key).update(text).digest('base64');
  }
}

function isoSeconds(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

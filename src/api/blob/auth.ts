/**
 * @module api/blob/auth
 * Who may do what on a SAS URL. `authorize` turns the container and query of a request into the
 * grant and the resource (disk or snapshot record) it names, or throws a 403:
 *
 *   query ─ SasSigner.parse ─ SasSigner.verify(sig, grant's resource) ─ grant live (not revoked, not expired)
 *         ─ container = md-<grant> ─ permissions ─ load disk/snapshot
 *
 * - Any SAS fault (missing field, bad or foreign signature, unknown, expired or revoked grant,
 *   container of another grant, `?snapshot=` with a blob SAS, start time in the future) is
 *   `AuthenticationFailed`. Only a valid read SAS used to write is `AuthorizationPermissionMismatch`.
 * - The signature is checked before revocation and expiry (it covers the grant's resource id,
 *   read from the grant record), so a forged URL learns nothing about the grant.
 * - `authorizeUrl` does the same for a SAS URL met inside a request (`x-ms-previous-snapshot-url`,
 *   `x-ms-copy-source`): the host part is ignored (a client may reach us by several names); the
 *   signature alone proves the URL was issued by this server.
 * - Catalog reads per request: the grant once (its record serves the signature check and then
 *   revocation and expiry), and the resource once — none for a disk whose runtime is loaded on
 *   this node (the runtime holds the record the catalog holds: every change goes through it).
 */

import { SnapdiskError } from '../../core/errors.js';
import type { DiskRecord, Grant, SnapshotRecord } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import { blobError } from './errors.js';
import { BLOB_NAME, SasSigner } from './sas.js';

export type BlobResource = { kind: 'disk'; disk: DiskRecord } | { kind: 'snapshot'; snapshot: SnapshotRecord };

export interface BlobAccess {
  grant: Grant;
  resource: BlobResource;
}

export interface AuthDeps {
  engine: Engine;
  sas: SasSigner;
}

/** Clock skew tolerated on the signed start time (Azure's recommendation is 15 minutes). */
const START_SKEW_MS = 15 * 60 * 1000;

const AUTH_PREFIX = 'Server failed to authenticate the request.';

function authFailed(detail: string): SnapdiskError {
  return blobError('AuthenticationFailed', `${AUTH_PREFIX} ${detail}`);
}

/**
 * Checks the SAS of a request on `/{container}/abcd` for `need` and returns its grant and
 * resource, as they are now (both are read again on every call: their state may change).
 */
export async function authorize(deps: AuthDeps, container: string, query: URLSearchParams, need: 'Read' | 'Write'): Promise<BlobAccess> {
  if (query.has('snapshot') || query.has('versionid')) {
    throw authFailed('A blob SAS (sr=b) does not grant access to blob snapshots or versions: remove the snapshot parameter.');
  }
  const sr = query.get('sr');
  if (sr !== null && sr !== 'b') throw authFailed(`The signed resource '${sr}' is not valid for this blob: it must be 'b'.`);
  let claims: ReturnType<SasSigner['parse']>;
  try {
    claims = deps.sas.parse(query);
  } catch (err) {
    throw rethrowAuth(err);
  }
  // signature first (a forged URL learns nothing about the grant), then revocation and expiry,
  // both on the one record read
  const stored = await deps.engine.grants.peek(claims.grantId);
  try {
    deps.sas.verify({ ...claims, resourceUniqueId: stored?.resourceUniqueId ?? '' }, claims.sig);
  } catch (err) {
    throw rethrowAuth(err);
  }
  let grant: Grant;
  try {
    // whether it allows writing is checked below against the signed permissions too
    grant = deps.engine.grants.check(stored, 'Read');
  } catch (err) {
    throw rethrowAuth(err);
  }
  if (container.toLowerCase() !== SasSigner.container(grant.id)) {
    throw authFailed('The SAS was issued for another container: use the URL exactly as beginGetAccess returned it.');
  }
  const start = Date.parse(claims.start);
  if (Number.isFinite(start) && start - START_SKEW_MS > deps.engine.ctx.now().getTime()) {
    throw authFailed(`The SAS is not valid before ${claims.start}.`);
  }
  if (need === 'Write' && (claims.permissions !== 'rw' || grant.access !== 'Write')) {
    throw blobError(
      'AuthorizationPermissionMismatch',
      'This request is not authorized to perform this operation using this permission: the SAS grants read access only.',
      { hint: 'Writes need the SAS of a Write grant (beginGetAccess with access Write on a disk created for upload).' },
    );
  }
  return { grant, resource: await loadResource(deps.engine, grant) };
}

/** `authorize` for an absolute SAS URL (read access); `what` names the URL in messages. */
export async function authorizeUrl(deps: AuthDeps, url: string, what: string): Promise<BlobAccess> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw authFailed(`The ${what} is not an absolute URL.`);
  }
  const segments = parsed.pathname.split('/').filter((s) => s !== '');
  const [container, blob] = segments;
  if (segments.length !== 2 || container === undefined || blob?.toLowerCase() !== BLOB_NAME) {
    throw authFailed(`The ${what} is not a SAS URL of this server (expected /<container>/${BLOB_NAME}?<sas>).`);
  }
  try {
    return await authorize(deps, decodeURIComponent(container), parsed.searchParams, 'Read');
  } catch (err) {
    if (err instanceof SnapdiskError && (err.code === 'AuthenticationFailed' || err.code === 'AuthorizationFailed')) {
      throw blobError('AuthenticationFailed', `The ${what} failed authentication: ${err.message}`);
    }
    throw err;
  }
}

/**
 * True while the grant of a request in progress is not revoked (long downloads check it every
 * few pieces; a grant that only expired meanwhile keeps serving, as an Azure SAS does).
 */
export async function stillGranted(engine: Engine, grantId: string): Promise<boolean> {
  const g = await engine.grants.peek(grantId);
  return g !== null && g.revokedAt === null;
}

/** Engine/SAS auth failures become storage `AuthenticationFailed` with the detail kept. */
function rethrowAuth(err: unknown): unknown {
  if (err instanceof SnapdiskError && err.code === 'AuthenticationFailed') {
    return authFailed(err.message.startsWith(AUTH_PREFIX) ? err.message.slice(AUTH_PREFIX.length).trim() : err.message);
  }
  return err;
}

async function loadResource(engine: Engine, grant: Grant): Promise<BlobResource> {
  try {
    if (grant.resourceKind === 'disk') {
      const rt = engine.runtimes.peek(grant.resourceUniqueId);
      return { kind: 'disk', disk: rt && !rt.closed ? rt.disk : await engine.disks.getById(grant.resourceUniqueId) };
    }
    return { kind: 'snapshot', snapshot: await engine.snapshots.getById(grant.resourceUniqueId) };
  } catch (err) {
    if (err instanceof SnapdiskError && (err.code === 'ResourceNotFound' || err.code === 'NotFound')) {
      throw blobError('BlobNotFound', `The ${grant.resourceKind} of this SAS no longer exists.`);
    }
    throw err;
  }
}

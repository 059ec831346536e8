/**
 * @module api/arm/sources
 * The source of a new disk or snapshot (`creationData`), checked before the engine is asked:
 *
 * - `sourceResourceId` (Copy, CopyStart): the caller must be allowed to read the source's
 *   subscription (403 AuthorizationFailed / 404 SubscriptionNotFound, as ARM answers for a linked
 *   resource), and the source must exist (404 ResourceNotFound naming it, target
 *   `properties.creationData.sourceResourceId`).
 * - `sourceUri` (Import): only SAS URLs issued by this server can be imported. The URL is
 *   resolved to its grant (`md-<grant>` path, `si` query), its signature verified and the grant
 *   checked (not revoked, not expired); the grant's disk or snapshot becomes the
 *   `sourceResourceId` the engine copies from. The SAS is the caller's authority, as in Azure.
 *   Any other URL is a 400 that says so.
 *
 * The source's descriptive properties (osType, hyperVGeneration, ...) are inherited by the new
 * resource unless the request gives them, as Azure does for copies.
 */
import { isSnapdiskError, invalid, SnapdiskError } from '../../core/errors.js';
import { parseResourceId, resourceId } from '../../core/ids.js';
import type { CreationData, DiskRecord, SnapshotRecord } from '../../core/model.js';
import { SasSigner } from '../blob/sas.js';
import type { Caller } from '../identity/identity.js';
import { authorizeAlso } from './request.js';
import type { ArmDeps } from './request.js';

const T_ID = 'properties.creationData.sourceResourceId';
const T_URI = 'properties.creationData.sourceUri';
const INHERITED = ['osType', 'hyperVGeneration', 'supportedCapabilities', 'purchasePlan', 'supportsHibernation'] as const;

export interface ResolvedSource {
  creationData: CreationData;
  /** Properties the new resource takes from its source. */
  inherited: Record<string, unknown>;
}

type SourceRecord = DiskRecord | SnapshotRecord;

/** Checks and resolves the source of a create request (none for Empty and Upload). */
export async function resolveSource(deps: ArmDeps, caller: Caller, cd: CreationData): Promise<ResolvedSource> {
  if (cd.createOption === 'Import' && cd.sourceUri !== undefined) {
    const { id, record } = await resolveImport(deps, cd.sourceUri);
    return { creationData: { ...cd, sourceResourceId: id }, inherited: inherit(record) };
  }
  if (cd.sourceResourceId === undefined) return { creationData: cd, inherited: {} };
  const src = parseResourceId(cd.sourceResourceId, T_ID);
  authorizeAlso(deps, caller, src.subscriptionId, `Microsoft.Compute/${src.kind}/read`);
  const record = src.kind === 'disks' ? await deps.engine.disks.find(src) : await deps.engine.snapshots.find(src);
  if (!record) {
    throw new SnapdiskError(
      'ResourceNotFound',
      `The source resource 'Microsoft.Compute/${src.kind}/${src.name}' under resource group '${src.resourceGroup}' was not found.`,
      { target: T_ID, hint: 'Check sourceResourceId: az disk list / az snapshot list show the ids.' },
    );
  }
  return { creationData: cd, inherited: inherit(record) };
}

function inherit(record: SourceRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of INHERITED) if (record.properties[k] !== undefined) out[k] = record.properties[k];
  return out;
}

function notOurs(detail: string): SnapdiskError {
  return invalid(
    `sourceUri ${detail}: this server can only import from a SAS URL it issued itself (the accessSAS of beginGetAccess on a disk or snapshot).`,
    T_URI,
    'Grant read access to the source disk or snapshot and pass its accessSAS, or create from it directly with createOption Copy.',
  );
}

/** Resolves a SAS URL of this server to the disk or snapshot its grant is for. */
async function resolveImport(deps: ArmDeps, uri: string): Promise<{ id: string; record: SourceRecord }> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw notOurs('is not an absolute URL');
  }
  const m = /^\/(md-[0-9a-f]{32})\/abcd\/?$/i.exec(url.pathname);
  if (!m?.[1] || !url.searchParams.get('si')) throw notOurs('is not a SAS URL of this server');
  const container = m[1].toLowerCase();
  try {
    const { sig, ...claims } = deps.sas.parse(url.searchParams);
    if (SasSigner.container(claims.grantId).toLowerCase() !== container) throw notOurs('names another grant than its path');
    const grant = await deps.engine.grants.validate(claims.grantId, 'Read');
    deps.sas.verify({ ...claims, resourceUniqueId: grant.resourceUniqueId }, sig);
    const record = grant.resourceKind === 'disk'
      ? await deps.engine.disks.getById(grant.resourceUniqueId)
      : await deps.engine.snapshots.getById(grant.resourceUniqueId);
    return { id: resourceId(grant.resourceKind === 'disk' ? 'disks' : 'snapshots', record), record };
  } catch (err) {
    if (isSnapdiskError(err, 'AuthenticationFailed') || isSnapdiskError(err, 'AuthorizationFailed')) {
      throw invalid(`The SAS URL in sourceUri cannot be used: ${err.message}`, T_URI, 'Grant access again (beginGetAccess) and use the new accessSAS.');
    }
    if (isSnapdiskError(err, 'ResourceNotFound')) {
      throw invalid('The disk or snapshot behind the SAS URL in sourceUri no longer exists.', T_URI);
    }
    throw err;
  }
}

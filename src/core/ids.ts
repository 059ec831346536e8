/**
 * @module core/ids
 * ARM resource ids of disks and snapshots: building them with canonical casing and parsing the
 * ones clients send (any casing, with or without the leading slash).
 */

import { invalid } from './errors.js';
import type { ResourceKey } from './model.js';

export type ComputeKind = 'disks' | 'snapshots';

export interface ParsedResourceId extends ResourceKey {
  kind: ComputeKind;
}

const ID_RE =
  /^\/?subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(disks|snapshots)\/([^/]+)\/?$/i;

export function resourceId(kind: ComputeKind, key: ResourceKey): string {
  return `/subscriptions/${key.subscriptionId}/resourceGroups/${key.resourceGroup}/providers/Microsoft.Compute/${kind}/${key.name}`;
}

export function parseResourceId(id: string, target = 'properties.creationData.sourceResourceId'): ParsedResourceId {
  const m = ID_RE.exec(id.trim());
  if (!m) {
    throw invalid(
      `'${id}' is not the resource id of a disk or snapshot.`,
      target,
      'Use /subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/disks/{name} (or snapshots/{name}).',
    );
  }
  const [, subscriptionId = '', resourceGroup = '', kind = '', name = ''] = m;
  return {
    subscriptionId: subscriptionId.toLowerCase(),
    resourceGroup,
    name,
    kind: kind.toLowerCase() === 'disks' ? 'disks' : 'snapshots',
  };
}

export function tryParseResourceId(id: string): ParsedResourceId | null {
  return ID_RE.test(id.trim()) ? parseResourceId(id) : null;
}

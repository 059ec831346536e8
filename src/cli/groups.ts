/**
 * @module cli/groups
 * Resource groups for the `group` commands: options and az's output model.
 */

import type { OptionSpec } from './args.js';
import type { JsonObject } from './output/az-shape.js';
import { toAz } from './output/az-shape.js';
import { RESOURCE_GROUP } from './output/az-models.js';

export const GROUP_NAME: OptionSpec = { name: '--name', aliases: ['-n', '--resource-group', '-g'], kind: 'string', required: true, metavar: 'NAME', help: 'Name of resource group.' };

export function groupToAz(wire: unknown): JsonObject {
  return toAz(RESOURCE_GROUP, wire);
}

/** az's table transformer of `group list`. */
export function groupTable(result: unknown): unknown {
  const rows = Array.isArray(result) ? (result as JsonObject[]) : [result as JsonObject];
  return rows.map((r) => ({ Name: r.name, Location: r.location, Status: (r.properties as JsonObject | null)?.provisioningState ?? null }));
}

/**
 * @module cli/output/az-shape
 * ARM JSON → what az prints for it. az deserialises a response into its SDK model and prints
 * `todict(model)`: `properties` flattened into the top level, every field of the model present
 * (`null` when absent), names in az's camelCase (`diskSizeGb`), timestamps as Python isoformat;
 * then it adds `resourceGroup` to every object whose `id` is a resource-group-scoped id.
 *
 * Design notes:
 * - Unknown keys of nested objects and of the top level are kept as they are (msrest's
 *   additional properties, which az merges in).
 * - Unknown keys inside `properties` are dropped by az 2.45 (`incrementalSnapshotFamilyId`,
 *   `snapshotAccessState`, `LastOwnershipUpdateTime` are newer than its models). snapdisk keeps
 *   them, after az's fields, but marks them as extras: table output leaves them out, so
 *   `-o table` shows exactly az's columns while JSON and `--query` can still use them.
 */

import { NESTED } from './az-models.js';
import type { AzModel } from './az-models.js';
import { pyIsoformat } from './python.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Keys of an object that az would not print (extras kept by snapdisk). */
const EXTRAS = new WeakMap<object, Set<string>>();

/** The extra (non-az) keys of an object shaped by `toAz`. */
export function extraKeys(obj: object): ReadonlySet<string> | undefined {
  return EXTRAS.get(obj);
}

interface Field {
  key: string;
  path: string[];
  type: string;
}

const parsed = new Map<AzModel, Field[]>();

function fields(model: AzModel): Field[] {
  let f = parsed.get(model);
  if (!f) {
    f = model.map((spec) => {
      const [key = '', path = '', type = 'str'] = spec.split(':');
      return { key, path: path.split('.'), type };
    });
    parsed.set(model, f);
  }
  return f;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function at(obj: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function plain(v: unknown): Json {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.map(plain);
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v as Json;
}

function convert(v: unknown, type: string): Json {
  if (v === undefined || v === null) return null;
  if (type.startsWith('[')) {
    const inner = type.slice(1, -1);
    return Array.isArray(v) ? v.map((x) => convert(x, inner)) : null;
  }
  const nested = NESTED[type];
  if (nested) return isObject(v) ? shape(nested, v, false) : plain(v);
  if (type === 'date') return typeof v === 'string' ? pyIsoformat(v) : plain(v);
  return plain(v);
}

function shape(model: AzModel, wire: Record<string, unknown>, top: boolean): JsonObject {
  const out: JsonObject = {};
  const used = new Set<string>();
  for (const f of fields(model)) {
    out[f.key] = convert(at(wire, f.path), f.type);
    used.add(f.path[0] ?? '');
  }
  for (const [k, v] of Object.entries(wire)) {
    if (!used.has(k) && v !== undefined) out[k] = plain(v);
  }
  const flattened = fields(model).filter((f) => f.path[0] === 'properties' && f.path.length === 2);
  if (top && isObject(wire.properties) && flattened.length > 0) {
    const known = new Set(flattened.map((f) => f.path[1] ?? ''));
    const extras = new Set<string>();
    for (const [k, v] of Object.entries(wire.properties)) {
      if (known.has(k) || k in out) continue;
      out[k] = plain(v);
      extras.add(k);
    }
    if (extras.size > 0) EXTRAS.set(out, extras);
  }
  return out;
}

/** The resource group of a resource-group-scoped id (az's `_parse_id`), if any. */
function groupOf(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return undefined;
  const parts = id.split('/');
  if ((parts[3] ?? '').toLowerCase() !== 'resourcegroups' || parts.length < 9) return undefined;
  return parts[4];
}

/** az's global `resourceGroup` transform, in place: every object with such an `id` gets one. */
export function addResourceGroups(value: Json): Json {
  if (Array.isArray(value)) {
    for (const v of value) addResourceGroups(v);
  } else if (value !== null && typeof value === 'object') {
    if (!Object.keys(value).some((k) => k.toLowerCase() === 'resourcegroup')) {
      const rg = groupOf(value.id);
      if (rg !== undefined) value.resourceGroup = rg;
    }
    for (const [k, v] of Object.entries(value)) if (k !== 'sourceVault') addResourceGroups(v);
  }
  return value;
}

/** One ARM resource (or `AccessUri`) as az prints it. */
export function toAz(model: AzModel, wire: unknown): JsonObject {
  const out = shape(model, isObject(wire) ? wire : {}, true);
  addResourceGroups(out);
  return out;
}

/**
 * @module api/arm/schema
 * A tiny schema language for ARM request bodies, and the checker behind validate.ts.
 *
 * Each level of a body (the resource, `properties`, `creationData`, ...) is a `Schema`: the
 * canonical property names of that level with their kind. The checker
 * - matches property names case-insensitively (ARM deserialisation is case-insensitive) and
 *   returns them in canonical casing;
 * - drops read-only properties whatever their value (clients PUT back what they GET, e.g.
 *   `az disk update`), and treats `null` as absent;
 * - rejects properties the level does not have and values of the wrong type with a 400
 *   `InvalidParameter` whose `target` is the property path (`properties.diskSizeGB`);
 * - canonicalises enum values (`linux` → `Linux`).
 * Nothing is created before a body passed this check.
 */
import { invalid } from '../../core/errors.js';

export type FieldKind =
  | 'string'
  | 'boolean'
  | 'integer'
  | 'number'
  | 'object'
  | 'tags'
  | 'strings'
  | 'readonly'
  | { enum: readonly string[] }
  | { fields: Schema };

export type Schema = Readonly<Record<string, FieldKind>>;

export type JsonObject = Record<string, unknown>;

const MAX_TAGS = 50;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function describe(kind: FieldKind): string {
  if (typeof kind === 'string') {
    const names: Record<string, string> = {
      string: 'a string',
      boolean: 'true or false',
      integer: 'a whole number',
      number: 'a number',
      object: 'a JSON object',
      tags: 'an object of string tag values',
      strings: 'an array of strings',
      readonly: 'read-only',
    };
    return names[kind] ?? kind;
  }
  return 'enum' in kind ? `one of ${kind.enum.join(', ')}` : 'a JSON object';
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** Checks an object against `schema`; returns it with canonical keys and read-only keys removed. */
export function parseObject(value: unknown, schema: Schema, path: string, what: string): JsonObject {
  if (!isObject(value)) {
    throw invalid(`The value of '${path || 'the request body'}' must be a JSON object, not ${preview(value)}.`, path || 'body');
  }
  const canonical = new Map(Object.keys(schema).map((k) => [k.toLowerCase(), k]));
  const out: JsonObject = {};
  for (const [rawKey, raw] of Object.entries(value)) {
    const key = canonical.get(rawKey.toLowerCase());
    if (key === undefined) {
      throw invalid(
        `The property '${join(path, rawKey)}' is not a property of ${what}.`,
        join(path, rawKey),
        `Remove it or correct its spelling; the properties at this level are: ${Object.keys(schema).join(', ')}.`,
      );
    }
    const kind = schema[key];
    if (kind === undefined || kind === 'readonly' || raw === null) continue;
    out[key] = checkValue(raw, kind, join(path, key), what);
  }
  return out;
}

function checkValue(raw: unknown, kind: FieldKind, target: string, what: string): unknown {
  const bad = (): never => {
    throw invalid(`The value of '${target}' must be ${describe(kind)}, not ${preview(raw)}.`, target);
  };
  if (typeof kind === 'object') {
    if ('fields' in kind) return parseObject(raw, kind.fields, target, what);
    const found = typeof raw === 'string' ? kind.enum.find((v) => v.toLowerCase() === raw.toLowerCase()) : undefined;
    return found ?? bad();
  }
  switch (kind) {
    case 'string':
      return typeof raw === 'string' ? raw : bad();
    case 'boolean':
      return typeof raw === 'boolean' ? raw : bad();
    case 'integer':
      return typeof raw === 'number' && Number.isSafeInteger(raw) ? raw : bad();
    case 'number':
      return typeof raw === 'number' && Number.isFinite(raw) ? raw : bad();
    case 'object':
      return isObject(raw) ? raw : bad();
    case 'strings':
      return Array.isArray(raw) && raw.every((s) => typeof s === 'string') ? raw : bad();
    case 'tags':
      return checkTags(raw, target);
    default:
      return bad();
  }
}

/** ARM tags: at most 50, names up to 512 characters, values up to 256, all strings. */
export function checkTags(raw: unknown, target = 'tags'): Record<string, string> {
  if (!isObject(raw)) throw invalid(`The value of '${target}' must be an object of string tag values, not ${preview(raw)}.`, target);
  const entries = Object.entries(raw);
  if (entries.length > MAX_TAGS) throw invalid(`At most ${MAX_TAGS} tags are allowed, not ${entries.length}.`, target);
  const tags: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw invalid(`The tag '${k}' must have a string value, not ${preview(v)}.`, `${target}.${k}`);
    if (k.length === 0 || k.length > 512) throw invalid(`The tag name '${k}' must have 1 to 512 characters.`, `${target}.${k}`);
    if (v.length > 256) throw invalid(`The value of tag '${k}' has more than 256 characters.`, `${target}.${k}`);
    tags[k] = v;
  }
  return tags;
}

/** Reads a property of a checked object with its expected runtime type. */
export function str(o: JsonObject, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

export function int(o: JsonObject, key: string): number | undefined {
  const v = o[key];
  return typeof v === 'number' ? v : undefined;
}

export function bool(o: JsonObject, key: string): boolean | undefined {
  const v = o[key];
  return typeof v === 'boolean' ? v : undefined;
}

export function obj(o: JsonObject, key: string): JsonObject | undefined {
  const v = o[key];
  return isObject(v) ? v : undefined;
}

/**
 * @module cli/output/format-table
 * `-o table`, `-o tsv` (and snapdisk's `-o csv`) the way az (knack + tabulate) writes them.
 *
 * table: each item's scalar, non-null fields become columns (first letter capitalised; `id`,
 *   `type`, `etag` skipped), in key order when no --query or transformer is active, else in the
 *   object's order; a command's table transformer (az's, e.g. `disk list`) applies only without
 *   --query. Columns are left-aligned, at least the header + 2 wide, two spaces apart, lines
 *   right-trimmed (tabulate "simple" with disable_numparse). Values as Python's `str()`.
 * tsv: one line per item; an object gives its values (sorted by key for objects of the original
 *   result, in order for objects the query built), a nested object an empty field, a list its
 *   length, null `None`, booleans `True`/`False` (`true`/`false` when the item itself is one).
 * Both leave out the fields az 2.45 does not print (az-shape.ts `extraKeys`), so positional
 * columns match az's.
 */

import { CliError } from '../errors.js';
import { extraKeys } from './az-shape.js';
import { pyStr } from './python.js';
import { childShape, search } from './query.js';
import type { Shape } from './query.js';

/** Objects of the command's own result (Python plain dicts), as opposed to query-built ones. */
const ORIGINAL = new WeakSet<object>();

export function markOriginal(value: unknown): void {
  if (typeof value !== 'object' || value === null || ORIGINAL.has(value)) return;
  ORIGINAL.add(value);
  for (const v of Array.isArray(value) ? value : Object.values(value)) markOriginal(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export type TableTransformer = string | ((result: unknown) => unknown);

export interface TableOptions {
  queryActive: boolean;
  transformer?: TableTransformer;
}

export interface TableData {
  headers: string[];
  rows: string[][];
}

const SKIP = new Set(['id', 'type', 'etag']);

function capitalize(k: string): string {
  return k === '' ? k : k[0]?.toUpperCase() + k.slice(1);
}

/** The columns and cells az would show. */
export function tableData(result: unknown, shape: Shape, opts: TableOptions): TableData {
  let data = result;
  let s = shape;
  const transform = opts.transformer !== undefined && !opts.queryActive ? opts.transformer : undefined;
  if (transform !== undefined) {
    data = typeof transform === 'string' ? search(result, Array.isArray(result) ? `[].${transform}` : transform) : transform(result);
    s = 'src';
  }
  const items = Array.isArray(data) ? data : [data];
  const sortKeys = !opts.queryActive && transform === undefined;
  const entries = items.map((item, i) => {
    const itemShape = childShape(Array.isArray(data) ? s : { tuple: [s] }, i);
    const entry = new Map<string, string>();
    if (isObject(item)) {
      const extras = extraKeys(item);
      const keys = sortKeys ? Object.keys(item).sort() : Object.keys(item);
      for (const k of keys) {
        const v = item[k];
        if (SKIP.has(k) || extras?.has(k) || v === null || v === undefined || typeof v === 'object') continue;
        entry.set(capitalize(k), pyStr(v, childShape(itemShape, k) === 'float'));
      }
    } else if (Array.isArray(item)) {
      item.forEach((v, j) => entry.set(`Column${j + 1}`, v === null ? '' : pyStr(v, childShape(itemShape, j) === 'float')));
    } else {
      entry.set('Result', item === null ? '' : pyStr(item, itemShape === 'float'));
    }
    return entry;
  });
  const headers: string[] = [];
  for (const e of entries) for (const k of e.keys()) if (!headers.includes(k)) headers.push(k);
  return { headers, rows: entries.map((e) => headers.map((h) => e.get(h) ?? '')) };
}

function width(s: string): number {
  return [...s].length;
}

function pad(s: string, n: number): string {
  return s + ' '.repeat(Math.max(0, n - width(s)));
}

export function formatTable(result: unknown, shape: Shape, opts: TableOptions): string {
  let t: TableData;
  try {
    t = tableData(result, shape, opts);
  } catch (err) {
    throw new CliError('Table output unavailable. Use the --query option to specify an appropriate query. Use --debug for more info.', { code: 'TableUnavailable', cause: err });
  }
  if (t.headers.length === 0) return '\n';
  const widths = t.headers.map((h, i) => Math.max(width(h) + 2, ...t.rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i] ?? 0)).join('  ').trimEnd();
  return `${[line(t.headers), line(widths.map((w) => '-'.repeat(w))), ...t.rows.map(line)].join('\n')}\n`;
}

function tsvCell(v: unknown, shape: Shape): string {
  if (Array.isArray(v)) return String(v.length);
  if (isObject(v)) return '';
  return typeof v === 'string' ? v : pyStr(v, shape === 'float');
}

export function formatTsv(result: unknown, shape: Shape): string {
  const items = Array.isArray(result) ? result : [result];
  const lines = items.map((item, i) => {
    const s = childShape(Array.isArray(result) ? shape : { tuple: [shape] }, i);
    if (isObject(item)) {
      const extras = extraKeys(item);
      const keys = (ORIGINAL.has(item) ? Object.keys(item).sort() : Object.keys(item)).filter((k) => !extras?.has(k));
      return keys.map((k) => tsvCell(item[k], childShape(s, k))).join('\t');
    }
    if (Array.isArray(item)) return item.map((v, j) => tsvCell(v, childShape(s, j))).join('\t');
    if (typeof item === 'boolean') return String(item);
    return tsvCell(item, s);
  });
  return lines.map((l) => `${l}\n`).join('');
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** snapdisk's `-o csv`: the table's columns and cells as RFC 4180 CSV. */
export function formatCsv(result: unknown, shape: Shape, opts: TableOptions): string {
  const t = tableData(result, shape, opts);
  if (t.headers.length === 0) return '';
  return [t.headers, ...t.rows].map((r) => `${r.map(csvCell).join(',')}\r\n`).join('');
}

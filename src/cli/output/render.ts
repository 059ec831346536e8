/**
 * @module cli/output/render
 * Turns a command's result into the text of `-o FORMAT` after `--query`, as az does: a command
 * without a result prints nothing, and neither does a query whose result is null.
 */

import { usageError } from '../errors.js';
import { colorJson, colorYaml, formatJson, formatYaml } from './format-text.js';
import { formatCsv, formatTable, formatTsv, markOriginal } from './format-table.js';
import type { TableTransformer } from './format-table.js';
import { compileQuery } from './query.js';
import type { CompiledQuery, Shape } from './query.js';

export const OUTPUT_FORMATS = ['json', 'jsonc', 'table', 'tsv', 'yaml', 'yamlc', 'none', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined) return 'json';
  const v = value.toLowerCase();
  const found = OUTPUT_FORMATS.find((f) => f === v);
  if (!found) throw usageError(`argument --output/-o: invalid choice: '${value}' (choose from ${OUTPUT_FORMATS.map((f) => `'${f}'`).join(', ')}).`);
  return found;
}

export interface RenderOptions {
  format: OutputFormat;
  /** --query, compiled (main.ts compiles it before the command runs) or as given. */
  query?: string | CompiledQuery;
  /** az's table transformer of the command (used by table and csv without --query). */
  transformer?: TableTransformer;
  /** Colour jsonc/yamlc (stdout is a terminal), as az does with Pygments. */
  color: boolean;
}

/** The text to print for `result` (empty for none, or a null query result). */
export function render(result: unknown, opts: RenderOptions): string {
  if (result === undefined) return '';
  markOriginal(result);
  let value: unknown = result;
  let shape: Shape = 'src';
  if (opts.query !== undefined) {
    const q = typeof opts.query === 'string' ? compileQuery(opts.query) : opts.query;
    value = q.search(result);
    shape = q.shape;
  }
  if (value === null || value === undefined) return '';
  const table = { queryActive: opts.query !== undefined, ...(opts.transformer !== undefined ? { transformer: opts.transformer } : {}) };
  switch (opts.format) {
    case 'none':
      return '';
    case 'json':
      return formatJson(value, shape);
    case 'jsonc':
      return opts.color ? colorJson(formatJson(value, shape)) : formatJson(value, shape);
    case 'yaml':
      return formatYaml(value, shape);
    case 'yamlc':
      return opts.color ? colorYaml(formatYaml(value, shape)) : formatYaml(value, shape);
    case 'table':
      return formatTable(value, shape, table);
    case 'tsv':
      return formatTsv(value, shape);
    case 'csv':
      return formatCsv(value, shape, table);
  }
}

/**
 * @module cli/output/format-text
 * `-o json|jsonc|yaml` as az (knack) writes them: JSON with keys sorted, two-space indent and
 * Python's number spelling (`100.0` for floats); `jsonc` the same, coloured on a terminal; YAML as
 * PyYAML's `safe_dump(default_flow_style=False)` does it (sorted keys, block style, sequences not
 * indented under their key, strings quoted when they would read as another type).
 *
 * Not reproduced: PyYAML folds plain strings longer than 80 columns at spaces.
 */

import { pyFloat } from './python.js';
import { childShape } from './query.js';
import type { Shape } from './query.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: number, shape: Shape): string {
  return shape === 'float' || !Number.isInteger(v) ? pyFloat(v) : String(v);
}

function sortedKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)` + newline. */
export function formatJson(value: unknown, shape: Shape): string {
  const out = (v: unknown, s: Shape, indent: string): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') return num(v, s);
    if (typeof v === 'string') return JSON.stringify(v);
    const inner = `${indent}  `;
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[\n${v.map((x, i) => `${inner}${out(x, childShape(s, i), inner)}`).join(',\n')}\n${indent}]`;
    }
    if (isObject(v)) {
      const keys = sortedKeys(v);
      if (keys.length === 0) return '{}';
      return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${out(v[k], childShape(s, k), inner)}`).join(',\n')}\n${indent}}`;
    }
    return JSON.stringify(String(v));
  };
  return `${out(value, shape, '')}\n`;
}

const C = { key: '\x1b[94m', str: '\x1b[33m', num: '\x1b[36m', lit: '\x1b[35m', off: '\x1b[39m' };

/** `jsonc`: the JSON above with keys, strings and literals coloured (terminals only). */
export function colorJson(text: string): string {
  return text.replace(/("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g, (m, str: string | undefined, colon: string | undefined, lit: string | undefined, n: string | undefined) => {
    if (str !== undefined) return colon !== undefined ? `${C.key}${str}${C.off}${colon}` : `${C.str}${str}${C.off}`;
    if (lit !== undefined) return `${C.lit}${lit}${C.off}`;
    if (n !== undefined) return `${C.num}${n}${C.off}`;
    return m;
  });
}

// PyYAML's implicit resolvers (YAML 1.1): a plain string matching one of these must be quoted.
const YAML_IMPLICIT = [
  /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^(?:~|null|Null|NULL)$/,
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$/,
  /^(?:<<|=)$/,
];

function yamlString(s: string): string {
  if (s === '') return "''";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b-\x1f\x7f\n\r\t]/.test(s)) return JSON.stringify(s);
  const plain =
    !YAML_IMPLICIT.some((re) => re.test(s)) &&
    !/^[\s#,[\]{}&*!|>'"%@`]/.test(s) &&
    !/^[-?:](\s|$)/.test(s) &&
    !/\s$/.test(s) &&
    !/:(\s|$)/.test(s) &&
    !/\s#/.test(s);
  return plain ? s : `'${s.replace(/'/g, "''")}'`;
}

function yamlScalar(v: unknown, shape: Shape): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return num(v, shape);
  return yamlString(String(v));
}

function isEmptyContainer(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

function yamlBlock(v: unknown, shape: Shape, indent: string): string[] {
  if (Array.isArray(v)) {
    const lines: string[] = [];
    v.forEach((item, i) => {
      const s = childShape(shape, i);
      if ((Array.isArray(item) || isObject(item)) && !isEmptyContainer(item)) {
        const inner = yamlBlock(item, s, `${indent}  `);
        lines.push(`${indent}- ${(inner[0] ?? '').trimStart()}`, ...inner.slice(1));
      } else {
        lines.push(`${indent}- ${Array.isArray(item) ? '[]' : isObject(item) ? '{}' : yamlScalar(item, s)}`);
      }
    });
    return lines;
  }
  if (isObject(v)) {
    const lines: string[] = [];
    for (const k of sortedKeys(v)) {
      const x = v[k];
      const s = childShape(shape, k);
      const key = yamlString(k);
      if (Array.isArray(x) && x.length > 0) lines.push(`${indent}${key}:`, ...yamlBlock(x, s, indent));
      else if (isObject(x) && Object.keys(x).length > 0) lines.push(`${indent}${key}:`, ...yamlBlock(x, s, `${indent}  `));
      else lines.push(`${indent}${key}: ${Array.isArray(x) ? '[]' : isObject(x) ? '{}' : yamlScalar(x, s)}`);
    }
    return lines;
  }
  return [yamlScalar(v, shape)];
}

/** `yaml.safe_dump(value, default_flow_style=False, allow_unicode=True)`. */
export function formatYaml(value: unknown, shape: Shape): string {
  if (isEmptyContainer(value)) return `${Array.isArray(value) ? '[]' : '{}'}\n`;
  if (!Array.isArray(value) && !isObject(value)) return `${yamlScalar(value, shape)}\n...\n`;
  return `${yamlBlock(value, shape, '').join('\n')}\n`;
}

/**
 * @module cli/output/format-text
 * `-o json|jsonc|yaml|yamlc` as az (knack) writes them: JSON with keys sorted, two-space indent and
 * Python's number spelling (`100.0` for floats); `jsonc` and `yamlc` the same, coloured on a
 * terminal byte for byte as Pygments 2.14 (az's highlighter) colours them; YAML as
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

// Pygments' TerminalFormatter (light background), which az uses for jsonc and yamlc: each token
// is wrapped in its colour and a reset, line by line; whitespace is gray, so even a bare newline
// gets an empty gray token before it.
const RESET = '\x1b[39;49;00m';
const GRAY = '\x1b[37m';
const TAG = '\x1b[94m';
const STRING = '\x1b[33m';
const NUMBER = '\x1b[34m';
const VARIABLE = '\x1b[31m';
const NAMESPACE = '\x1b[04m\x1b[36m';
const ERROR = '\x1b[04m\x1b[91m';

function tok(color: string, text: string): string {
  return `${color}${text}${RESET}`;
}

/** A whitespace token: gray, each line separately (`splitlines(True)` in Pygments). */
function ws(text: string): string {
  let out = '';
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      if (start < text.length) out += tok(GRAY, text.slice(start));
      return out;
    }
    out += `${tok(GRAY, text.slice(start, nl))}\n`;
    start = nl + 1;
  }
}

/** `jsonc`: formatJson's text as Pygments' JsonLexer colours it (keys, strings, numbers, constants). */
export function colorJson(text: string): string {
  const re = /(\s+)|("(?:[^"\\]|\\.)*")|(true|false|null|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g;
  return text.replace(re, (m: string, space: string | undefined, str: string | undefined, lit: string | undefined, offset: number) => {
    if (space !== undefined) return ws(space);
    if (str !== undefined) return tok(/^\s*:/.test(text.slice(offset + m.length, offset + m.length + 64)) ? TAG : STRING, str);
    if (lit !== undefined) return tok(NUMBER, lit);
    return m;
  });
}

/** The tokens of a quoted YAML scalar (Pygments' single- and double-quoted-scalar states). */
function yamlQuoted(q: string): string {
  const quote = q[0] ?? "'";
  let out = tok(STRING, quote);
  const body = q.slice(1, -1);
  const re = quote === "'" ? /( +)|('')|([^\s']+)|(\s)/gy : /( +)|(\\[0abt\tn\nvfre "\\N_LP])|(\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})|[^\s"\\]+)|([\s\S])/gy;
  for (let m = re.exec(body); m !== null && m[0] !== ''; m = re.exec(body)) {
    if (m[1] !== undefined) out += tok(VARIABLE, m[1]);
    else if (m[4] !== undefined) out += tok(ERROR, m[4]);
    else out += tok(STRING, m[0]);
  }
  return out + tok(STRING, quote);
}

/** A quoted scalar at the start of `s`: its length, or 0. */
function quotedLength(s: string): number {
  if (s.startsWith("'")) {
    for (let i = 1; i < s.length; i++) {
      if (s[i] === "'") {
        if (s[i + 1] === "'") i++;
        else return i + 1;
      }
    }
  } else if (s.startsWith('"')) {
    for (let i = 1; i < s.length; i++) {
      if (s[i] === '\\') i++;
      else if (s[i] === '"') return i + 1;
    }
  }
  return 0;
}

/** A scalar or empty collection after a key or `- `: quoted ones yellow, plain ones as they are. */
function yamlValue(v: string): string {
  return v.startsWith("'") || v.startsWith('"') ? yamlQuoted(v) : v;
}

/** One line of formatYaml's output, as Pygments' YamlLexer colours it. */
function yamlLine(line: string): string {
  if (line === '...') return tok(NAMESPACE, '...');
  let out = '';
  let rest = line;
  const indent = /^ +/.exec(rest)?.[0] ?? '';
  if (indent !== '') out += ws(indent);
  rest = rest.slice(indent.length);
  while (rest.startsWith('- ')) {
    out += `-${ws(' ')}`;
    rest = rest.slice(2);
  }
  const q = quotedLength(rest);
  if (q > 0) {
    // a quoted key is a string like any other; its colon is not coloured
    if (rest[q] !== ':') return out + yamlQuoted(rest);
    out += `${yamlQuoted(rest.slice(0, q))}:`;
    rest = rest.slice(q + 1);
  } else {
    const colon = rest.endsWith(':') ? rest.length - 1 : rest.indexOf(': ');
    if (colon < 0) return out + yamlValue(rest);
    const key = rest.slice(0, colon);
    out += `${/^[^#,?[\]{}"'\n]+$/.test(key) ? tok(TAG, key) : key}:`;
    rest = rest.slice(colon + 1);
  }
  if (rest === '') return out;
  return `${out}${ws(' ')}${yamlValue(rest.slice(1))}`;
}

/** `yamlc`: formatYaml's text (keys blue, quoted strings yellow) as az prints it on a terminal. */
export function colorYaml(text: string): string {
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  return `${lines.map((l) => `${yamlLine(l)}${ws('\n')}`).join('')}${last === '' ? '' : yamlLine(last)}`;
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

/**
 * @module cli/args
 * An argument parser shaped like az's (argparse): `--name value`, `--name=value`, short aliases
 * (`-g`), three-state booleans (`--incremental`, `--incremental true|false`), space-separated
 * lists (`--tags a=b c=d`) and case-insensitive choices returned in their canonical spelling.
 * Every error is a usage error (exit 2) that names the option.
 */

import { usageError } from './errors.js';

export type OptionKind = 'string' | 'int' | 'flag' | 'bool' | 'list';

export interface OptionSpec {
  /** The long name, `--resource-group`. */
  name: string;
  /** Other spellings, long or short: `-g`, `--access`. */
  aliases?: readonly string[];
  kind: OptionKind;
  required?: boolean;
  /** Allowed values (compared case-insensitively, returned as written here). */
  choices?: readonly string[];
  help: string;
  /** Placeholder shown in the help (`NAME`). */
  metavar?: string;
  /** Hidden from the help (deprecated spellings). */
  hidden?: boolean;
}

const TRUE = new Set(['true', 'yes', 'y', '1', 'on', 'enabled']);
const FALSE = new Set(['false', 'no', 'n', '0', 'off', 'disabled']);

type Value = string | number | boolean | string[];

/** The parsed options of one command line, by long name without the dashes. */
export class Args {
  constructor(private readonly values: ReadonlyMap<string, Value>) {}

  has(name: string): boolean {
    return this.values.has(name);
  }

  str(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  /** A string option that must be present (the parser checks `required`; this is for types). */
  need(name: string): string {
    const v = this.str(name);
    if (v === undefined) throw usageError(`the following arguments are required: --${name}`);
    return v;
  }

  int(name: string): number | undefined {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : undefined;
  }

  bool(name: string): boolean | undefined {
    const v = this.values.get(name);
    return typeof v === 'boolean' ? v : undefined;
  }

  flag(name: string): boolean {
    return this.values.get(name) === true;
  }

  list(name: string): string[] | undefined {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : undefined;
  }
}

function parseBool(value: string, flag: string): boolean {
  const v = value.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw usageError(`argument ${flag}: invalid value '${value}' (use true or false).`);
}

function parseInt64(value: string, flag: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw usageError(`argument ${flag}: invalid int value: '${value}'.`);
  }
  return n;
}

function checkChoice(spec: OptionSpec, value: string, flag: string): string {
  if (!spec.choices) return value;
  const found = spec.choices.find((c) => c.toLowerCase() === value.toLowerCase());
  if (found === undefined) {
    throw usageError(`argument ${flag}: invalid choice: '${value}' (choose from ${spec.choices.map((c) => `'${c}'`).join(', ')}).`);
  }
  return found;
}

function looksLikeOption(token: string | undefined): boolean {
  return token !== undefined && token.startsWith('-') && token.length > 1 && !/^-\d/.test(token);
}

/**
 * Parses `argv` against `specs`. Unknown options, positional arguments, missing values and
 * missing required options are usage errors naming the option.
 */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): Args {
  const byFlag = new Map<string, OptionSpec>();
  for (const s of specs) {
    byFlag.set(s.name, s);
    for (const a of s.aliases ?? []) byFlag.set(a, s);
  }
  const values = new Map<string, Value>();
  const unknown: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    const flag = eq > 0 ? token.slice(0, eq) : token;
    const inline = eq > 0 ? token.slice(eq + 1) : undefined;
    const spec = byFlag.get(flag);
    if (!spec) {
      unknown.push(token);
      continue;
    }
    const key = spec.name.replace(/^-+/, '');
    const next = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (looksLikeOption(v) && byFlag.has(v.split('=')[0] ?? v))) {
        throw usageError(`argument ${spec.name}: expected one argument.`);
      }
      i++;
      return v;
    };
    switch (spec.kind) {
      case 'flag':
        if (inline !== undefined) throw usageError(`argument ${spec.name}: takes no value.`);
        values.set(key, true);
        break;
      case 'bool': {
        if (inline !== undefined) {
          values.set(key, parseBool(inline, spec.name));
        } else {
          const v = argv[i + 1];
          // no command takes positional arguments: a word after a boolean option is its value
          if (v !== undefined && !looksLikeOption(v)) {
            values.set(key, parseBool(v, spec.name));
            i++;
          } else {
            values.set(key, true);
          }
        }
        break;
      }
      case 'int':
        values.set(key, parseInt64(next(), spec.name));
        break;
      case 'string':
        values.set(key, checkChoice(spec, next(), spec.name));
        break;
      case 'list': {
        const items: string[] = inline !== undefined ? [inline] : [];
        while (inline === undefined && i + 1 < argv.length && !looksLikeOption(argv[i + 1])) {
          items.push(argv[++i] ?? '');
        }
        values.set(key, [...((values.get(key) as string[] | undefined) ?? []), ...items]);
        break;
      }
    }
  }
  if (unknown.length > 0) {
    const first = unknown[0] ?? '';
    const hint = first.startsWith('-') ? undefined : 'Values with spaces need quotes; every value follows its option (--name VALUE).';
    throw usageError(`unrecognized arguments: ${unknown.join(' ')}`, hint);
  }
  const missing = specs.filter((s) => s.required && !values.has(s.name.replace(/^-+/, '')));
  if (missing.length > 0) {
    throw usageError(`the following arguments are required: ${missing.map((s) => [s.name, ...(s.aliases ?? [])].join('/')).join(', ')}`);
  }
  return new Args(values);
}

/** `--tags a=b c` → `{a: 'b', c: ''}` (az's key[=value] list; `''` clears the tags). */
export function parseTags(items: readonly string[] | undefined): Record<string, string> | undefined {
  if (items === undefined) return undefined;
  const tags: Record<string, string> = {};
  for (const item of items) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq >= 0 ? item.slice(0, eq) : item;
    if (key === '') throw usageError(`argument --tags: '${item}' has no key (use key=value).`);
    tags[key] = eq >= 0 ? item.slice(eq + 1) : '';
  }
  return tags;
}

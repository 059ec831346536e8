/**
 * @module cli/args.test
 * The az-shaped argument parser: forms of values, booleans, lists, choices, and usage errors that
 * name the option.
 */
import { describe, expect, it } from 'vitest';
import { parseArgs, parseTags } from './args.js';
import type { OptionSpec } from './args.js';

const SPECS: OptionSpec[] = [
  { name: '--resource-group', aliases: ['-g'], kind: 'string', required: true, help: '' },
  { name: '--size-gb', aliases: ['-z'], kind: 'int', help: '' },
  { name: '--sku', kind: 'string', choices: ['Standard_LRS', 'Premium_LRS'], help: '' },
  { name: '--incremental', kind: 'bool', help: '' },
  { name: '--no-wait', kind: 'flag', help: '' },
  { name: '--tags', kind: 'list', help: '' },
  { name: '--query', kind: 'string', help: '' },
];

describe('parseArgs', () => {
  it('long, short and --name=value forms; ints; canonical choices', () => {
    const a = parseArgs(['-g', 'rg1', '--size-gb=8', '--sku', 'standard_lrs', '--no-wait'], SPECS);
    expect(a.str('resource-group')).toBe('rg1');
    expect(a.int('size-gb')).toBe(8);
    expect(a.str('sku')).toBe('Standard_LRS');
    expect(a.flag('no-wait')).toBe(true);
    expect(a.has('tags')).toBe(false);
  });

  it('three-state booleans: bare, true/false words, =value', () => {
    expect(parseArgs(['-g', 'x', '--incremental'], SPECS).bool('incremental')).toBe(true);
    expect(parseArgs(['-g', 'x', '--incremental', 'false'], SPECS).bool('incremental')).toBe(false);
    expect(parseArgs(['--incremental', 'True', '-g', 'x'], SPECS).bool('incremental')).toBe(true);
    expect(parseArgs(['-g', 'x', '--incremental=no'], SPECS).bool('incremental')).toBe(false);
    expect(() => parseArgs(['-g', 'x', '--incremental', 'maybe'], SPECS)).toThrow("argument --incremental: invalid value 'maybe'");
  });

  it('lists take words up to the next option; a query may start with a bracket', () => {
    const a = parseArgs(['--tags', 'a=b', 'c=', 'd', '-g', 'rg', '--query', '[?x]'], SPECS);
    expect(a.list('tags')).toEqual(['a=b', 'c=', 'd']);
    expect(parseTags(a.list('tags'))).toEqual({ a: 'b', c: '', d: '' });
    expect(parseTags([''])).toEqual({});
    expect(a.str('query')).toBe('[?x]');
  });

  it('usage errors name the option', () => {
    expect(() => parseArgs([], SPECS)).toThrow('the following arguments are required: --resource-group/-g');
    expect(() => parseArgs(['-g'], SPECS)).toThrow('argument --resource-group: expected one argument.');
    expect(() => parseArgs(['-g', '--no-wait'], SPECS)).toThrow('argument --resource-group: expected one argument.');
    expect(() => parseArgs(['-g', 'x', '-z', 'big'], SPECS)).toThrow("argument --size-gb: invalid int value: 'big'");
    expect(() => parseArgs(['-g', 'x', '--sku', 'Ultra'], SPECS)).toThrow("argument --sku: invalid choice: 'Ultra'");
    expect(() => parseArgs(['-g', 'x', '--frob'], SPECS)).toThrow('unrecognized arguments: --frob');
    expect(() => parseArgs(['-g', 'x', 'stray'], SPECS)).toThrow('unrecognized arguments: stray');
    expect(() => parseArgs(['-g', 'x', '--no-wait=1'], SPECS)).toThrow('argument --no-wait: takes no value.');
    expect(() => parseTags(['=v'])).toThrow('argument --tags');
  });
});

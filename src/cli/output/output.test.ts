/**
 * @module cli/output/output.test
 * az's output machinery without a server: Python spellings, the az shape of ARM JSON, where
 * --query results have floats, and the json/yaml/table/tsv/csv writers.
 */
import { describe, expect, it } from 'vitest';
import { SNAPSHOT } from './az-models.js';
import { extraKeys, toAz } from './az-shape.js';
import { formatCsv, formatTable, formatTsv, markOriginal } from './format-table.js';
import { formatJson, formatYaml } from './format-text.js';
import { pyFloat, pyIsoformat, pyStr } from './python.js';
import { compileQuery } from './query.js';
import { render } from './render.js';

const WIRE = {
  name: 's1',
  id: '/subscriptions/S/resourceGroups/rg1/providers/Microsoft.Compute/snapshots/s1',
  type: 'Microsoft.Compute/snapshots',
  location: 'eastus',
  tags: { Env: 'x' },
  sku: { name: 'Standard_LRS', tier: 'Standard' },
  properties: {
    creationData: { createOption: 'Copy', sourceResourceId: '/subscriptions/S/resourceGroups/rg1/providers/Microsoft.Compute/disks/d1', logicalSectorSize: 512, futureField: 1 },
    diskSizeGB: 1,
    diskSizeBytes: 1073741824,
    timeCreated: '2024-01-05T10:00:00.123Z',
    incremental: true,
    incrementalSnapshotFamilyId: 'fam',
    completionPercent: 100,
  },
};

describe('python spellings', () => {
  it('repr(float), str(), isoformat()', () => {
    expect([pyFloat(100), pyFloat(0.5), pyFloat(1e16), pyFloat(1.5e-5), pyFloat(12.25), pyFloat(0)]).toEqual(['100.0', '0.5', '1e+16', '1.5e-05', '12.25', '0.0']);
    expect([pyStr(true), pyStr(null), pyStr(3), pyStr(3, true), pyStr('x')]).toEqual(['True', 'None', '3', '3.0', 'x']);
    expect(pyIsoformat('2024-01-05T10:00:00.123Z')).toBe('2024-01-05T10:00:00.123000+00:00');
    expect(pyIsoformat('2024-01-05T10:00:00.1234567Z')).toBe('2024-01-05T10:00:00.123456+00:00');
    expect(pyIsoformat('2024-01-05T10:00:00Z')).toBe('2024-01-05T10:00:00+00:00');
    expect(pyIsoformat('2024-01-05T10:00:00.000+0100')).toBe('2024-01-05T10:00:00+01:00');
    expect(pyIsoformat('not a time')).toBe('not a time');
  });
});

describe('az shape', () => {
  it('flattens properties, renames diskSizeGB, fills nulls, keeps nested extras, marks property extras, adds resourceGroup', () => {
    const s = toAz(SNAPSHOT, WIRE);
    expect(s.diskSizeGb).toBe(1);
    expect(s.diskSizeGB).toBeUndefined();
    expect(s.timeCreated).toBe('2024-01-05T10:00:00.123000+00:00');
    expect(s.osType).toBeNull();
    expect(s.copyCompletionError).toBeNull();
    expect(s.creationData).toMatchObject({ createOption: 'Copy', imageReference: null, futureField: 1 });
    expect('resourceGroup' in (s.creationData as object)).toBe(false); // its id-less object gets none
    expect(s.incrementalSnapshotFamilyId).toBe('fam');
    expect([...(extraKeys(s) ?? [])]).toEqual(['incrementalSnapshotFamilyId']);
    expect(s.resourceGroup).toBe('rg1');
    expect(Object.keys(s).slice(0, 4)).toEqual(['id', 'name', 'type', 'location']);
    expect(Object.keys(s).at(-1)).toBe('resourceGroup');
    expect(s.tags).toEqual({ Env: 'x' });
  });
});

describe('--query float shapes', () => {
  const s = toAz(SNAPSHOT, WIRE);
  const out = (q: string, format: 'json' | 'tsv' | 'table' | 'yaml'): string => render([s], { format, query: q, color: false });
  it('completionPercent prints as 100.0 wherever the query puts it', () => {
    expect(out('[0].completionPercent', 'tsv')).toBe('100.0\n');
    expect(out('[0].[completionPercent]', 'tsv')).toBe('100.0\n');
    expect(out('[].completionPercent', 'json')).toBe('[\n  100.0\n]\n');
    expect(out('[].{p: completionPercent, s: diskSizeGb}', 'json')).toBe('[\n  {\n    "p": 100.0,\n    "s": 1\n  }\n]\n');
    expect(out('[?completionPercent == `100`].name', 'tsv')).toBe('s1\n');
    expect(out('max([].completionPercent)', 'tsv')).toBe('100.0\n');
    expect(out('[0] | completionPercent', 'yaml')).toBe('100.0\n...\n');
    expect(out('[].diskSizeGb', 'tsv')).toBe('1\n');
  });
  it('a bad query is a usage error naming --query', () => {
    expect(() => compileQuery('[?')).toThrow('argument --query: invalid jmespath_type value');
  });
});

describe('writers', () => {
  it('json: sorted keys, two spaces, Python floats', () => {
    expect(formatJson({ b: 1, a: [true, null, { z: 'é' }], c: {} }, 'src')).toBe('{\n  "a": [\n    true,\n    null,\n    {\n      "z": "é"\n    }\n  ],\n  "b": 1,\n  "c": {}\n}\n');
  });

  it('yaml: PyYAML block style and quoting', () => {
    const y = formatYaml({ zones: ['1'], s: 'Standard_LRS', t: '2024-01-05T10:00:00+00:00', e: '', n: null, list: [{ a: 1, b: 'yes' }], m: {}, colon: 'a: b', hash: 'a #b' }, 'src');
    expect(y).toBe("colon: 'a: b'\ne: ''\nhash: 'a #b'\nlist:\n- a: 1\n  b: 'yes'\nm: {}\nn: null\ns: Standard_LRS\nt: '2024-01-05T10:00:00+00:00'\nzones:\n- '1'\n");
  });

  it('table: capitalised scalar columns, widths of header + 2, right-trimmed lines, empty result', () => {
    const rows = [{ name: 'a', size: 1, ok: true, id: 'skip', nested: {}, none: null }, { name: 'bbbbbb', extra: 'x' }];
    markOriginal(rows);
    expect(formatTable(rows, 'src', { queryActive: true })).toBe('Name    Size    Ok    Extra\n------  ------  ----  -------\na       1       True\nbbbbbb                x\n');
    expect(formatTable(rows, 'src', { queryActive: false })).toBe('Name    Ok    Size    Extra\n------  ----  ------  -------\na       True  1\nbbbbbb                x\n');
    expect(formatTable([], 'src', { queryActive: false })).toBe('\n');
    expect(formatTable(['x', 'y'], 'src', { queryActive: true })).toBe('Result\n--------\nx\ny\n');
    expect(formatTable([{ a: 1 }], 'src', { queryActive: false, transformer: '{Alpha: a}' })).toBe('Alpha\n-------\n1\n');
  });

  it('tsv: sorted values for original objects, query order for built ones, None/True, list lengths', () => {
    const orig = { b: true, a: null, c: [1, 2], d: { x: 1 } };
    markOriginal(orig);
    expect(formatTsv(orig, 'src')).toBe('None\tTrue\t2\t\n');
    expect(formatTsv({ z: 1, a: 2 }, 'src')).toBe('1\t2\n');
    expect(formatTsv([true, 'x', [1, 'y']], 'src')).toBe('true\nx\n1\ty\n');
  });

  it('csv: the table columns as RFC 4180', () => {
    expect(formatCsv([{ a: 'x,y', b: 'q"' }], 'src', { queryActive: true })).toBe('A,B\r\n"x,y","q"""\r\n');
  });
});

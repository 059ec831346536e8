/**
 * @module cli/output/color.test
 * `-o jsonc` and `-o yamlc` on a terminal, byte for byte as az colours them: az runs its JSON and
 * YAML through Pygments (JsonLexer / YamlLexer, TerminalFormatter). The expected bytes are
 * Pygments 2.14's (Debian bookworm's, what az 2.45 there uses) for the text our writers print,
 * recorded in test/fixtures/cli/pygments-2.14/samples.json. To record them again (needs
 * /usr/bin/python3 with python3-pygments): SNAPDISK_RECORD_PYGMENTS=1 npx vitest run
 * src/cli/output/color.test.ts. The e2e suite also compares with az itself on a terminal.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { colorJson, colorYaml, formatJson, formatYaml } from './format-text.js';
import { render } from './render.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/cli/pygments-2.14/samples.json', import.meta.url));
const DISK = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/cli/az-2.45/disk-show-json.txt', import.meta.url)), 'utf8')) as unknown;

/** Values whose JSON and YAML exercise every token the two lexers give our writers' output. */
const VALUES: Record<string, unknown> = {
  disk: DISK,
  scalars: { s: 'eastus', n: 1, neg: -2, f: 1.5, big: 1e21, t: true, f2: false, nil: null, empty: '', list: [], obj: {} },
  quoted: {
    yes: 'yes',
    date: '2024-01-01',
    time: '2024-01-05T10:00:00.123000+00:00',
    colon: 'a: b',
    apostrophe: "it's: here",
    lead: ' lead',
    spaces: 'a  b:  c',
    hash: 'x #y',
    at: '@x',
    control: 'line1\nline2\ttab "q" \\ \u0001',
    nbsp: 'a\u00a0b: c',
    unicode: 'é ü: ß',
    plainSpaces: 'hello big world',
    url: 'https://x:1/y?z=1#f',
  },
  keys: { 'a b': 1, 'a,b': 2, '?x': 3, 'a#b': 4, 'x-y': 5, '1': 6, 'yes': 7, 'a: b': 8, 'é': 9, '-x': 10 },
  nested: { zones: ['1', '2'], deep: [[1, 'a'], [], {}, { k: 'v', l: ['x y', { m: null }] }], tags: { env: 'test', 'team name': 'storage ops' } },
  list: [{ name: 'rg1', location: 'eastus', properties: { provisioningState: 'Succeeded' }, tags: null }, 'plain', "'quoted'", 3],
  topString: 'snap1',
  topQuoted: '2024-01-01',
  topNumber: 100,
  topEmptyList: [],
};

interface Sample {
  name: string;
  format: 'json' | 'yaml';
  text: string;
  colored: string;
}

function texts(): Array<Omit<Sample, 'colored'>> {
  return Object.entries(VALUES).flatMap(([name, v]) => [
    { name, format: 'json' as const, text: formatJson(v, 'src') },
    { name, format: 'yaml' as const, text: formatYaml(v, 'src') },
  ]);
}

const PYGMENTS = `
import json, sys
from pygments import highlight, lexers, formatters
samples = json.load(sys.stdin)
for s in samples:
    lexer = lexers.JsonLexer() if s['format'] == 'json' else lexers.YamlLexer()
    s['colored'] = highlight(s['text'], lexer, formatters.TerminalFormatter())
json.dump(samples, sys.stdout, indent=1, ensure_ascii=False)
`;

if (process.env.SNAPDISK_RECORD_PYGMENTS === '1') {
  const r = spawnSync('/usr/bin/python3', ['-c', PYGMENTS], { input: JSON.stringify(texts()), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pygments: ${r.stderr}`);
  writeFileSync(FIXTURE, `${r.stdout}\n`);
}

const samples = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Sample[];

describe('jsonc and yamlc as Pygments colours them (az on a terminal)', () => {
  it('the recorded samples are what our writers print today', () => {
    expect(samples.map(({ name, format, text }) => ({ name, format, text }))).toEqual(texts());
  });

  for (const s of samples) {
    it(`${s.format}: ${s.name}`, () => {
      expect(s.format === 'json' ? colorJson(s.text) : colorYaml(s.text)).toBe(s.colored);
    });
  }

  it('render colours jsonc and yamlc only for a terminal', () => {
    const v = { name: 'd1', size: 1 };
    expect(render(v, { format: 'yamlc', color: true })).toBe(colorYaml(formatYaml(v, 'src')));
    expect(render(v, { format: 'yamlc', color: false })).toBe(formatYaml(v, 'src'));
    expect(render(v, { format: 'jsonc', color: true })).toBe(colorJson(formatJson(v, 'src')));
    expect(render(v, { format: 'yaml', color: true })).toBe(formatYaml(v, 'src'));
  });
});

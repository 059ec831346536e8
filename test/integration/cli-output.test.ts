/**
 * snapdisk's output compared with az 2.45's, recorded from az itself against snapdisk serve
 * (test/fixtures/cli/az-2.45/, written by test/e2e/cli-az.test.ts with SNAPDISK_RECORD_AZ=1):
 * JSON field names and values, YAML, TSV columns, table columns (az's table transformers, key
 * order with and without --query), Python number spelling (`100.0`), errors and exit codes (no
 * terminal to confirm on, unknown subscriptions), jsonc/yamlc colours on a terminal. The same
 * cases run live against az in the e2e suite when az is installed.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZ_CASES, AZ_SETUP, dropExtras, normalize, SNAPDISK_EXTRAS } from './cli-az-cases.js';
import { ROOT, startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

let t: CliTest;
let diskId = '';
beforeAll(async () => {
  t = await startCli();
  for (const line of AZ_SETUP) expect((await t.run(line)).code, line).toBe(0);
  diskId = (await t.run('disk show -g rg1 -n disk1 --query id -o tsv')).stdout.trim();
});
afterAll(async () => {
  await t?.close();
});

describe('cli: output as az 2.45 prints it (recorded fixtures)', () => {
  for (const c of AZ_CASES) {
    it(`${c.name}: ${c.args}`, async () => {
      const expected = await readFile(join(ROOT, 'test/fixtures/cli/az-2.45', `${c.name}.txt`), 'utf8');
      const r = await t.run(c.args.replace('{diskId}', diskId), { stdoutIsTTY: c.tty === true });
      if (c.after) await t.run(c.after);
      expect(r.code, r.stderr).toBe(c.exit ?? 0);
      expect(normalize(dropExtras(c.stderr ? r.stderr : r.stdout, c), c)).toBe(expected);
    });
  }

  it('the extra fields are only the documented ones, and never in tables or TSV', async () => {
    const az = JSON.parse(await readFile(join(ROOT, 'test/fixtures/cli/az-2.45/snapshot-show-json.txt'), 'utf8')) as Record<string, unknown>;
    const ours = (await t.run('snapshot show -g rg1 -n snap1')).json();
    expect(Object.keys(ours).filter((k) => !(k in az)).sort()).toEqual([...SNAPDISK_EXTRAS].sort());
    expect(Object.keys(az).filter((k) => !(k in ours))).toEqual([]);
    const table = (await t.run('snapshot list -o table')).stdout;
    for (const k of SNAPDISK_EXTRAS) expect(table).not.toContain(k[0]?.toUpperCase() + k.slice(1));
  });
});

/**
 * Progress bars of the data commands and of `wait`, against a real server: with stderr a
 * terminal, upload, disk and snapshot download, export-diff, apply-diff and `snapshot wait` on
 * completionPercent draw a bar with the amount, the rate and the ETA, and clear it at the end;
 * piped, or with --only-show-errors, they draw nothing. (The harness runs every other test with
 * SNAPDISK_PROGRESS=never; `stderrIsTTY` lifts that.)
 */

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;

let t: CliTest;
beforeAll(async () => {
  t = await startCli();
  expect((await t.run('group create -n rg -l eastus -o none')).code).toBe(0);
  await writeFile(join(t.dir, 'image.raw'), randomBytes(SIZE));
  await writeFile(join(t.dir, 'small.raw'), randomBytes(4 * MiB));
});
afterAll(async () => {
  await t?.close();
});

const AMOUNT = String.raw`\d+(?:\.\d)? (?:B|KiB|MiB|GiB)`;
/** One frame of a transfer bar: label, bar, percent, done/total, rate, ETA. */
const BYTES_FRAME = (label: string): RegExp =>
  new RegExp(String.raw`\r${label} {2}\[[█░]{10,30}\] {2}[ \d]{2}\d% {2}${AMOUNT}/${AMOUNT} {2}${AMOUNT}/s {2}ETA (\d+:\d\d|--:--)\x1b\[K`, 'g');
const PERCENT_FRAME = (label: string): RegExp => new RegExp(String.raw`\r${label} {2}\[[█░]{10,30}\] {2}[ \d]{2}\d% {2}\d+\.\d\d %/s {2}ETA (\d+:\d\d|--:--)\x1b\[K`, 'g');

/** The frames of `re` in `stderr`; the bar is cleared last and nothing else is written. */
function frames(stderr: string, re: RegExp): RegExpMatchArray[] {
  const found = [...stderr.matchAll(re)];
  expect(found.length, JSON.stringify(stderr.slice(0, 400))).toBeGreaterThan(0);
  expect(stderr.endsWith('\r\x1b[K'), JSON.stringify(stderr.slice(-80))).toBe(true);
  expect(stderr.replace(re, '').replaceAll('\r\x1b[K', '')).toBe('');
  // a rate was measured: some frame has a real ETA, and the amounts are the file's
  expect(found.some((m) => /\d:\d\d$/.test(m[1] ?? '')), JSON.stringify(found.map((m) => m[0]))).toBe(true);
  return found;
}

describe('cli: progress bars on a terminal', () => {
  it('upload, download, export-diff, apply-diff: amount, rate and ETA; cleared at the end', async () => {
    const tty = { stderrIsTTY: true };
    const up = await t.run('disk upload -g rg -n d1 --file image.raw --sku Standard_LRS --parallel 1', tty);
    expect(up.code, up.stderr).toBe(0);
    expect(frames(up.stderr, BYTES_FRAME('Uploading d1')).at(-1)?.[0]).toMatch(/ 100% {2}32\.0 MiB\/32\.0 MiB {2}/);
    expect(up.json()).toMatchObject({ sentBytes: SIZE });
    const dd = await t.run('disk download -g rg -n d1 --file d1.raw --parallel 1', tty);
    expect(dd.code, dd.stderr).toBe(0);
    frames(dd.stderr, BYTES_FRAME('Downloading d1'));
    expect((await t.run('snapshot create -g rg -n s1 --source d1 --incremental true -o none')).code).toBe(0);
    const sd = await t.run('snapshot download -g rg -n s1 --file s1.raw --parallel 1', tty);
    expect(sd.code, sd.stderr).toBe(0);
    frames(sd.stderr, BYTES_FRAME('Downloading s1'));
    const ex = await t.run('snapshot export-diff -g rg --to s1 --file s1.sdiff --parallel 1', tty);
    expect(ex.code, ex.stderr).toBe(0);
    frames(ex.stderr, BYTES_FRAME('Exporting s1'));
    const ap = await t.run('snapshot apply-diff --file s1.sdiff --target restored.raw', tty);
    expect(ap.code, ap.stderr).toBe(0);
    frames(ap.stderr, BYTES_FRAME('Applying s1'));
    // the bars changed nothing in what was transferred
    const image = await readFile(join(t.dir, 'image.raw'));
    for (const f of ['d1.raw', 's1.raw', 'restored.raw']) expect((await readFile(join(t.dir, f))).subarray(0, SIZE).equals(image), f).toBe(true);
  });

  it('wait --custom on completionPercent: a percent bar with rate and ETA', async () => {
    expect((await t.run('snapshot create -g rg -n s1-west -l westus --source s1 --incremental true --query creationData.createOption -o tsv')).stdout).toBe('CopyStart\n');
    const w = await t.run('snapshot wait -g rg -n s1-west --custom "completionPercent==`100`" --interval 0', { stderrIsTTY: true });
    expect(w.code, w.stderr).toBe(0);
    const found = frames(w.stderr, PERCENT_FRAME('Waiting for s1-west'));
    // eslint-disable-next-line no-control-regex
    expect(found.at(-1)?.[0]).toMatch(/ 100% {2}\d+\.\d\d %\/s {2}ETA 0:00\x1b\[K$/);
  });

  it('nothing when stderr is piped, or with --only-show-errors on a terminal', async () => {
    const piped = { env: { SNAPDISK_PROGRESS: undefined } };
    const runs = [
      await t.run('disk upload -g rg -n d2 --file small.raw --sku Standard_LRS -o none', piped),
      await t.run('disk download -g rg -n d2 --file d2.raw -o none', piped),
      await t.run('snapshot export-diff -g rg --to s1 --file s1b.sdiff -o none', piped),
      await t.run('snapshot apply-diff --file s1b.sdiff --target r2.raw -o none', piped),
      await t.run('snapshot wait -g rg -n s1-west --custom "completionPercent==`100`" --interval 0', piped),
      await t.run('disk upload -g rg -n d3 --file small.raw --sku Standard_LRS -o none --only-show-errors', { stderrIsTTY: true }),
      await t.run('disk download -g rg -n d3 --file d3.raw -o none --only-show-errors', { stderrIsTTY: true }),
      await t.run('snapshot export-diff -g rg --to s1 --file s1c.sdiff -o none --only-show-errors', { stderrIsTTY: true }),
      await t.run('snapshot apply-diff --file s1c.sdiff --target r3.raw -o none --only-show-errors', { stderrIsTTY: true }),
      await t.run('snapshot wait -g rg -n s1-west --custom "completionPercent==`100`" --interval 0 --only-show-errors', { stderrIsTTY: true }),
    ];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    }
  });
});

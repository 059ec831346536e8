/**
 * An off-site differential backup chain with the CLI: five successive incremental snapshots of a
 * disk with random unaligned writes and trims between them; `snapshot export-diff` of each step
 * (the first a full export), `snapshot apply-diff` onto a local raw image after each, byte-compared
 * with that snapshot's `snapshot download`. Then the chain restored from scratch, and the
 * refusals: diffs out of order, a wrong-size image, truncated, corrupted and padded files (none of
 * which may write a byte).
 */

import { createHash } from 'node:crypto';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import { prng } from '../helpers/engine.js';
import { startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

const SIZE = 64 * MiB;

let t: CliTest;
beforeAll(async () => {
  t = await startCli();
  expect((await t.run('group create -n backup -l eastus -o none')).code).toBe(0);
});
afterAll(async () => {
  await t?.close();
});

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('cli: differential backup chain', () => {
  it('export-diff / apply-diff over 5 snapshots reproduce every snapshot; refusals write nothing', async () => {
    const rnd = prng(606);
    const rint = (n: number): number => rnd(4).readUInt32LE(0) % n;
    // the disk: an upload of a partly filled image (upload disks may be any whole MiB)
    const initial = Buffer.alloc(SIZE);
    rnd(6 * MiB).copy(initial, 2 * MiB);
    await writeFile(join(t.dir, 'initial.raw'), initial);
    const up = await t.run(`disk upload -g backup -n vm-disk --file ${join(t.dir, 'initial.raw')} --sku Standard_LRS`);
    expect(up.code, up.stderr).toBe(0);
    const disk = (await t.run('disk show -g backup -n vm-disk')).json();
    expect(disk.diskSizeBytes).toBe(SIZE);
    const h = await t.server.engine.disks.open(String(disk.uniqueId));
    const mutate = async (touched: Set<number>): Promise<void> => {
      const touch = (off: number, len: number): void => {
        for (let b = Math.floor(off / BLOCK_SIZE); b <= Math.floor((off + len - 1) / BLOCK_SIZE); b++) touched.add(b);
      };
      for (let i = 0; i < 12; i++) {
        const len = 1 + rint(300 * 1024);
        const off = rint(SIZE - len);
        await h.write(off, rnd(len));
        touch(off, len);
      }
      for (let i = 0; i < 3; i++) {
        const len = 512 * (1 + rint(2000));
        const off = 512 * rint((SIZE - len) / 512);
        await h.zero(off, len);
        touch(off, len);
      }
      await h.flush();
    };

    const image = join(t.dir, 'offsite.raw');
    const files: string[] = [];
    for (let k = 0; k < 5; k++) {
      const touched = new Set<number>();
      await mutate(touched);
      const snap = `s${k}`;
      expect((await t.run(`snapshot create -g backup -n ${snap} --source vm-disk --incremental true -o none`)).code).toBe(0);
      const file = join(t.dir, `${snap}.sdiff`);
      files.push(file);
      const exp = k === 0 ? await t.run(`snapshot export-diff -g backup --to ${snap} --file ${file}`) : await t.run(`snapshot export-diff -g backup --from s${k - 1} --to ${snap} --file ${file}`);
      expect(exp.code, exp.stderr).toBe(0);
      expect(exp.json()).toMatchObject({ kind: k === 0 ? 'full' : 'incremental', diskSizeBytes: SIZE });
      if (k > 0) {
        // the diff lists only blocks touched since the previous snapshot
        const ranges = (await t.run(`snapshot diff -g backup --from s${k - 1} --to ${snap}`)).json<Array<{ kind: string; offset: number; length: number }>>();
        expect(ranges.length).toBeGreaterThan(0);
        // the same list when it comes one range per page (NextMarker paging)
        const paged = await t.run(`snapshot diff -g backup --from s${k - 1} --to ${snap}`, { env: { SNAPDISK_PAGE_LIST_SIZE: '1' } });
        expect(paged.json()).toEqual(ranges);
        for (const r of ranges) {
          for (let b = Math.floor(r.offset / BLOCK_SIZE); b < Math.ceil((r.offset + r.length) / BLOCK_SIZE); b++) expect(touched.has(b), `${r.kind} block ${b}`).toBe(true);
        }
        expect((await t.run(`snapshot show -g backup -n s${k - 1} --query diskState -o tsv`)).stdout).toBe('Unattached\n');
      }
      // apply with the built CLI, as a backup host would
      const applied = await t.exec(['snapshot', 'apply-diff', '--file', file, '--target', image]);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.json()).toMatchObject({ applied: true, to: expect.stringMatching(new RegExp(`/snapshots/${snap}$`)) });
      const downloaded = join(t.dir, `${snap}.raw`);
      expect((await t.run(`snapshot download -g backup -n ${snap} --file ${downloaded} -o none`)).code).toBe(0);
      expect((await readFile(image)).equals(await readFile(downloaded)), `image after ${snap}`).toBe(true);
      expect((await t.run(`snapshot show -g backup -n ${snap} --query diskState -o tsv`)).stdout).toBe('Unattached\n');
    }
    const last = await readFile(join(t.dir, 's4.raw'));
    expect(last.equals(initial)).toBe(false);

    // restore the whole chain elsewhere
    const fresh = join(t.dir, 'fresh.raw');
    const chain = await t.bash(`set -e\nfor f in ${files.join(' ')}; do snapdisk snapshot apply-diff --file "$f" --target ${fresh} -o none; done`);
    expect(chain.code, chain.stderr).toBe(0);
    expect((await readFile(fresh)).equals(last)).toBe(true);

    // out of order: an image at s1 refuses the s2→s3 diff
    const atS1 = join(t.dir, 'at-s1.raw');
    for (const f of files.slice(0, 2)) expect((await t.run(`snapshot apply-diff --file ${f} --target ${atS1} -o none`)).code).toBe(0);
    const before = await sha(atS1);
    const wrong = await t.run(`snapshot apply-diff --file ${files[3] ?? ''} --target ${atS1}`);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('holds snapshot s1');
    expect(wrong.stderr).toContain('Nothing was written');
    expect(await sha(atS1)).toBe(before);
    // re-applying the diff the image already holds is a no-op
    const same = await t.run(`snapshot apply-diff --file ${files[1] ?? ''} --target ${atS1}`);
    expect(same.code).toBe(0);
    expect(same.json()).toMatchObject({ applied: false });
    // a full export does not overwrite an image unless asked to
    expect((await t.run(`snapshot apply-diff --file ${files[0] ?? ''} --target ${atS1}`)).code).toBe(2);

    // an image of the wrong size
    const small = join(t.dir, 'small.raw');
    await writeFile(small, Buffer.alloc(MiB));
    const sized = await t.run(`snapshot apply-diff --file ${files[1] ?? ''} --target ${small} --force`);
    expect(sized.code).toBe(1);
    expect(sized.stderr).toContain(`this diff applies to a ${SIZE}-byte image`);

    // damaged files are rejected before anything is written
    const good = files[2] ?? '';
    const bad = join(t.dir, 'bad.sdiff');
    const variants: Array<[string, () => Promise<void>, string]> = [
      ['truncated', async () => {
        await copyFile(good, bad);
        await truncate(bad, Math.floor((await readFile(good)).length / 2));
      }, 'it ends inside'],
      ['one byte flipped', async () => {
        const b = await readFile(good);
        b[Math.floor(b.length / 2)] = (b[Math.floor(b.length / 2)] ?? 0) ^ 0x40;
        await writeFile(bad, b);
      }, 'checksum does not match'],
      ['bytes appended', async () => {
        await writeFile(bad, Buffer.concat([await readFile(good), Buffer.from('x')]));
      }, 'bytes after the end marker'],
      ['not a diff', async () => {
        await writeFile(bad, Buffer.alloc(4096, 7));
      }, 'no SNAPDIFF magic'],
    ];
    for (const [what, make, message] of variants) {
      await make();
      const r = await t.run(`snapshot apply-diff --file ${bad} --target ${atS1}`);
      expect(r.code, what).toBe(1);
      expect(r.stderr, what).toContain(message);
      expect(await sha(atS1), what).toBe(before);
    }
    const check = await t.run(`snapshot apply-diff --file ${good} --target ${atS1} --check`);
    expect(check.code).toBe(0);
    expect(check.json()).toMatchObject({ applied: false, kind: 'incremental' });
    expect(await sha(atS1)).toBe(before);
    // after the refusals, the right diff still applies
    expect((await t.run(`snapshot apply-diff --file ${good} --target ${atS1} -o none`)).code).toBe(0);
    expect((await readFile(atS1)).equals(await readFile(join(t.dir, 's2.raw')))).toBe(true);
  });

  it('export-diff refuses pairs the server could not diff, with the reason', async () => {
    expect((await t.run('snapshot create -g backup -n other-disk-s --source s0 -o none')).code).toBe(0); // a full snapshot
    const full = await t.run(`snapshot export-diff -g backup --from other-disk-s --to s1 --file ${join(t.dir, 'x.sdiff')}`);
    expect(full.code).toBe(2);
    expect(full.stderr).toContain('must be incremental');
    const reversed = await t.run(`snapshot export-diff -g backup --from s3 --to s1 --file ${join(t.dir, 'x.sdiff')}`);
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('is newer than --to');
    const exists = await t.run(`snapshot export-diff -g backup --from s0 --to s1 --file ${join(t.dir, 's1.sdiff')}`);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain('--overwrite');
  });
});

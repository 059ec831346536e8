/**
 * Data-plane throughput (issue 4): ranged GETs of 4 MiB over keep-alive HTTP on a 1 GiB snapshot
 * of random data, once cold-ish (first pass after the background copy) and then from cache
 * (second pass). Prints the figures; asserts only that every byte arrived.
 */

import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { benchRangedGet } from '../../src/api/blob/bench-blob.js';
import { GiB, MiB } from '../../src/core/units.js';
import { createDisk, snapshot } from '../helpers/engine.js';
import { startBlobServer } from '../integration/blob-harness.js';

describe('blob: ranged GET throughput', () => {
  it('1 GiB snapshot, 4 MiB ranges, keep-alive', async () => {
    const b = await startBlobServer();
    try {
      const e = b.t.engine;
      const disk = await createDisk(e, 'bench');
      const h = await e.disks.open(disk.uniqueId);
      const buf = Buffer.allocUnsafe(64 * MiB);
      for (let off = 0; off < GiB; off += buf.length) await h.write(off, randomFillSync(buf));
      const s = await snapshot(e, disk, 'bench-s1');
      await e.idle();
      const { url } = await b.grant(s);
      const diskUrl = await (async () => {
        const { url: u } = await b.grant(disk);
        return u;
      })();
      const lines: string[] = [];
      for (const [label, target] of [['snapshot', url], ['disk', diskUrl]] as const) {
        for (const pass of ['first', 'second']) {
          for (const parallel of [1, 2]) {
            const r = await benchRangedGet({ url: target, totalBytes: GiB, rangeBytes: 4 * MiB, parallel });
            expect(r.bytes).toBe(GiB);
            lines.push(`${label} ${pass} pass, ${parallel} connection(s): ${r.gbPerSecond.toFixed(2)} GB/s (${r.seconds.toFixed(2)} s, ${r.requests} requests)`);
          }
        }
      }
      console.log(lines.join('\n'));
    } finally {
      await b.close();
    }
  });
});

/**
 * Data-plane throughput (issue 4): ranged GETs of 4 MiB over keep-alive HTTP on a 1 GiB snapshot
 * and a 1 GiB disk of random data, each read twice (the second pass from the page cache and the
 * chunk cache); and the latency of a diff request on 1 GiB and 1 TiB disks with the same changes.
 * Prints the figures; asserts only that every byte and range arrived. Numbers under vitest
 * are lower than from a plain `node` process (see docs/DATA-PLANE.md "Performance").
 */

import { describe, expect, it } from 'vitest';
import { benchBlobServer, benchDiffLatency, formatBlobBench } from '../../src/api/blob/bench-blob.js';
import { GiB } from '../../src/core/units.js';
import { RG, SUB } from '../helpers/engine.js';
import { startBlobServer } from '../integration/blob-harness.js';

describe('blob: ranged GET throughput', () => {
  it('1 GiB snapshot and disk, 4 MiB ranges, keep-alive', async () => {
    const b = await startBlobServer();
    try {
      const lines = await benchBlobServer({ engine: b.t.engine, sas: b.sas, subscriptionId: SUB, resourceGroup: RG });
      for (const l of lines) expect(l.bytes).toBe(GiB);
      console.log(formatBlobBench(lines));
    } finally {
      await b.close();
    }
  });

  it('diff latency: 1000 changed blocks on 1 GiB and 1 TiB disks', async () => {
    const b = await startBlobServer();
    try {
      const res = await benchDiffLatency({ engine: b.t.engine, sas: b.sas, subscriptionId: SUB, resourceGroup: RG, sizesGb: [1, 1024] });
      for (const r of res) expect(r.ranges).toBe(1000);
      console.log(res.map((r) => `blob diff ${r.sizeGb} GiB, ${r.changedBlocks} changed blocks: ${r.medianMs.toFixed(1)} ms (${r.ranges} ranges)`).join('\n'));
    } finally {
      await b.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { blockSpan, blocksToRanges, clipRanges, mergeRanges } from './ranges.js';
import { BLOCK_SIZE } from './units.js';

describe('ranges', () => {
  it('blocksToRanges merges adjacent blocks of the same kind and clips the last block', () => {
    const r = blocksToRanges(
      [
        { block: 0, clear: false },
        { block: 1, clear: false },
        { block: 2, clear: true },
        { block: 4, clear: true },
        { block: 5, clear: true },
      ],
      5 * BLOCK_SIZE + 100,
    );
    expect(r).toEqual([
      { start: 0, end: 2 * BLOCK_SIZE, clear: false },
      { start: 2 * BLOCK_SIZE, end: 3 * BLOCK_SIZE, clear: true },
      { start: 4 * BLOCK_SIZE, end: 5 * BLOCK_SIZE + 100, clear: true },
    ]);
  });

  it('mergeRanges joins overlaps and touching ranges; clipRanges cuts to a window', () => {
    expect(mergeRanges([{ start: 0, end: 10 }, { start: 10, end: 20 }, { start: 15, end: 30 }, { start: 40, end: 50 }])).toEqual([
      { start: 0, end: 30 },
      { start: 40, end: 50 },
    ]);
    expect(clipRanges([{ start: 0, end: 10 }, { start: 20, end: 30 }], 5, 25)).toEqual([
      { start: 5, end: 10 },
      { start: 20, end: 25 },
    ]);
  });

  it('blockSpan: blocks touched by a byte range, beyond 4 GiB too', () => {
    expect(blockSpan(0, 0)).toBeNull();
    expect(blockSpan(BLOCK_SIZE - 1, 2)).toEqual({ first: 0, last: 1 });
    const far = 5 * 1024 ** 4;
    expect(blockSpan(far, BLOCK_SIZE)).toEqual({ first: far / BLOCK_SIZE, last: far / BLOCK_SIZE });
  });
});

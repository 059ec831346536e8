import { describe, expect, it } from 'vitest';
import { Bitmap } from './bitmap.js';

describe('Bitmap', () => {
  it('setRange/clearRange: counts and touched byte spans', () => {
    const b = new Bitmap(100);
    expect(b.setRange(3, 20)).toEqual({ from: 0, to: 3 });
    expect(b.count).toBe(17);
    expect(b.setRange(5, 10)).toBeNull();
    expect(b.clearRange(8, 9)).toEqual({ from: 1, to: 2 });
    expect(b.count).toBe(16);
    expect(b.get(8)).toBe(false);
    expect(b.get(9)).toBe(true);
    expect(() => b.setRange(99, 101)).toThrow(RangeError);
  });

  it('nextSet/nextClear skip long runs and stop at the end', () => {
    const b = new Bitmap(10_000_000);
    expect(b.nextSet(0)).toBe(-1);
    b.set(9_999_999);
    b.set(12);
    expect(b.nextSet(0)).toBe(12);
    expect(b.nextSet(13)).toBe(9_999_999);
    expect(b.nextClear(12)).toBe(13);
    b.setRange(0, 10_000_000);
    expect(b.nextClear(0)).toBe(-1);
    expect(b.count).toBe(10_000_000);
  });

  it('matches a reference set under random operations', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const n = 777;
    const b = new Bitmap(n);
    const ref = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const a = rnd(n);
      const e = Math.min(n, a + rnd(40));
      if (rnd(2)) {
        b.setRange(a, e);
        for (let k = a; k < e; k++) ref.add(k);
      } else {
        b.clearRange(a, e);
        for (let k = a; k < e; k++) ref.delete(k);
      }
      expect(b.count).toBe(ref.size);
    }
    const listed: number[] = [];
    for (let i = b.nextSet(0); i !== -1; i = b.nextSet(i + 1)) listed.push(i);
    expect(listed).toEqual([...ref].sort((x, y) => x - y));
    expect(b.countRange(100, 500)).toBe(listed.filter((x) => x >= 100 && x < 500).length);
  });

  it('nextSet/nextClear find bits at byte, word and page boundaries from any start', () => {
    const PAGE = 64 * 1024 * 8;
    const n = 3 * PAGE + 50;
    const marks = [0, 7, 8, 31, 32, 33, 63, 64, 95, 200, PAGE - 1, PAGE, PAGE + 31, PAGE + 32, 2 * PAGE + 100, n - 1].sort((a, b) => a - b);
    const sparse = new Bitmap(n);
    for (const m of marks) sparse.set(m);
    const dense = new Bitmap(n);
    dense.setRange(0, n);
    for (const m of marks) dense.clear(m);
    const starts = new Set<number>();
    for (const m of marks) for (const d of [-33, -32, -9, -8, -1, 0, 1, 2, 9]) if (m + d >= 0 && m + d < n) starts.add(m + d);
    for (const from of starts) {
      const expected = marks.find((m) => m >= from) ?? -1;
      expect(sparse.nextSet(from)).toBe(expected);
      expect(dense.nextClear(from)).toBe(expected);
    }
    expect(sparse.nextSet(n)).toBe(-1);
    expect(dense.nextClear(n)).toBe(-1);
    expect(sparse.countRange(0, n)).toBe(marks.length);
  });

  it('view: the bytes of a span inside one existing page without a copy; null across pages or without a page', () => {
    const PAGE_BYTES = 64 * 1024;
    const b = new Bitmap(3 * PAGE_BYTES * 8);
    const span = b.setRange(8 * 100 + 3, 8 * 103);
    expect(span).toEqual({ from: 100, to: 103 });
    const v = b.view(100, 103);
    expect(v && [...v]).toEqual([0xf8, 0xff, 0xff]);
    b.set(8 * 101 + 0); // no change: already set
    b.clear(8 * 102 + 7);
    expect(v && [...v]).toEqual([0xf8, 0xff, 0x7f]); // a view of the page, not a copy
    const across = b.setRange(PAGE_BYTES * 8 - 4, PAGE_BYTES * 8 + 4);
    expect(across).toEqual({ from: PAGE_BYTES - 1, to: PAGE_BYTES + 1 });
    expect(b.view(PAGE_BYTES - 1, PAGE_BYTES + 1)).toBeNull();
    expect([...b.readBytes(PAGE_BYTES - 1, PAGE_BYTES + 1)]).toEqual([0xf0, 0x0f]);
    expect(b.view(2 * PAGE_BYTES, 2 * PAGE_BYTES + 4)).toBeNull(); // no page there
    expect(b.view(5, 5)).toBeNull();
  });

  it('persistable: rebuilt from its bytes with the same bits; resize keeps bits that fit', () => {
    const b = new Bitmap(70);
    b.setRange(60, 70);
    b.set(1);
    const copy = new Bitmap(70, Uint8Array.from(b.bytes));
    expect(copy.count).toBe(11);
    const grown = b.resized(200);
    expect(grown.count).toBe(11);
    expect(grown.get(69)).toBe(true);
    const shrunk = b.resized(65);
    expect(shrunk.count).toBe(6);
    expect(shrunk.nextSet(2)).toBe(60);
  });
});

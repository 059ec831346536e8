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

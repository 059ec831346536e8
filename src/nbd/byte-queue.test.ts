/**
 * @module nbd/byte-queue.test
 */

import { describe, expect, it } from 'vitest';
import { ByteQueue } from './byte-queue.js';

describe('ByteQueue', () => {
  it('take: zero-copy inside one chunk, one copy across chunks', () => {
    const q = new ByteQueue();
    const a = Buffer.from('abcdef');
    q.push(a);
    q.push(Buffer.from('ghij'));
    const first = q.take(3);
    expect(first.toString()).toBe('abc');
    expect(first.buffer).toBe(a.buffer); // a view, not a copy
    expect(q.take(5).toString()).toBe('defgh');
    expect(q.length).toBe(2);
    expect(q.take(2).toString()).toBe('ij');
    expect(q.length).toBe(0);
  });

  it('skip discards across chunks and reports how much it dropped', () => {
    const q = new ByteQueue();
    q.push(Buffer.alloc(10, 1));
    q.push(Buffer.alloc(10, 2));
    expect(q.skip(15)).toBe(15);
    expect(q.take(5)).toEqual(Buffer.alloc(5, 2));
    expect(q.skip(100)).toBe(0);
  });

  it('take beyond the queued bytes throws', () => {
    const q = new ByteQueue();
    q.push(Buffer.alloc(3));
    expect(() => q.take(4)).toThrow(RangeError);
  });

  it('many small chunks (a trickling client) reassemble correctly', () => {
    const q = new ByteQueue();
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    for (let i = 0; i < data.length; i++) q.push(data.subarray(i, i + 1));
    expect(q.take(28)).toEqual(data.subarray(0, 28));
    expect(q.take(972)).toEqual(data.subarray(28));
  });

  it('contiguous and copyTo: a payload split over chunks lands in a caller buffer', () => {
    const q = new ByteQueue();
    q.push(Buffer.from('abc'));
    q.push(Buffer.from('defg'));
    expect(q.contiguous(3)).toBe(true);
    expect(q.contiguous(4)).toBe(false);
    const target = Buffer.alloc(5);
    q.copyTo(target);
    expect(target.toString()).toBe('abcde');
    expect(q.take(2).toString()).toBe('fg');
    expect(q.contiguous(1)).toBe(false);
  });
});

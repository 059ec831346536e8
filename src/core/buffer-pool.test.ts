/**
 * @module nbd/buffer-pool.test
 */

import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.js';

describe('BufferPool', () => {
  it('hands out power-of-two classes of at least 64 KiB and reuses released buffers', () => {
    const pool = new BufferPool(8 * 1024 * 1024);
    const a = pool.acquire(100);
    expect(a.length).toBe(64 * 1024);
    const b = pool.acquire(300 * 1024);
    expect(b.length).toBe(512 * 1024);
    pool.release(b);
    expect(pool.idleSize).toBe(512 * 1024);
    expect(pool.acquire(257 * 1024)).toBe(b);
    expect(pool.idleSize).toBe(0);
  });

  it('keeps at most maxIdleBytes idle and ignores foreign buffers', () => {
    const pool = new BufferPool(1024 * 1024);
    const bufs = [pool.acquire(512 * 1024), pool.acquire(512 * 1024), pool.acquire(512 * 1024)];
    for (const b of bufs) pool.release(b);
    expect(pool.idleSize).toBe(1024 * 1024);
    pool.release(Buffer.alloc(1000));
    expect(pool.idleSize).toBe(1024 * 1024);
  });
});

/**
 * @module cli/progress.test
 * Progress bars: drawn with rate and ETA when enabled, nothing when not, cleared at the end.
 */
import { describe, expect, it } from 'vitest';
import { createProgress, humanBytes } from './progress.js';

describe('progress', () => {
  it('draws percentage, amounts, rate and ETA, throttled, and clears itself', () => {
    let now = 0;
    const out: string[] = [];
    const p = createProgress(true, { label: 'Uploading d1', total: 100 * 1024 * 1024, unit: 'bytes', write: (t) => out.push(t), now: () => now, columns: 120 });
    now = 1000;
    p.update(10 * 1024 * 1024);
    now = 1050;
    p.update(11 * 1024 * 1024); // within 100 ms: not drawn
    now = 2000;
    p.update(20 * 1024 * 1024);
    now = 2010;
    p.update(100 * 1024 * 1024); // the total: drawn however soon
    p.done();
    expect(out).toHaveLength(4);
    // eslint-disable-next-line no-control-regex
    expect(out[0]).toMatch(/^\rUploading d1 {2}\[█+░+\] {2} 10% {2}10\.0 MiB\/100\.0 MiB {2}10\.0 MiB\/s {2}ETA 0:09\x1b\[K$/);
    expect(out[1]).toContain(' 20%');
    // eslint-disable-next-line no-control-regex
    expect(out[2]).toMatch(/ 100% {2}100\.0 MiB\/100\.0 MiB {2}[\d.]+ MiB\/s {2}ETA 0:00\x1b\[K$/);
    expect(out[3]).toBe('\r\x1b[K');
  });

  it('disabled: writes nothing', () => {
    const out: string[] = [];
    const p = createProgress(false, { label: 'x', total: 1, unit: 'bytes', write: (t) => out.push(t) });
    p.update(1);
    p.done();
    expect(out).toEqual([]);
  });

  it('human sizes', () => {
    expect([humanBytes(0), humanBytes(1536), humanBytes(5 * 1024 ** 3), humanBytes(500.3333)]).toEqual(['0 B', '1.5 KiB', '5.0 GiB', '500 B']);
  });
});

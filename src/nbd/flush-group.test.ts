/**
 * @module nbd/flush-group.test
 * Group commit of flushes: every caller is covered by a sync that started after its call, and
 * callers that arrive while a sync runs share the next one.
 */

import { describe, expect, it } from 'vitest';
import { FlushGroup } from './engine-backend.js';

/** A sync whose runs are started and finished by the test; `log` records starts and finishes. */
function controlledSync(): { sync: () => Promise<void>; finish: (error?: Error) => void; started: () => number; log: string[] } {
  const log: string[] = [];
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let runs = 0;
  return {
    log,
    started: () => runs,
    sync: () =>
      new Promise<void>((resolve, reject) => {
        runs++;
        log.push(`start ${runs}`);
        pending.push({ resolve, reject });
      }),
    finish: (error) => {
      const p = pending.shift();
      if (p === undefined) throw new Error('no sync is running');
      log.push(`end ${runs - pending.length}`);
      if (error) p.reject(error);
      else p.resolve();
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FlushGroup', () => {
  it('callers during a running sync share the next one, which starts after it', async () => {
    const s = controlledSync();
    const g = new FlushGroup(s.sync);
    const done: string[] = [];
    const first = g.flush().then(() => done.push('first'));
    await tick();
    const later = Array.from({ length: 5 }, (_, i) => g.flush().then(() => done.push(`later ${i}`)));
    await tick();
    expect(s.started()).toBe(1); // nobody joins the sync that started before their call
    s.finish();
    await first;
    await tick();
    expect(done).toEqual(['first']);
    expect(s.started()).toBe(2);
    s.finish();
    await Promise.all(later);
    expect(done).toHaveLength(6);
    expect(s.log).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    // idle again: a new caller starts at once
    const again = g.flush();
    expect(s.started()).toBe(3);
    s.finish();
    await again;
  });

  it('a failed sync fails only its own callers; the next one still runs', async () => {
    const s = controlledSync();
    const g = new FlushGroup(s.sync);
    const first = g.flush();
    const second = g.flush();
    s.finish(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await tick();
    expect(s.started()).toBe(2);
    s.finish();
    await expect(second).resolves.toBeUndefined();
  });
});

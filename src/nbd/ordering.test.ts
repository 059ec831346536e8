/**
 * @module nbd/ordering.test
 */

import { describe, expect, it } from 'vitest';
import { RequestOrder } from './ordering.js';
import type { Access } from './ordering.js';

function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('RequestOrder', () => {
  it('non-conflicting requests start at once', () => {
    const order = new RequestOrder();
    const started: string[] = [];
    const g = gate();
    const task = (name: string) => async () => {
      started.push(name);
      await g.promise;
    };
    void order.run('write', 0, 100, task('w1'));
    void order.run('write', 100, 200, task('w2'));
    void order.run('read', 200, 300, task('r1'));
    void order.run('read', 0, 50, task('r-overlaps-w1'));
    expect(started).toEqual(['w1', 'w2', 'r1']);
    g.open();
  });

  it('conflicts wait for earlier requests, in the table of the module header', async () => {
    const cases: [Access, number, number, Access, number, number, boolean][] = [
      ['write', 0, 10, 'write', 5, 15, true],
      ['write', 0, 10, 'read', 9, 10, true],
      ['read', 0, 10, 'write', 0, 10, true],
      ['read', 0, 10, 'read', 0, 10, false],
      ['write', 0, 10, 'write', 10, 20, false],
      ['write', 0, 10, 'flush', 0, 0, true],
      ['read', 0, 10, 'flush', 0, 0, false],
      ['flush', 0, 0, 'write', 0, 10, false],
      ['write', 0, 10, 'none', 0, 10, false],
    ];
    for (const [a1, s1, e1, a2, s2, e2, waits] of cases) {
      const order = new RequestOrder();
      const g = gate();
      let second = false;
      const first = order.run(a1, s1, e1, () => g.promise);
      const done = order.run(a2, s2, e2, async () => {
        second = true;
      });
      await Promise.resolve();
      expect(second, `${a1} [${s1},${e1}) then ${a2} [${s2},${e2})`).toBe(!waits);
      g.open();
      await Promise.all([first, done]);
      expect(second).toBe(true);
      expect(order.size).toBe(0);
    }
  });

  it('overlapping writes apply in arrival order even when the first is slow', async () => {
    const order = new RequestOrder();
    const applied: number[] = [];
    const slow = gate();
    const all = [
      order.run('write', 0, 4096, async () => {
        await slow.promise;
        applied.push(1);
      }),
      order.run('write', 1000, 2000, async () => {
        applied.push(2);
      }),
      order.run('write', 0, 8192, async () => {
        applied.push(3);
      }),
    ];
    setTimeout(slow.open, 10);
    await Promise.all(all);
    expect(applied).toEqual([1, 2, 3]);
  });

  it('a failing task does not wedge its successors', async () => {
    const order = new RequestOrder();
    const failing = order.run('write', 0, 10, () => Promise.reject(new Error('boom')));
    let ran = false;
    await order.run('write', 0, 10, async () => {
      ran = true;
    });
    await failing;
    expect(ran).toBe(true);
  });
});

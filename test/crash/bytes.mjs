// The data generator the crash workers write and the tests replay: xorshift32 bytes of a seed.
import { Buffer } from 'node:buffer';

/** `n` bytes of the xorshift32 stream seeded by `seed` (0 counts as 1). */
export function xorshiftBytes(seed, n) {
  let y = seed >>> 0 || 1;
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) {
    y ^= y << 13; y >>>= 0; y ^= y >>> 17; y ^= y << 5; y >>>= 0;
    b[k] = y & 0xff;
  }
  return b;
}

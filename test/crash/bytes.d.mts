/** `n` bytes of the xorshift32 stream seeded by `seed` (0 counts as 1). */
export function xorshiftBytes(seed: number, n: number): Buffer;

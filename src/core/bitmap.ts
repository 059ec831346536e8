/**
 * @module core/bitmap
 * A fixed-length bit set over block indexes, backed by a Uint8Array so that it can be persisted
 * byte for byte (bit i lives in byte i >> 3, mask 1 << (i & 7)). It keeps a running count of set
 * bits so that freezing a change set of a 16 TiB disk is O(1). Mutators report which byte range
 * they touched so that a persistent wrapper can write back exactly those bytes.
 */

export interface ByteSpan {
  /** First byte index touched (inclusive). */
  from: number;
  /** Last byte index touched (exclusive). */
  to: number;
}

export class Bitmap {
  readonly bytes: Uint8Array;
  private setCount: number;

  constructor(
    readonly length: number,
    bytes?: Uint8Array,
  ) {
    const need = Math.ceil(length / 8);
    if (bytes && bytes.length >= need) {
      this.bytes = bytes.length === need ? bytes : bytes.subarray(0, need);
      this.clearTail();
      this.setCount = countBits(this.bytes);
    } else {
      this.bytes = new Uint8Array(need);
      if (bytes) this.bytes.set(bytes);
      this.setCount = countBits(this.bytes);
    }
  }

  get count(): number {
    return this.setCount;
  }

  get(i: number): boolean {
    return ((this.bytes[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
  }

  /** Sets bits [from, to). Returns the bytes that changed, or null when none did. */
  setRange(from: number, to: number): ByteSpan | null {
    return this.apply(from, to, true);
  }

  /** Clears bits [from, to). Returns the bytes that changed, or null when none did. */
  clearRange(from: number, to: number): ByteSpan | null {
    return this.apply(from, to, false);
  }

  set(i: number): boolean {
    return this.apply(i, i + 1, true) !== null;
  }

  clear(i: number): boolean {
    return this.apply(i, i + 1, false) !== null;
  }

  /** True when every bit in [from, to) is set. */
  allSet(from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (!this.get(i)) return false;
    return true;
  }

  /** Index of the first set bit at or after `from`, or -1. Skips zero bytes and words quickly. */
  nextSet(from: number): number {
    const bytes = this.bytes;
    let i = Math.max(0, from);
    while (i < this.length) {
      const b = bytes[i >> 3] ?? 0;
      if (b === 0) {
        i = ((i >> 3) + 1) << 3;
        // jump over runs of zero bytes eight at a time
        let byte = i >> 3;
        while (byte + 8 <= bytes.length && isZero8(bytes, byte)) byte += 8;
        while (byte < bytes.length && bytes[byte] === 0) byte++;
        i = Math.max(i, byte << 3);
        continue;
      }
      if (b & (1 << (i & 7))) return i;
      i++;
    }
    return -1;
  }

  /** Index of the first clear bit at or after `from`, or -1. */
  nextClear(from: number): number {
    const bytes = this.bytes;
    let i = Math.max(0, from);
    while (i < this.length) {
      const b = bytes[i >> 3] ?? 0;
      if (b === 0xff) {
        i = ((i >> 3) + 1) << 3;
        continue;
      }
      if (!(b & (1 << (i & 7)))) return i;
      i++;
    }
    return -1;
  }

  /** Number of set bits in [from, to). */
  countRange(from: number, to: number): number {
    let n = 0;
    for (let i = this.nextSet(from); i !== -1 && i < to; i = this.nextSet(i + 1)) n++;
    return n;
  }

  /** A copy of length `newLength` (grow or shrink), keeping the bits that fit. */
  resized(newLength: number): Bitmap {
    const out = new Bitmap(newLength);
    out.bytes.set(this.bytes.subarray(0, Math.min(this.bytes.length, out.bytes.length)));
    out.clearTail();
    out.setCount = countBits(out.bytes);
    return out;
  }

  private apply(from: number, to: number, value: boolean): ByteSpan | null {
    if (from < 0 || to > this.length || from > to) {
      throw new RangeError(`bit range [${from}, ${to}) outside [0, ${this.length})`);
    }
    let first = -1;
    let last = -1;
    const bytes = this.bytes;
    let i = from;
    while (i < to) {
      const byte = i >> 3;
      const startBit = i & 7;
      const endBit = Math.min(8, startBit + (to - i));
      const mask = ((1 << endBit) - 1) & ~((1 << startBit) - 1) & 0xff;
      const old = bytes[byte] ?? 0;
      const next = value ? old | mask : old & ~mask;
      if (next !== old) {
        bytes[byte] = next;
        this.setCount += popcount8(next) - popcount8(old);
        if (first === -1) first = byte;
        last = byte;
      }
      i += endBit - startBit;
    }
    return first === -1 ? null : { from: first, to: last + 1 };
  }

  private clearTail(): void {
    const rem = this.length & 7;
    if (rem !== 0 && this.bytes.length > 0) {
      const lastIndex = this.bytes.length - 1;
      this.bytes[lastIndex] = (this.bytes[lastIndex] ?? 0) & ((1 << rem) - 1);
    }
  }
}

const POP = new Uint8Array(256);
for (let i = 0; i < 256; i++) POP[i] = (i & 1) + (POP[i >> 1] ?? 0);

function popcount8(b: number): number {
  return POP[b & 0xff] ?? 0;
}

function countBits(bytes: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b !== 0) n += POP[b] ?? 0;
  }
  return n;
}

function isZero8(bytes: Uint8Array, at: number): boolean {
  return (
    (bytes[at] ?? 0) === 0 &&
    (bytes[at + 1] ?? 0) === 0 &&
    (bytes[at + 2] ?? 0) === 0 &&
    (bytes[at + 3] ?? 0) === 0 &&
    (bytes[at + 4] ?? 0) === 0 &&
    (bytes[at + 5] ?? 0) === 0 &&
    (bytes[at + 6] ?? 0) === 0 &&
    (bytes[at + 7] ?? 0) === 0
  );
}

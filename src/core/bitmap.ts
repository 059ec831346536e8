/**
 * @module core/bitmap
 * A fixed-length bit set over block indexes, persisted byte for byte (bit i lives in byte i >> 3,
 * mask 1 << (i & 7)). Storage is paged: 64 KiB pages (512 Ki bits) are allocated when a bit in
 * them is first set, so an empty bitmap of a 64 TiB disk (1 Gi bits) costs nothing to create —
 * freezing a change set stays O(1) at any disk size — and a sparse one costs its touched pages.
 * A running count of set bits is kept. Mutators report the byte range they touched so that a
 * persistent wrapper writes back exactly those bytes (`view` gives them without a copy when they
 * lie in one page, `readBytes` in any case, zeros included).
 */

export interface ByteSpan {
  /** First byte index touched (inclusive). */
  from: number;
  /** Last byte index touched (exclusive). */
  to: number;
}

const PAGE_BYTES = 64 * 1024;
const PAGE_SHIFT = 16;
const PAGE_BITS = PAGE_BYTES * 8;

export class Bitmap {
  private readonly pages: Array<Uint8Array | undefined>;
  /** Each page's bytes as 32-bit words (the same memory), for scans that skip zero words. */
  private readonly words: Array<Uint32Array | undefined>;
  private readonly byteLength: number;
  private setCount = 0;

  /** `bytes`: an initial image (e.g. read from a file); all-zero pages of it are not kept. */
  constructor(
    readonly length: number,
    bytes?: Uint8Array,
  ) {
    this.byteLength = Math.ceil(length / 8);
    this.pages = new Array<Uint8Array | undefined>(Math.ceil(this.byteLength / PAGE_BYTES));
    this.words = new Array<Uint32Array | undefined>(this.pages.length);
    if (bytes) this.load(bytes);
  }

  get count(): number {
    return this.setCount;
  }

  get(i: number): boolean {
    const page = this.pages[Math.floor(i / PAGE_BITS)];
    if (!page) return false;
    const byte = (i >> 3) & (PAGE_BYTES - 1);
    return ((page[byte] ?? 0) & (1 << (i & 7))) !== 0;
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
    const c = this.nextClear(from);
    return c === -1 || c >= to;
  }

  /** Index of the first set bit at or after `from`, or -1. Missing and zero pages are skipped. */
  nextSet(from: number): number {
    let i = Math.max(0, from);
    while (i < this.length) {
      const p = Math.floor(i / PAGE_BITS);
      const page = this.pages[p];
      const words = this.words[p];
      if (!page || !words) {
        i = (p + 1) * PAGE_BITS;
        continue;
      }
      const found = scanSet(page, words, i - p * PAGE_BITS);
      if (found !== -1) {
        const bit = p * PAGE_BITS + found;
        return bit < this.length ? bit : -1;
      }
      i = (p + 1) * PAGE_BITS;
    }
    return -1;
  }

  /** Index of the first clear bit at or after `from`, or -1. */
  nextClear(from: number): number {
    let i = Math.max(0, from);
    while (i < this.length) {
      const p = Math.floor(i / PAGE_BITS);
      const page = this.pages[p];
      const words = this.words[p];
      if (!page || !words) return i;
      const found = scanClear(page, words, i - p * PAGE_BITS);
      if (found !== -1) {
        const bit = p * PAGE_BITS + found;
        return bit < this.length ? bit : -1;
      }
      i = (p + 1) * PAGE_BITS;
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
    for (let p = 0; p < out.pages.length; p++) {
      const page = this.pages[p];
      if (page) out.page(p).set(page);
    }
    out.clearTail();
    out.setCount = out.recount();
    return out;
  }

  /** Bytes [from, to) of the persisted image (zeros where no page exists). */
  readBytes(from: number, to: number): Uint8Array {
    const out = new Uint8Array(to - from);
    for (let at = from; at < to; ) {
      const p = at >> PAGE_SHIFT;
      const end = Math.min(to, (p + 1) * PAGE_BYTES);
      const page = this.pages[p];
      if (page) out.set(page.subarray(at - p * PAGE_BYTES, end - p * PAGE_BYTES), at - from);
      at = end;
    }
    return out;
  }

  /**
   * Bytes [from, to) of the persisted image without a copy (a view of the page: valid until the
   * next change) when they lie in one page that exists, else null (`readBytes` gives them then).
   * A mutator's span is nearly always in one page, and its page exists.
   */
  view(from: number, to: number): Uint8Array | null {
    const p = from >> PAGE_SHIFT;
    const page = this.pages[p];
    if (!page || from >= to || (to - 1) >> PAGE_SHIFT !== p) return null;
    return page.subarray(from - p * PAGE_BYTES, to - p * PAGE_BYTES);
  }

  /** The whole persisted image (tests, small bitmaps). */
  get bytes(): Uint8Array {
    return this.readBytes(0, this.byteLength);
  }

  private load(bytes: Uint8Array): void {
    const n = Math.min(bytes.length, this.byteLength);
    for (let p = 0; p * PAGE_BYTES < n; p++) {
      const slice = bytes.subarray(p * PAGE_BYTES, Math.min(n, (p + 1) * PAGE_BYTES));
      if (slice.every((b) => b === 0)) continue;
      this.page(p).set(slice);
    }
    this.clearTail();
    this.setCount = this.recount();
  }

  private page(p: number): Uint8Array {
    let page = this.pages[p];
    if (!page) {
      const words = new Uint32Array(PAGE_BYTES >> 2);
      page = new Uint8Array(words.buffer);
      this.pages[p] = page;
      this.words[p] = words;
    }
    return page;
  }

  private apply(from: number, to: number, value: boolean): ByteSpan | null {
    if (from < 0 || to > this.length || from > to) {
      throw new RangeError(`bit range [${from}, ${to}) outside [0, ${this.length})`);
    }
    let first = -1;
    let last = -1;
    let i = from;
    while (i < to) {
      const p = Math.floor(i / PAGE_BITS);
      const pageEnd = Math.min(to, (p + 1) * PAGE_BITS);
      if (!value && !this.pages[p]) {
        i = pageEnd; // nothing to clear in a page that does not exist
        continue;
      }
      const page = this.page(p);
      while (i < pageEnd) {
        const byte = (i >> 3) & (PAGE_BYTES - 1);
        const startBit = i & 7;
        const endBit = Math.min(8, startBit + (pageEnd - i));
        const mask = ((1 << endBit) - 1) & ~((1 << startBit) - 1) & 0xff;
        const old = page[byte] ?? 0;
        const next = value ? old | mask : old & ~mask;
        if (next !== old) {
          page[byte] = next;
          this.setCount += popcount8(next) - popcount8(old);
          const global = i >> 3;
          if (first === -1) first = global;
          last = global;
        }
        i += endBit - startBit;
      }
    }
    return first === -1 ? null : { from: first, to: last + 1 };
  }

  private clearTail(): void {
    const rem = this.length & 7;
    const lastByte = this.byteLength - 1;
    const page = this.pages[lastByte >> PAGE_SHIFT];
    if (rem !== 0 && page) {
      const at = lastByte & (PAGE_BYTES - 1);
      page[at] = (page[at] ?? 0) & ((1 << rem) - 1);
    }
    // bytes past the end inside the last page stay zero: nothing ever sets them
  }

  private recount(): number {
    let n = 0;
    for (const page of this.pages) {
      if (!page) continue;
      for (let i = 0; i < page.length; i++) {
        const b = page[i] ?? 0;
        if (b !== 0) n += POP[b] ?? 0;
      }
    }
    return n;
  }
}

const POP = new Uint8Array(256);
for (let i = 0; i < 256; i++) POP[i] = (i & 1) + (POP[i >> 1] ?? 0);

function popcount8(b: number): number {
  return POP[b & 0xff] ?? 0;
}

/**
 * First set bit at or after `bit` within a page (`words`: its 32-bit view), or -1: bytes up to a
 * word boundary, then zero words skipped four bytes at a time.
 */
function scanSet(page: Uint8Array, words: Uint32Array, bit: number): number {
  let byte = bit >> 3;
  const first = (page[byte] ?? 0) & (0xff << (bit & 7)) & 0xff;
  if (first !== 0) return (byte << 3) + ctz8(first);
  for (byte++; byte < page.length && (byte & 3) !== 0; byte++) {
    const b = page[byte] ?? 0;
    if (b !== 0) return (byte << 3) + ctz8(b);
  }
  for (let w = byte >> 2; w < words.length; w++) {
    if (words[w] === 0) continue;
    for (let k = w << 2; ; k++) {
      const b = page[k] ?? 0;
      if (b !== 0) return (k << 3) + ctz8(b);
    }
  }
  return -1;
}

/** First clear bit at or after `bit` within a page, or -1 (full words skipped as in scanSet). */
function scanClear(page: Uint8Array, words: Uint32Array, bit: number): number {
  let byte = bit >> 3;
  const first = ~(page[byte] ?? 0) & (0xff << (bit & 7)) & 0xff;
  if (first !== 0) return (byte << 3) + ctz8(first);
  for (byte++; byte < page.length && (byte & 3) !== 0; byte++) {
    const b = page[byte] ?? 0;
    if (b !== 0xff) return (byte << 3) + ctz8(~b & 0xff);
  }
  for (let w = byte >> 2; w < words.length; w++) {
    if (words[w] === 0xffffffff) continue;
    for (let k = w << 2; ; k++) {
      const b = page[k] ?? 0;
      if (b !== 0xff) return (k << 3) + ctz8(~b & 0xff);
    }
  }
  return -1;
}

/** Index of the lowest set bit of a non-zero byte. */
function ctz8(b: number): number {
  return 31 - Math.clz32(b & -b);
}

/**
 * @module api/blob/crc64
 * The CRC-64 Azure Storage uses for `x-ms-content-crc64` (and `x-ms-source-content-crc64`): the
 * CRC-64/NVME parameters — polynomial 0xAD93D23594C93659 (reflected 0x9A6C9329AC4BC9B5), initial
 * value and final XOR all ones, reflected input and output; check value of "123456789" is
 * 0xAE8B14860A799888. On the wire the 64-bit value is written little-endian and base64-encoded
 * (8 bytes → 12 characters), as @azure/storage-blob's StorageCRC64Calculator produces it.
 *
 * Slicing-by-8 over two 32-bit halves (no BigInt in the loop): eight tables of 256 entries, eight
 * input bytes per step, no allocation per call.
 */

/** The reflected polynomial 0x9A6C9329AC4BC9B5 as two 32-bit halves. */
const POLY_LO = 0xac4bc9b5;
const POLY_HI = 0x9a6c9329;
const SLICES = 8;

/** TABLE_LO[k * 256 + b], TABLE_HI[...]: CRC of byte b followed by k zero bytes. */
const TABLE_LO = new Uint32Array(SLICES * 256);
const TABLE_HI = new Uint32Array(SLICES * 256);

for (let b = 0; b < 256; b++) {
  let lo = b;
  let hi = 0;
  for (let i = 0; i < 8; i++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (carry) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  TABLE_LO[b] = lo;
  TABLE_HI[b] = hi;
}
for (let k = 1; k < SLICES; k++) {
  for (let b = 0; b < 256; b++) {
    const plo = TABLE_LO[(k - 1) * 256 + b] ?? 0;
    const phi = TABLE_HI[(k - 1) * 256 + b] ?? 0;
    const i = plo & 0xff;
    TABLE_LO[k * 256 + b] = ((TABLE_LO[i] ?? 0) ^ ((plo >>> 8) | (phi << 24))) >>> 0;
    TABLE_HI[k * 256 + b] = ((TABLE_HI[i] ?? 0) ^ (phi >>> 8)) >>> 0;
  }
}

/** The CRC-64 of `data`, as the 8 little-endian bytes Azure sends. */
export function crc64(data: Uint8Array): Buffer {
  const L = TABLE_LO;
  const H = TABLE_HI;
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  const n = data.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = (lo ^ ((data[i] ?? 0) | ((data[i + 1] ?? 0) << 8) | ((data[i + 2] ?? 0) << 16) | ((data[i + 3] ?? 0) << 24))) >>> 0;
    const c = (hi ^ ((data[i + 4] ?? 0) | ((data[i + 5] ?? 0) << 8) | ((data[i + 6] ?? 0) << 16) | ((data[i + 7] ?? 0) << 24))) >>> 0;
    // byte j of the eight is followed by 7 - j bytes: table 7 - j
    const b0 = 7 * 256 + (a & 0xff);
    const b1 = 6 * 256 + ((a >>> 8) & 0xff);
    const b2 = 5 * 256 + ((a >>> 16) & 0xff);
    const b3 = 4 * 256 + (a >>> 24);
    const b4 = 3 * 256 + (c & 0xff);
    const b5 = 2 * 256 + ((c >>> 8) & 0xff);
    const b6 = 256 + ((c >>> 16) & 0xff);
    const b7 = c >>> 24;
    lo = ((L[b0] ?? 0) ^ (L[b1] ?? 0) ^ (L[b2] ?? 0) ^ (L[b3] ?? 0) ^ (L[b4] ?? 0) ^ (L[b5] ?? 0) ^ (L[b6] ?? 0) ^ (L[b7] ?? 0)) >>> 0;
    hi = ((H[b0] ?? 0) ^ (H[b1] ?? 0) ^ (H[b2] ?? 0) ^ (H[b3] ?? 0) ^ (H[b4] ?? 0) ^ (H[b5] ?? 0) ^ (H[b6] ?? 0) ^ (H[b7] ?? 0)) >>> 0;
  }
  for (; i < n; i++) {
    const t = (lo ^ (data[i] ?? 0)) & 0xff;
    lo = ((L[t] ?? 0) ^ ((lo >>> 8) | (hi << 24))) >>> 0;
    hi = ((H[t] ?? 0) ^ (hi >>> 8)) >>> 0;
  }
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32LE((lo ^ 0xffffffff) >>> 0, 0);
  out.writeUInt32LE((hi ^ 0xffffffff) >>> 0, 4);
  return out;
}

/**
 * @module core/crc32c
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every VHDX header,
 * region table and log entry. Same parameters as iSCSI/ext4: initial value 0xFFFFFFFF, reflected
 * input and output, final XOR 0xFFFFFFFF ("123456789" → 0xE3069283). Table-driven, one byte per
 * step: the largest thing we checksum is a 64 KiB region table, once per layout.
 */

const POLY = 0x82f63b78;

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32C of `data`. To checksum a message in pieces, pass the result for the previous pieces as
 * `previous` (zlib style): `crc32c(b, crc32c(a)) === crc32c(concat(a, b))`.
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) {
    crc = (TABLE[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

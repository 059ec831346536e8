import { randomBytes } from 'node:crypto';
import { StorageCRC64Calculator } from '@azure/storage-common';
import { describe, expect, it } from 'vitest';
import { crc64 } from './crc64.js';

describe('crc64 (x-ms-content-crc64)', () => {
  it('is CRC-64/NVME: the catalogue check value of "123456789"', () => {
    expect(crc64(Buffer.from('123456789')).readBigUInt64LE(0)).toBe(0xae8b14860a799888n);
    expect(crc64(Buffer.alloc(0)).readBigUInt64LE(0)).toBe(0n);
  });

  it("equals the Azure SDK's own calculator, bytes and order, for every length class", async () => {
    await StorageCRC64Calculator.init();
    for (const n of [1, 7, 8, 9, 15, 16, 17, 511, 512, 4096 + 3, 4 * 1024 * 1024]) {
      const data = randomBytes(n);
      const sdk = Buffer.from(new StorageCRC64Calculator().final(data, data.length));
      expect(crc64(data).toString('hex'), `length ${n}`).toBe(sdk.toString('hex'));
    }
  });
});

/**
 * @module core/vhd.test
 * Fixed-VHD footer: field layout, checksum, CHS geometry, parse/validate, and (when qemu-img is
 * installed) qemu's reading of raw bytes + footer as a `vpc` image.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
// eslint-disable-next-line no-restricted-imports -- test only: qemu-img needs real image files
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { GiB, MiB } from './units.js';
import { parseVhdFooter, vhdChecksum, vhdFooter, vhdGeometry, VhdDiskType } from './vhd.js';

const HAS_QEMU_IMG = spawnSync('qemu-img', ['--version']).status === 0;

describe('vhdFooter', () => {
  const uniqueId = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const footer = vhdFooter(5 * GiB, { uniqueId, timestamp: new Date('2024-03-01T12:00:00Z') });

  it('lays out every field as azure-api.md §6 says (big-endian)', () => {
    expect(footer.length).toBe(512);
    expect(footer.toString('latin1', 0, 8)).toBe('conectix');
    expect(footer.readUInt32BE(8)).toBe(2);
    expect(footer.readUInt32BE(12)).toBe(0x00010000);
    expect(footer.readBigUInt64BE(16)).toBe(0xffffffffffffffffn);
    const seconds = (Date.parse('2024-03-01T12:00:00Z') - Date.parse('2000-01-01T00:00:00Z')) / 1000;
    expect(footer.readUInt32BE(24)).toBe(seconds);
    expect(footer.toString('latin1', 28, 32)).toBe('win ');
    expect(footer.readUInt32BE(32)).toBe(0x00070000);
    expect(footer.readUInt32BE(36)).toBe(0x5769326b);
    expect(footer.readBigUInt64BE(40)).toBe(BigInt(5 * GiB));
    expect(footer.readBigUInt64BE(48)).toBe(BigInt(5 * GiB));
    expect(footer.readUInt32BE(60)).toBe(VhdDiskType.fixed);
    expect(footer.subarray(68, 84).equals(uniqueId)).toBe(true);
    expect(footer.subarray(84).every((b) => b === 0)).toBe(true);
  });

  it('checksum is the one’s complement of the byte sum with the field zeroed', () => {
    const copy = Buffer.from(footer);
    copy.writeUInt32BE(0, 64);
    const sum = copy.reduce((a, b) => a + b, 0);
    expect(footer.readUInt32BE(64)).toBe(~sum >>> 0);
    expect(vhdChecksum(footer)).toBe(footer.readUInt32BE(64));
  });

  it('is deterministic: same inputs, same bytes (ranged reads must agree)', () => {
    expect(vhdFooter(8 * MiB).equals(vhdFooter(8 * MiB))).toBe(true);
    expect(vhdFooter(8 * MiB).readUInt32BE(24)).toBe(0);
  });

  it('rejects sizes that are not positive multiples of 512 and ids that are not 16 bytes', () => {
    expect(() => vhdFooter(0)).toThrow(/multiple of 512/);
    expect(() => vhdFooter(1000)).toThrow(/multiple of 512/);
    expect(() => vhdFooter(MiB, { uniqueId: new Uint8Array(4) })).toThrow(/16 bytes/);
  });
});

describe('vhdGeometry', () => {
  it.each([
    [5 * GiB, 10402, 16, 63], // checked against a real Azure footer
    [8 * MiB, 240, 4, 17],
    [127 * MiB, 1019, 15, 17],
    [1 * GiB, 2080, 16, 63],
    [1000 * GiB, 65535, 16, 255], // capped
  ])('%d bytes → %d/%d/%d', (size, cylinders, heads, sectorsPerTrack) => {
    expect(vhdGeometry(size)).toEqual({ cylinders, heads, sectorsPerTrack });
    const f = vhdFooter(size);
    expect([f.readUInt16BE(56), f.readUInt8(58), f.readUInt8(59)]).toEqual([
      cylinders,
      heads,
      sectorsPerTrack,
    ]);
  });
});

describe('parseVhdFooter', () => {
  const uniqueId = randomBytes(16);
  const good = vhdFooter(64 * MiB, { uniqueId, timestamp: new Date('2025-01-02T03:04:05Z') });

  /** A copy with `patch` applied and, unless told otherwise, a recomputed checksum. */
  function tampered(patch: (b: Buffer) => void, fixChecksum = true): Buffer {
    const b = Buffer.from(good);
    patch(b);
    if (fixChecksum) b.writeUInt32BE(vhdChecksum(b), 64);
    return b;
  }

  it('round-trips every field of a footer it wrote', () => {
    const info = parseVhdFooter(good, { expectedSizeBytes: 64 * MiB });
    expect(info).toMatchObject({
      valid: true,
      cookieOk: true,
      checksumOk: true,
      diskType: 2,
      sizeBytes: 64 * MiB,
      originalSizeBytes: 64 * MiB,
      creatorApp: 'win ',
      geometry: vhdGeometry(64 * MiB),
    });
    expect(info.reason).toBeUndefined();
    expect(info.uniqueId.equals(uniqueId)).toBe(true);
    expect(info.timestamp.toISOString()).toBe('2025-01-02T03:04:05.000Z');
  });

  it('rejects a bad cookie', () => {
    const info = parseVhdFooter(tampered((b) => b.write('conectiy', 0, 'latin1')));
    expect(info).toMatchObject({ valid: false, cookieOk: false });
    expect(info.reason).toMatch(/not a VHD footer.*conectix/);
  });

  it('rejects a bad checksum and says both values', () => {
    const info = parseVhdFooter(tampered((b) => b.writeUInt8(1, 84), false));
    expect(info).toMatchObject({ valid: false, cookieOk: true, checksumOk: false });
    expect(info.reason).toMatch(/checksum is 0x[0-9a-f]{8} but the footer sums to 0x[0-9a-f]{8}/);
  });

  it('rejects dynamic and differencing disks', () => {
    for (const type of [VhdDiskType.dynamic, VhdDiskType.differencing]) {
      const info = parseVhdFooter(tampered((b) => b.writeUInt32BE(type, 60)));
      expect(info).toMatchObject({ valid: false, checksumOk: true, diskType: type });
      expect(info.reason).toMatch(/only fixed VHDs/);
    }
  });

  it('rejects a size that differs from the upload size', () => {
    const info = parseVhdFooter(good, { expectedSizeBytes: 128 * MiB });
    expect(info.valid).toBe(false);
    expect(info.reason).toMatch(/67108864 bytes but the upload is 134217728/);
  });

  it('rejects a short buffer', () => {
    const info = parseVhdFooter(good.subarray(0, 100));
    expect(info.valid).toBe(false);
    expect(info.reason).toMatch(/100 bytes long/);
  });
});

describe.skipIf(!HAS_QEMU_IMG)(
  'qemu-img reads raw bytes + footer as vpc (needs qemu-utils; skipped when qemu-img is absent)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'snapdisk-vhd-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** Writes `data` (or a sparse hole of `size` bytes) to `raw` and `data` + footer to `vhd`. */
    function writeImages(name: string, size: number, data: Buffer | undefined): { raw: string; vhd: string } {
      const raw = join(dir, `${name}.img`);
      const vhd = join(dir, `${name}.vhd`);
      for (const path of [raw, vhd]) {
        const fd = openSync(path, 'w');
        if (data) writeSync(fd, data, 0, data.length, 0);
        ftruncateSync(fd, size);
        if (path === vhd) writeSync(fd, vhdFooter(size, { uniqueId: randomBytes(16) }), 0, 512, size);
        closeSync(fd);
      }
      return { raw, vhd };
    }

    it.each([
      ['8 MiB of random data', 8 * MiB, true],
      ['5 GiB sparse (CHS would say 5368430592)', 5 * GiB, false],
    ])('%s: exact virtual size and identical content', (_label, size, random) => {
      const data = random ? randomBytes(size) : undefined;
      const { raw, vhd } = writeImages(`d${size}`, size, data);
      const info = JSON.parse(
        execFileSync('qemu-img', ['info', '--output=json', '-f', 'vpc', vhd], { encoding: 'utf8' }),
      ) as { 'virtual-size': number };
      expect(info['virtual-size']).toBe(size);
      const cmp = spawnSync('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', vhd, raw], {
        encoding: 'utf8',
      });
      expect(cmp.stdout).toMatch(/Images are identical/);
      expect(cmp.status).toBe(0);
    });
  },
);

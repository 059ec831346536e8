import { describe, expect, it } from 'vitest';
import { SnapdiskError } from './errors.js';
import {
  checkSasDuration,
  dailyUsageQuantity,
  DEFAULT_LIMITS,
  incrementalSnapshotSku,
  provenance,
  validateDiskSizeGb,
  validateResourceName,
  validateSectorSize,
  validateUploadSize,
} from './rules.js';
import { GiB } from './units.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof SnapdiskError ? err.code : 'other';
  }
  return undefined;
};

describe('rules', () => {
  it('usage quantity: 10 GiB in a 31-day month is 0.3226 per day', () => {
    expect(dailyUsageQuantity(10 * GiB, new Date('2026-01-15T00:00:00Z'))).toBeCloseTo(0.3226, 4);
    expect(dailyUsageQuantity(10 * GiB, new Date('2026-02-15T00:00:00Z'))).toBeCloseTo(10 / 28, 6);
  });

  it('incremental snapshot sku: ZRS where zones exist, LRS otherwise, premium refused', () => {
    expect(incrementalSnapshotSku(undefined, { zones: ['1', '2', '3'] })).toBe('Standard_ZRS');
    expect(incrementalSnapshotSku(undefined, { zones: [] })).toBe('Standard_LRS');
    expect(incrementalSnapshotSku('Standard_LRS', { zones: ['1'] })).toBe('Standard_LRS');
    expect(code(() => incrementalSnapshotSku('Premium_LRS', { zones: [] }))).toBe('InvalidParameter');
    expect(code(() => incrementalSnapshotSku('Standard_ZRS', { zones: [] }))).toBe('InvalidParameter');
  });

  it('names, sizes, sectors, upload sizes and SAS durations', () => {
    expect(code(() => validateResourceName('ok-name_1', 'disk'))).toBeUndefined();
    expect(code(() => validateResourceName('bad/name', 'disk'))).toBe('InvalidParameter');
    expect(code(() => validateResourceName('x'.repeat(81), 'disk'))).toBe('InvalidParameter');
    expect(code(() => validateResourceName('ends-', 'disk'))).toBe('InvalidParameter');
    expect(validateDiskSizeGb(4)).toBe(4 * GiB);
    for (const bad of [0, -1, 1.5, '4', 70000]) expect(code(() => validateDiskSizeGb(bad))).toBe('InvalidParameter');
    expect(validateSectorSize(undefined, 'UltraSSD_LRS')).toBe(4096);
    expect(validateSectorSize(undefined, 'Premium_LRS')).toBe(512);
    expect(code(() => validateSectorSize(4096, 'Premium_LRS'))).toBe('InvalidParameter');
    expect(validateUploadSize(32 * 1024 * 1024 + 512)).toBe(32 * 1024 * 1024 + 512);
    expect(code(() => validateUploadSize(32 * 1024 * 1024))).toBe('InvalidParameter');
    expect(code(() => checkSasDuration(DEFAULT_LIMITS.maxSasDurationSeconds + 1, DEFAULT_LIMITS))).toBe('OperationNotAllowed');
    expect(code(() => checkSasDuration(0, DEFAULT_LIMITS))).toBe('InvalidParameter');
  });
});

describe('provenance', () => {
  it('keeps an Import source without its SAS signature, and the storage account; nothing else', () => {
    expect(
      provenance({
        createOption: 'Import',
        sourceUri: 'https://acct.blob.core.windows.net/c/disk.vhd?sv=2021-08-06&sig=c2VjcmV0&se=2030-01-01',
        storageAccountId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct',
        sourceResourceId: '/ignored',
      }),
    ).toEqual({
      sourceUri: 'https://acct.blob.core.windows.net/c/disk.vhd?sv=2021-08-06&sig=REDACTED&se=2030-01-01',
      storageAccountId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/acct',
    });
    expect(provenance({ createOption: 'Copy', sourceResourceId: '/x' })).toEqual({});
  });
});

/**
 * @module api/arm/validate.test
 * The body checker and parsers in isolation: canonical casing, read-only properties dropped,
 * targets of refusals, what goes to the engine (spec fields, opaque properties, creation extras),
 * and the usage period of `$filter`.
 */
import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import { parsePeriod } from './usage.js';
import { parseDiskPatch, parseDiskPut, parseGrant, parseSnapshotPut } from './validate.js';

function targetOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SnapdiskError) return err.target;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('parseDiskPut', () => {
  it('maps a body to the engine spec: interpreted fields, opaque properties, creation extras', () => {
    const put = parseDiskPut({
      location: 'West US',
      sku: { name: 'premium_lrs', tier: 'ignored' },
      zones: ['1'],
      tags: { a: 'b' },
      properties: {
        creationData: { createOption: 'empty', performancePlus: true, sourceUniqueId: 'ignored' },
        diskSizeGB: 4,
        maxShares: 2,
        osType: 'linux',
        encryption: { type: 'encryptionAtRestWithPlatformKey' },
        diskIOPSReadWrite: 500,
        uniqueId: 'ignored',
      },
    });
    expect(put).toEqual({
      location: 'westus',
      sku: 'Premium_LRS',
      zones: ['1'],
      tags: { a: 'b' },
      sizeGb: 4,
      maxShares: 2,
      creationData: { createOption: 'Empty', extra: { performancePlus: true } },
      properties: { osType: 'Linux', encryption: { type: 'EncryptionAtRestWithPlatformKey' }, diskIOPSReadWrite: 500 },
    });
  });

  it('names the property of every refusal', () => {
    expect(targetOf(() => parseDiskPut({ location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1, bogus: 1 } }))).toBe('properties.bogus');
    expect(targetOf(() => parseDiskPut({ location: 'eastus', properties: { creationData: { createOption: 'Empty', Sneaky: 1 }, diskSizeGB: 1 } }))).toBe('properties.creationData.Sneaky');
    expect(targetOf(() => parseDiskPut({ location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1.5 } }))).toBe('properties.diskSizeGB');
    expect(targetOf(() => parseDiskPut({ location: 'eastus', properties: { creationData: { createOption: 'Upload', uploadSizeBytes: 20972033 } } }))).toBe('properties.creationData.uploadSizeBytes');
    expect(targetOf(() => parseDiskPut({ location: 'eastus', properties: { creationData: { createOption: 'Import' } } }))).toBe('properties.creationData.sourceUri');
  });

  it('null is absent; PATCH takes only DiskUpdate properties', () => {
    expect(parseDiskPut({ location: 'eastus', tags: null, properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1, osType: null } })).not.toHaveProperty('tags');
    expect(parseDiskPatch({ properties: { diskSizeGB: 8, burstingEnabled: true }, tags: {} })).toEqual({ sizeGb: 8, tags: {}, properties: { burstingEnabled: true } });
    expect(parseDiskPatch(undefined)).toEqual({});
    expect(targetOf(() => parseDiskPatch({ zones: ['1'] }))).toBe('zones');
  });
});

describe('parseSnapshotPut and parseGrant', () => {
  it('keeps incremental and the source; refuses zones on a snapshot', () => {
    const id = '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d';
    expect(parseSnapshotPut({ location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: id }, incremental: true } })).toEqual({
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: id },
      properties: {},
    });
    expect(targetOf(() => parseSnapshotPut({ location: 'eastus', zones: ['1'], properties: { creationData: { createOption: 'Copy', sourceResourceId: id } } }))).toBe('zones');
    expect(targetOf(() => parseSnapshotPut({ location: 'eastus', sku: { name: 'Premium_ZRS' }, properties: { creationData: { createOption: 'Copy', sourceResourceId: id } } }))).toBe('sku.name');
  });

  it('grant bodies', () => {
    expect(parseGrant({ access: 'read', durationInSeconds: 60, fileFormat: 'vhdx' })).toEqual({ access: 'Read', durationInSeconds: 60, fileFormat: 'VHDX' });
    expect(targetOf(() => parseGrant({ access: 'None', durationInSeconds: 60 }))).toBe('access');
    expect(targetOf(() => parseGrant({ access: 'Read', durationInSeconds: 60, getSecureVMGuestStateSAS: true }))).toBe('getSecureVMGuestStateSAS');
  });
});

describe('parsePeriod', () => {
  const today = new Date('2024-02-20T15:00:00Z');
  const day = (d: Date) => d.toISOString().slice(0, 10);

  it('defaults to the current month up to today', () => {
    const p = parsePeriod(null, today);
    expect([day(p.from), day(p.to)]).toEqual(['2024-02-01', '2024-02-20']);
  });

  it('reads ge/le, gt/lt, eq, with or without properties/, and never goes past today', () => {
    const p = parsePeriod("properties/usageStart ge '2024-01-05' and properties/usageEnd le '2024-01-31'", today);
    expect([day(p.from), day(p.to)]).toEqual(['2024-01-05', '2024-01-31']);
    const q = parsePeriod("usageStart gt '2024-01-05' AND usageEnd lt '2024-01-10'", today);
    expect([day(q.from), day(q.to)]).toEqual(['2024-01-06', '2024-01-09']);
    const r = parsePeriod("properties/date eq '2024-01-07'", today);
    expect([day(r.from), day(r.to)]).toEqual(['2024-01-07', '2024-01-07']);
    const s = parsePeriod("properties/usageEnd le '2024-12-31'", today);
    expect(day(s.to)).toBe('2024-02-20');
    expect(targetOf(() => parsePeriod("properties/usageStart ge 'yesterday'", today))).toBe('$filter');
  });
});

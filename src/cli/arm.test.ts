/**
 * @module cli/arm.test
 * The hints the CLI adds to server errors, for the codes the integration tests cannot make a
 * real server answer on demand (a 429, BadRequest from a malformed body, Conflict from a race);
 * test/integration/cli-commands.test.ts checks the others against a real server.
 */
import { describe, expect, it } from 'vitest';
import { hintFor } from './arm.js';

describe('hintFor', () => {
  it('names the option that sets the property the server blamed', () => {
    expect(hintFor('InvalidParameter', 'x', 400, undefined, 'properties.creationData.uploadSizeBytes')).toBe('The server rejected properties.creationData.uploadSizeBytes: check --upload-size-bytes.');
    expect(hintFor('InvalidParameter', 'x', 400, undefined, 'sku.name')).toBe('The server rejected sku.name: check --sku.');
    expect(hintFor('InvalidParameter', 'x', 400, undefined, 'somethingNew')).toBe('The server rejected somethingNew: check the option that sets it (see --help).');
    expect(hintFor('InvalidParameter', 'x', 400, undefined)).toContain('`--help` lists');
  });

  it('names the limit and its config key, with what to do; a 429 says when to retry', () => {
    const m = 'Disk d1 already has 500 incremental snapshots: at most 500 may exist per disk at a time (incrementalSnapshotsPerDisk).';
    expect(hintFor('OperationNotAllowed', m, 409, undefined)).toBe("Delete older snapshots of the disk: `snapdisk snapshot delete --ids ...`. The limit is incrementalSnapshotsPerDisk: limits.incrementalSnapshotsPerDisk in the server's config.json.");
    const rate = 'Disk d1 had 7 incremental snapshots created in the last 5 minutes: at most 7 per disk per 5 minutes (incrementalSnapshotsPerDiskPer5Minutes).';
    expect(hintFor('TooManyRequests', rate, 429, '42')).toBe("The server allows only so many of these requests; retry after 42 s. The limit is incrementalSnapshotsPerDiskPer5Minutes: limits.incrementalSnapshotsPerDiskPer5Minutes in the server's config.json.");
    expect(hintFor('OperationNotAllowed', 'Disk d1 is attached (NBD).', 409, undefined)).toMatch(/^The server does not allow this on the resource as it is now/);
  });

  it('BadRequest, Conflict, a group being deleted; nothing for codes it knows nothing about', () => {
    expect(hintFor('BadRequest', 'The request content was invalid', 400, undefined)).toMatch(/check the options against `--help`, and run with --debug/);
    expect(hintFor('InvalidRequestContent', 'x', 400, undefined)).toContain('`--help` lists');
    expect(hintFor('Conflict', 'A disk named d1 was created in resource group rg1 by a concurrent request.', 409, undefined)).toMatch(/^Another operation on this resource is in progress/);
    expect(hintFor('ResourceGroupBeingDeleted', 'x', 409, undefined)).toContain('snapdisk group exists -n NAME');
    expect(hintFor('PropertyChangeNotAllowed', 'x', 409, undefined, 'zones')).toBe('zones cannot change on an existing resource: create one under another --name, or delete this one first.');
    expect(hintFor('InternalExecutionError', 'x', 500, undefined)).toBeUndefined();
  });
});

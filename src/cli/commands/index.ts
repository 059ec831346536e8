/**
 * @module cli/commands
 * Every client command (one per file, `<noun>-<verb>.ts`) and the command groups, for the
 * dispatcher and the help.
 */

import type { CommandSpec } from '../command.js';
import type { GroupEntry } from '../help.js';
import { accountListCommand } from './account-list.js';
import { accountSet } from './account-set.js';
import { accountShow } from './account-show.js';
import { diskCreate } from './disk-create.js';
import { diskDelete } from './disk-delete.js';
import { diskDownload } from './disk-download.js';
import { diskGrantAccess } from './disk-grant-access.js';
import { diskList } from './disk-list.js';
import { diskRevokeAccess } from './disk-revoke-access.js';
import { diskShow } from './disk-show.js';
import { diskUpdate } from './disk-update.js';
import { diskUpload } from './disk-upload.js';
import { diskWait } from './disk-wait.js';
import { groupCreate } from './group-create.js';
import { groupDelete } from './group-delete.js';
import { groupExists } from './group-exists.js';
import { groupList } from './group-list.js';
import { groupShow } from './group-show.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { snapshotApplyDiff } from './snapshot-apply-diff.js';
import { snapshotCreate } from './snapshot-create.js';
import { snapshotDelete } from './snapshot-delete.js';
import { snapshotDiff } from './snapshot-diff.js';
import { snapshotDownload } from './snapshot-download.js';
import { snapshotExportDiff } from './snapshot-export-diff.js';
import { snapshotGrantAccess } from './snapshot-grant-access.js';
import { snapshotList } from './snapshot-list.js';
import { snapshotRevokeAccess } from './snapshot-revoke-access.js';
import { snapshotShow } from './snapshot-show.js';
import { snapshotWait } from './snapshot-wait.js';
import { usage } from './usage.js';
import { verify } from './verify.js';

export const COMMANDS: readonly CommandSpec[] = [
  login,
  logout,
  usage,
  accountShow,
  accountListCommand,
  accountSet,
  groupCreate,
  groupShow,
  groupList,
  groupDelete,
  groupExists,
  diskCreate,
  diskShow,
  diskList,
  diskUpdate,
  diskDelete,
  diskGrantAccess,
  diskRevokeAccess,
  diskWait,
  diskUpload,
  diskDownload,
  snapshotCreate,
  snapshotShow,
  snapshotList,
  snapshotDelete,
  snapshotGrantAccess,
  snapshotRevokeAccess,
  snapshotWait,
  snapshotDownload,
  snapshotDiff,
  snapshotExportDiff,
  snapshotApplyDiff,
  verify,
];

export const GROUPS: readonly GroupEntry[] = [
  { name: 'account', summary: 'Manage the subscription in use.' },
  { name: 'disk', summary: 'Manage managed disks: create, copy, upload, download.' },
  { name: 'group', summary: 'Manage resource groups.' },
  { name: 'snapshot', summary: 'Manage snapshots: incremental snapshots, copies, downloads, diffs and differential backups.' },
];

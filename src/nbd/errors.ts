/**
 * @module nbd/errors
 * The NBD surface's one mapping table from `SnapdiskError` codes to wire form: option-reply error
 * types during the handshake (what `qemu-img` and `nbdinfo` print after "server reported:") and
 * errno values during transmission. Anything that is not a SnapdiskError is an internal failure.
 */

import { isSnapdiskError } from '../core/errors.js';
import type { ErrorCode } from '../core/errors.js';
import { Errno, Rep } from './protocol.js';

interface WireForm {
  /** Option reply type for failures of NBD_OPT_GO / INFO / LIST. */
  rep: number;
  /** Errno for failures of transmission commands. */
  errno: number;
}

const TABLE: Record<ErrorCode, WireForm> = {
  InvalidParameter: { rep: Rep.ERR_INVALID, errno: Errno.EINVAL },
  BadRequest: { rep: Rep.ERR_INVALID, errno: Errno.EINVAL },
  OutOfRange: { rep: Rep.ERR_INVALID, errno: Errno.EINVAL },
  ResourceNotFound: { rep: Rep.ERR_UNKNOWN, errno: Errno.EIO },
  ResourceGroupNotFound: { rep: Rep.ERR_UNKNOWN, errno: Errno.EIO },
  SubscriptionNotFound: { rep: Rep.ERR_UNKNOWN, errno: Errno.EIO },
  NotFound: { rep: Rep.ERR_UNKNOWN, errno: Errno.EIO },
  OperationNotAllowed: { rep: Rep.ERR_POLICY, errno: Errno.EPERM },
  Conflict: { rep: Rep.ERR_POLICY, errno: Errno.EPERM },
  TooManyRequests: { rep: Rep.ERR_POLICY, errno: Errno.EIO },
  PreviousSnapshotNotFound: { rep: Rep.ERR_UNKNOWN, errno: Errno.EIO },
  PreviousSnapshotCannotBeNewer: { rep: Rep.ERR_INVALID, errno: Errno.EINVAL },
  PreviousSnapshotOperationNotSupported: { rep: Rep.ERR_POLICY, errno: Errno.EINVAL },
  AuthenticationFailed: { rep: Rep.ERR_POLICY, errno: Errno.EPERM },
  AuthorizationFailed: { rep: Rep.ERR_POLICY, errno: Errno.EPERM },
  ChunkNotFound: { rep: Rep.ERR_POLICY, errno: Errno.EIO },
  IntegrityError: { rep: Rep.ERR_POLICY, errno: Errno.EIO },
  Unavailable: { rep: Rep.ERR_POLICY, errno: Errno.EIO },
  InternalError: { rep: Rep.ERR_POLICY, errno: Errno.EIO },
};

export interface WireError {
  rep: number;
  errno: number;
  message: string;
}

/** The wire form of any thrown value, with a message fit to show to the client's user. */
export function toWireError(err: unknown): WireError {
  if (isSnapdiskError(err)) return { ...TABLE[err.code], message: err.fullMessage };
  const message = err instanceof Error ? err.message : String(err);
  return { rep: Rep.ERR_POLICY, errno: Errno.EIO, message: `internal error: ${message}` };
}

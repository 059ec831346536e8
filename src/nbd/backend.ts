/**
 * @module nbd/backend
 * What the NBD server needs from the rest of snapdisk: a way to list exports and to open one.
 * The composition root (`app.ts`) adapts the engine to this interface; tests use an in-memory
 * implementation. Offsets and lengths are in bytes and are validated by the server against
 * `size` before any call, so implementations may assume in-range arguments.
 */

export interface NbdExtent {
  /** Length in bytes of this extent; extents are contiguous from the queried offset. */
  length: number;
  /** True when the range reads as zeros and holds no data (NBD_STATE_HOLE | NBD_STATE_ZERO). */
  hole: boolean;
}

export interface NbdExportInfo {
  name: string;
  description?: string;
  size: number;
  readOnly: boolean;
  /**
   * What `NbdExport.multiConn` of this export will say once opened: NBD_OPT_INFO answers from
   * the listing and must advertise the same transmission flags as NBD_OPT_GO.
   */
  multiConn?: boolean;
}

export interface NbdOpenOptions {
  /** Address of the client, e.g. "127.0.0.1:53212", recorded as the disk's `managedBy`. */
  client: string;
}

export interface NbdExport {
  readonly size: number;
  readonly readOnly: boolean;
  /**
   * Optional. True when a flush or FUA write on one connection makes the writes of every other
   * connection to the same export durable and visible too (one shared cache, e.g. one head file),
   * so the server may advertise NBD_FLAG_CAN_MULTI_CONN. Read-only exports are always safe and
   * advertise it regardless; absent means false for read-write exports.
   */
  readonly multiConn?: boolean;
  /**
   * Optional. False when `writeZeroes` is not cheaper than writing zero bytes; the server then
   * answers NBD_CMD_FLAG_FAST_ZERO requests with ENOTSUP without calling the backend. Absent means
   * true (snapdisk stores zeroed ranges sparse).
   */
  readonly fastZero?: boolean;
  /**
   * Optional, consulted for NBD_CMD_FLAG_FAST_ZERO requests only (when `fastZero` is not false):
   * false when zeroing this range right now would not be fast, e.g. because it would first fetch
   * blocks from elsewhere or save old bytes for a snapshot. The server then answers ENOTSUP without
   * calling `writeZeroes`, and the client falls back to writing zeros itself. Absent means fast.
   */
  zeroIsFast?(offset: number, length: number): boolean;
  /** Returns exactly `length` bytes. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional. Fills `target` with the bytes at `offset`; when present the server reads into
   * recycled buffers instead of taking a fresh one per request.
   */
  readInto?(offset: number, target: Buffer): Promise<void>;
  /**
   * With `fua`, resolves only when the data is durable. `data` is valid only until the returned
   * promise settles (the server recycles payload buffers): copy it to keep it longer.
   */
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  /** Discard: the range reads as zeros afterwards. */
  trim(offset: number, length: number, fua: boolean): Promise<void>;
  /** Write zeros; `noHole` asks to keep the range allocated (snapdisk may still store it sparse). */
  writeZeroes(offset: number, length: number, fua: boolean, noHole: boolean): Promise<void>;
  /** Allocation of [offset, offset+length): contiguous extents covering at least one byte. */
  blockStatus(offset: number, length: number): Promise<NbdExtent[]>;
  /** Called once when the connection ends (cleanly or not). */
  close(): Promise<void>;
}

export interface NbdBackend {
  list(): Promise<NbdExportInfo[]>;
  /**
   * Opens an export for one connection. Rejects with a SnapdiskError: `ResourceNotFound` when the
   * name is unknown, `OperationNotAllowed` when the export cannot be attached now (active SAS,
   * awaiting upload, ...). The error message is sent to the client.
   */
  open(name: string, options: NbdOpenOptions): Promise<NbdExport>;
}

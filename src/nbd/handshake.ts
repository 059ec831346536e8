/**
 * @module nbd/handshake
 * Option haggling of the fixed newstyle handshake for one connection: everything between the
 * client flags and the transmission phase. The connection (`connection.ts`) frames the options and
 * hands each one, with its data, to `OptionNegotiator.handle`; the negotiator writes the replies
 * and says what happens next.
 *
 * Supported: EXPORT_NAME, ABORT, LIST, INFO, GO, STRUCTURED_REPLY, LIST_META_CONTEXT and
 * SET_META_CONTEXT (`base:allocation` only). Everything else gets NBD_REP_ERR_UNSUP (STARTTLS:
 * NBD_REP_ERR_POLICY, this server has no TLS).
 *
 * Design notes:
 * - Only GO and EXPORT_NAME call `backend.open`, because opening attaches a disk. INFO and LIST
 *   answer from `backend.list()` without side effects, so `nbdinfo --list` never attaches
 *   anything (and INFO can succeed where a later GO is refused, e.g. while a SAS is active).
 * - Meta contexts selected by SET_META_CONTEXT count only if GO names the same export.
 */

import type { NbdBackend, NbdExport, NbdExportInfo } from './backend.js';
import { toWireError } from './errors.js';
import { normalizeExportName, sameExport } from './export-name.js';
import {
  BASE_ALLOCATION,
  Info,
  MAX_STRING_LENGTH,
  Opt,
  Rep,
  TxFlag,
  clipMessage,
  decodeInfoRequest,
  decodeMetaContextRequest,
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoString,
  encodeMetaContext,
  encodeOptionReply,
  encodeRepServer,
} from './protocol.js';

/** Context id this server gives `base:allocation` in SET_META_CONTEXT and block status replies. */
export const BASE_ALLOCATION_ID = 1;
/** Preferred block size advertised in NBD_INFO_BLOCK_SIZE. */
export const PREFERRED_BLOCK_SIZE = 4096;

export interface NegotiatorConfig {
  maxPayload: number;
  /** Client address, passed to `backend.open` (it becomes the disk's `managedBy`). */
  client: string;
  /** Whether the client set NBD_FLAG_C_NO_ZEROES. */
  noZeroes: boolean;
  /** When set, every option but ABORT is refused with NBD_REP_ERR_POLICY and this message. */
  refusal?: string | undefined;
}

/** Everything the transmission phase needs to know about the negotiated session. */
export interface Session {
  name: string;
  export: NbdExport;
  structured: boolean;
  /** Context id of `base:allocation` when block status was negotiated for this export. */
  metaContextId: number | undefined;
  transmissionFlags: number;
}

export type Outcome = { kind: 'continue' } | { kind: 'close'; reason: string } | { kind: 'transmit'; session: Session };

const CONTINUE: Outcome = { kind: 'continue' };

/** Transmission flags for an export (the same for GO, INFO and EXPORT_NAME). */
export function transmissionFlags(e: { readOnly: boolean; multiConn?: boolean }, structured: boolean): number {
  let f = TxFlag.HAS_FLAGS | TxFlag.SEND_FLUSH | TxFlag.SEND_FUA | TxFlag.SEND_CACHE;
  if (e.readOnly) f |= TxFlag.READ_ONLY;
  else f |= TxFlag.SEND_TRIM | TxFlag.SEND_WRITE_ZEROES | TxFlag.SEND_FAST_ZERO;
  if (structured) f |= TxFlag.SEND_DF;
  if (e.readOnly || e.multiConn === true) f |= TxFlag.CAN_MULTI_CONN;
  return f;
}

export class OptionNegotiator {
  private structured = false;
  /** The server is shutting down: an export opened from now on is closed and refused. */
  private shuttingDown = false;
  /** Export name of the last SET_META_CONTEXT that selected `base:allocation`. */
  private metaFor: string | undefined;

  constructor(
    private readonly backend: NbdBackend,
    private readonly config: NegotiatorConfig,
    private readonly send: (b: Buffer) => void,
  ) {}

  /** Handles one complete option; replies are written before the promise resolves. */
  async handle(option: number, data: Buffer): Promise<Outcome> {
    const refusal = this.config.refusal;
    if (refusal !== undefined && option !== Opt.ABORT) {
      if (option === Opt.EXPORT_NAME) return { kind: 'close', reason: refusal };
      return this.error(option, Rep.ERR_POLICY, refusal);
    }
    switch (option) {
      case Opt.EXPORT_NAME:
        return this.exportName(data);
      case Opt.ABORT:
        this.reply(option, Rep.ACK);
        return { kind: 'close', reason: 'client sent NBD_OPT_ABORT' };
      case Opt.LIST:
        return this.list(data);
      case Opt.INFO:
      case Opt.GO:
        return this.infoOrGo(option, data);
      case Opt.STRUCTURED_REPLY:
        if (data.length !== 0) return this.error(option, Rep.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        this.structured = true;
        this.reply(option, Rep.ACK);
        return CONTINUE;
      case Opt.LIST_META_CONTEXT:
      case Opt.SET_META_CONTEXT:
        return this.metaContext(option, data);
      case Opt.STARTTLS:
        return this.error(option, Rep.ERR_POLICY, 'TLS is not available on this server');
      default:
        return this.error(option, Rep.ERR_UNSUP, `option ${option} is not supported`);
    }
  }

  /** Server shutdown: a GO still opening its export answers NBD_REP_ERR_SHUTDOWN instead. */
  shutDown(): void {
    this.shuttingDown = true;
  }

  /** Replies to an option with an error, whatever it was (the connection is stopping). */
  refuse(option: number, type: number, message: string): void {
    this.reply(option, type, clipMessage(message));
  }

  /** Replies to an option whose data was too large to read (it has been skipped). */
  tooBig(option: number): Outcome {
    if (option === Opt.EXPORT_NAME) return { kind: 'close', reason: 'NBD_OPT_EXPORT_NAME too long' };
    return this.error(option, Rep.ERR_TOO_BIG, 'option data too large');
  }

  private reply(option: number, type: number, data?: Buffer): void {
    this.send(encodeOptionReply(option, type, data));
  }

  private error(option: number, type: number, message: string): Outcome {
    this.reply(option, type, clipMessage(message));
    return CONTINUE;
  }

  private async exportName(data: Buffer): Promise<Outcome> {
    const name = normalizeExportName(data.toString('utf8'));
    if (name === '' || data.length > MAX_STRING_LENGTH) {
      return { kind: 'close', reason: `refused export name ${JSON.stringify(name)}` };
    }
    let exp: NbdExport;
    try {
      exp = await this.backend.open(name, { client: this.config.client });
    } catch (err) {
      // NBD_OPT_EXPORT_NAME has no error reply: the only way to refuse is to hang up.
      return { kind: 'close', reason: `open ${name} failed: ${toWireError(err).message}` };
    }
    if (this.shuttingDown) {
      await closeQuietly(exp);
      return { kind: 'close', reason: 'server shutting down' };
    }
    const flags = transmissionFlags(exp, this.structured);
    this.send(encodeExportNameReply(exp.size, flags, this.config.noZeroes));
    return { kind: 'transmit', session: this.session(name, exp, flags) };
  }

  private session(name: string, exp: NbdExport, flags: number): Session {
    const meta = this.structured && this.metaFor !== undefined && sameExport(this.metaFor, name);
    return {
      name,
      export: exp,
      structured: this.structured,
      metaContextId: meta ? BASE_ALLOCATION_ID : undefined,
      transmissionFlags: flags,
    };
  }

  private async list(data: Buffer): Promise<Outcome> {
    if (data.length !== 0) return this.error(Opt.LIST, Rep.ERR_INVALID, 'NBD_OPT_LIST takes no data');
    let exports: NbdExportInfo[];
    try {
      exports = await this.backend.list();
    } catch (err) {
      const w = toWireError(err);
      return this.error(Opt.LIST, w.rep, w.message);
    }
    for (const e of exports) this.reply(Opt.LIST, Rep.SERVER, encodeRepServer(e.name, e.description));
    this.reply(Opt.LIST, Rep.ACK);
    return CONTINUE;
  }

  private async lookup(name: string): Promise<NbdExportInfo | undefined> {
    const exports = await this.backend.list();
    return exports.find((e) => sameExport(e.name, name));
  }

  private async infoOrGo(option: number, data: Buffer): Promise<Outcome> {
    const req = decodeInfoRequest(data);
    if (req === undefined) return this.error(option, Rep.ERR_INVALID, 'malformed NBD_OPT_INFO/GO data');
    if (Buffer.byteLength(req.name) > MAX_STRING_LENGTH) {
      return this.error(option, Rep.ERR_INVALID, 'export name longer than 4096 bytes');
    }
    const name = normalizeExportName(req.name);
    if (name === '') {
      return this.error(option, Rep.ERR_UNKNOWN, 'no default export: use the resource id of a disk or snapshot as export name');
    }
    try {
      if (option === Opt.INFO) {
        const info = await this.lookup(name);
        if (info === undefined) return this.error(option, Rep.ERR_UNKNOWN, `export '${name}' not found`);
        this.sendInfos(option, req.infos, name, info.size, transmissionFlags(info, this.structured), info.description);
        this.reply(option, Rep.ACK);
        return CONTINUE;
      }
      const exp = await this.backend.open(name, { client: this.config.client });
      return await this.go(exp, name, req.infos);
    } catch (err) {
      const w = toWireError(err);
      return this.error(option, w.rep, w.message);
    }
  }

  private async go(exp: NbdExport, name: string, infos: number[]): Promise<Outcome> {
    if (this.shuttingDown) {
      await closeQuietly(exp);
      this.error(Opt.GO, Rep.ERR_SHUTDOWN, 'the server is shutting down');
      return { kind: 'close', reason: 'server shutting down' };
    }
    let description: string | undefined;
    if (infos.includes(Info.DESCRIPTION)) {
      try {
        description = (await this.lookup(name))?.description;
      } catch {
        description = undefined; // a description is optional; never fail GO for it
      }
    }
    const flags = transmissionFlags(exp, this.structured);
    this.sendInfos(Opt.GO, infos, name, exp.size, flags, description);
    this.reply(Opt.GO, Rep.ACK);
    return { kind: 'transmit', session: this.session(name, exp, flags) };
  }

  private sendInfos(option: number, infos: number[], name: string, size: number, flags: number, description?: string): void {
    this.reply(option, Rep.INFO, encodeInfoExport(size, flags));
    if (infos.includes(Info.NAME)) this.reply(option, Rep.INFO, encodeInfoString(Info.NAME, name));
    if (infos.includes(Info.DESCRIPTION) && description !== undefined) {
      this.reply(option, Rep.INFO, encodeInfoString(Info.DESCRIPTION, description));
    }
    // Sent even when not asked: minimum 1 means "no alignment constraint", so it binds nobody.
    this.reply(option, Rep.INFO, encodeInfoBlockSize(1, PREFERRED_BLOCK_SIZE, this.config.maxPayload));
  }

  private metaContext(option: number, data: Buffer): Outcome {
    const set = option === Opt.SET_META_CONTEXT;
    if (set) this.metaFor = undefined; // SET replaces the selection, even when it fails
    const req = decodeMetaContextRequest(data);
    if (req === undefined) return this.error(option, Rep.ERR_INVALID, 'malformed meta context request');
    if (!this.structured) {
      const what = set ? 'NBD_OPT_SET_META_CONTEXT' : 'NBD_OPT_LIST_META_CONTEXT';
      return this.error(option, Rep.ERR_INVALID, `structured replies must be negotiated before ${what}`);
    }
    if (Buffer.byteLength(req.name) > MAX_STRING_LENGTH || req.queries.some((q) => Buffer.byteLength(q) > MAX_STRING_LENGTH)) {
      return this.error(option, Rep.ERR_TOO_BIG, 'export name or query longer than 4096 bytes');
    }
    const matches = set ? req.queries.includes(BASE_ALLOCATION) : listMatches(req.queries);
    if (matches) {
      this.reply(option, Rep.META_CONTEXT, encodeMetaContext(set ? BASE_ALLOCATION_ID : 0, BASE_ALLOCATION));
      if (set) this.metaFor = normalizeExportName(req.name);
    }
    this.reply(option, Rep.ACK);
    return CONTINUE;
  }
}

/**
 * LIST_META_CONTEXT: no query lists every context; `base:` is the namespace wildcard. Unknown
 * namespaces and unknown leaf names are ignored, as the spec requires.
 */
function listMatches(queries: string[]): boolean {
  return queries.length === 0 || queries.some((q) => q === 'base:' || q === BASE_ALLOCATION);
}

/** Closes an export opened for a GO that is refused after all; a failure changes nothing more. */
async function closeQuietly(exp: NbdExport): Promise<void> {
  try {
    await exp.close();
  } catch {
    // the connection is ending either way
  }
}

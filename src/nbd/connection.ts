/**
 * @module nbd/connection
 * One client connection: frames bytes into handshake options and transmission requests, applies
 * backpressure, and tears down in the right order.
 *
 * Design notes:
 * ```
 *  socket 'data' ──▶ ByteQueue ──pump()──▶ phase 'flags' ─▶ 'options' ─▶ 'transmission'
 *                                            (u32)        OptionNegotiator   Transmission
 *                     ▲                                                          │ replies
 *                     └── pause/resume ◀── in-flight bytes + socket.writableLength ◀┘
 * ```
 * - `pump()` parses synchronously as far as the queued bytes allow. Options are handled one at a
 *   time (the socket is paused while one awaits the backend); requests are dispatched without
 *   waiting, so a pipelining client gets concurrent I/O.
 * - Backpressure: before parsing another request header the connection checks the bytes of
 *   requests in flight (read lengths + write payloads) plus the bytes the socket has not yet sent;
 *   over `maxInFlightBytes` (or `maxInFlightRequests`) it pauses the socket and resumes when a
 *   request settles or the socket drains. A payload already announced is always read in full.
 * - Replies produced in the same tick are corked together and leave in one writev: a syscall per
 *   16-byte write reply was a tenth of the server's time under `nbdcopy`.
 * - Oversized or rejected WRITE payloads are skipped, never buffered, so a declared length costs
 *   no memory. Accepted payloads are a view of the socket chunk when they arrived in one, else
 *   copied once into a recycled buffer from the server's `BufferPool`.
 * - Teardown (`finish`) is the only exit: stop parsing, wait for requests in flight (their
 *   replies still go out if the socket is alive), call `export.close()` exactly once, then end the
 *   socket. The export is closed before the client sees its connection end, so a disk is detached
 *   by the time `qemu-img` exits. An option still running (a GO inside `backend.open`) is waited
 *   for at most `closeTimeoutMs`, and not at all with the socket open when the client is gone:
 *   the socket is destroyed first, and the export that open yields is closed when it settles.
 */

import type { Socket } from 'node:net';
import type { NbdBackend } from './backend.js';
import type { BufferPool } from '../core/buffer-pool.js';
import type { ByteBudget } from './budget.js';
import { ByteQueue } from './byte-queue.js';
import { OptionNegotiator } from './handshake.js';
import type { Outcome, Session } from './handshake.js';
import {
  ClientFlag,
  Cmd,
  Errno,
  HandshakeFlag,
  OPTION_HEADER_SIZE,
  REQUEST_HEADER_SIZE,
  REQUEST_MAGIC,
  Rep,
  decodeOptionHeader,
  decodeRequest,
  encodeGreeting,
} from './protocol.js';
import type { RequestHeader } from './protocol.js';
import { Transmission } from './transmission.js';
import type { TransmissionConfig } from './transmission.js';

export interface NbdLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface ConnectionConfig extends TransmissionConfig {
  maxInFlightBytes: number;
  maxInFlightRequests: number;
  /** Option data longer than this is skipped and answered with NBD_REP_ERR_TOO_BIG. */
  maxOptionLength: number;
  /** A client that has not reached the transmission phase by then is disconnected (0: never). */
  handshakeTimeoutMs: number;
  /**
   * How long a graceful close waits for the client to close its side before destroying, and how
   * long any close waits for an option (a `backend.open`) still running.
   */
  closeTimeoutMs: number;
  /** Set when the connection is over the server's limit: every option is refused with it. */
  refusal?: string;
}

type Phase = 'flags' | 'options' | 'transmission' | 'done';

const SHUTDOWN_MESSAGE = 'the server is shutting down';

const KNOWN_CLIENT_FLAGS = ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES;

export function describePeer(socket: Socket): string {
  const addr = socket.remoteAddress ?? 'unknown';
  return addr.includes(':') ? `[${addr}]:${socket.remotePort ?? 0}` : `${addr}:${socket.remotePort ?? 0}`;
}

export class NbdConnection {
  readonly client: string;
  private readonly queue = new ByteQueue();
  private phase: Phase = 'flags';
  private negotiator: OptionNegotiator | undefined;
  private tx: Transmission | undefined;
  private session: Session | undefined;
  private pendingOption: { option: number; length: number } | undefined;
  /** A WRITE whose payload is being received (its length is charged to the budget). */
  private pendingWrite: RequestHeader | undefined;
  /** A request parsed but waiting for the server-wide budget; `leaveQueue` cancels the wait. */
  private awaitingBudget: RequestHeader | undefined;
  private leaveQueue: (() => void) | undefined;
  private skipBytes = 0;
  /** The option being handled (it may be opening an export). */
  private optionInProgress: Promise<void> | undefined;
  private throttled = false;
  /** The client closed its sending side: finish once the requests already received are dispatched. */
  private inputEnded = false;
  private corked = false;
  private pumping = false;
  private stopped = false;
  private finished: Promise<void> | undefined;
  private readonly socketClosed: Promise<void>;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private exportClosed = false;
  /** After a server shutdown began: the phase whose late messages are still answered. */
  private latePhase: Phase | undefined;
  /** A request parsed but not started when the connection stopped (answered by a shutdown). */
  private blockedAtStop: { h: RequestHeader; payload: boolean } | undefined;
  /** Resolves when the connection is completely torn down (export closed, socket closed). */
  readonly done: Promise<void>;
  private markDone: () => void = () => undefined;

  constructor(
    private readonly socket: Socket,
    private readonly backend: NbdBackend,
    private readonly config: ConnectionConfig,
    private readonly pool: BufferPool,
    private readonly budget: ByteBudget,
    private readonly logger: NbdLogger | undefined,
  ) {
    this.client = describePeer(socket);
    this.done = new Promise((resolve) => {
      this.markDone = resolve;
    });
    socket.setNoDelay(true);
    this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.inputEnded = true;
      this.finishIfDrained();
    });
    socket.on('close', () => void this.finish('connection closed', false));
    socket.on('error', (err) => this.logger?.debug?.('nbd socket error', { client: this.client, error: err.message }));
    socket.on('drain', () => this.resumeIfPossible());
    if (config.handshakeTimeoutMs > 0) {
      this.handshakeTimer = setTimeout(() => void this.finish('handshake timed out', false), config.handshakeTimeoutMs);
      this.handshakeTimer.unref();
    }
    socket.write(encodeGreeting(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES));
  }

  /** Bytes received and not yet consumed (a WRITE payload being received, pipelined requests). */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** Server shutdown: finish in-flight requests, close the export, end the socket. */
  shutdown(): Promise<void> {
    this.negotiator?.shutDown();
    const phase = this.phase;
    const late = this.finish('server shutting down', true, true);
    this.refuseLate(phase);
    return late;
  }

  /**
   * Server shutdown, after `finish`: what the client sends from now on (and what it had sent that
   * was not started) is answered, not silently dropped: requests with ESHUTDOWN, options with
   * NBD_REP_ERR_SHUTDOWN, payloads skipped. Requests already running finish normally.
   */
  private refuseLate(phase: Phase): void {
    if (phase !== 'transmission' && phase !== 'options') return;
    this.latePhase = phase;
    const blocked = this.blockedAtStop;
    this.blockedAtStop = undefined;
    if (blocked !== undefined) {
      // parsed but never run: a request waiting for the budget, a WRITE whose payload was arriving
      this.tx?.replyError(blocked.h, Errno.ESHUTDOWN, SHUTDOWN_MESSAGE);
      if (blocked.payload) this.skipBytes = blocked.h.length;
    }
    const opt = this.pendingOption;
    this.pendingOption = undefined;
    if (opt !== undefined && this.negotiator !== undefined) {
      this.negotiator.refuse(opt.option, Rep.ERR_SHUTDOWN, SHUTDOWN_MESSAGE);
      if (this.skipBytes === 0) this.skipBytes = opt.length; // else: an oversized one, partly skipped already
    }
    this.answerLate();
    if (!this.socket.destroyed) this.socket.resume();
  }

  private answerLate(): void {
    const tx = this.tx;
    const negotiator = this.negotiator;
    for (;;) {
      if (this.skipBytes > 0) {
        this.skipBytes -= this.queue.skip(this.skipBytes);
        if (this.skipBytes > 0) return;
      }
      if (this.latePhase === 'transmission' && tx !== undefined) {
        if (this.queue.length < REQUEST_HEADER_SIZE) return;
        const h = decodeRequest(this.queue.take(REQUEST_HEADER_SIZE));
        if (h.magic !== REQUEST_MAGIC) break;
        if (h.type === Cmd.WRITE) this.skipBytes = h.length;
        if (h.type !== Cmd.DISC) tx.replyError(h, Errno.ESHUTDOWN, SHUTDOWN_MESSAGE);
      } else if (this.latePhase === 'options' && negotiator !== undefined) {
        // option replies go out in order: the one still running answers first (see optionDone)
        if (this.optionInProgress !== undefined || this.queue.length < OPTION_HEADER_SIZE) return;
        const h = decodeOptionHeader(this.queue.take(OPTION_HEADER_SIZE));
        if (!h.valid) break;
        negotiator.refuse(h.option, Rep.ERR_SHUTDOWN, SHUTDOWN_MESSAGE);
        this.skipBytes = h.length;
      } else {
        break;
      }
    }
    this.latePhase = undefined; // garbage, or nothing to answer with: ignore the rest
    this.queue.clear();
  }

  /**
   * Writes one message. The socket stays corked until the end of the current tick, so every reply
   * produced in one batch of completions (and each header with its data) leaves in one writev.
   */
  private send(parts: Buffer[], done?: () => void): void {
    const s = this.socket;
    if (s.destroyed || !s.writable) {
      done?.(); // nothing will read the buffers: they (and their budget) can be reused now
      return;
    }
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.uncork);
    }
    const last = parts.length - 1;
    parts.forEach((p, i) => {
      if (i === last && done) s.write(p, () => done());
      else if (p.length > 0) s.write(p);
    });
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private onData(chunk: Buffer): void {
    if (this.stopped) {
      if (this.latePhase === undefined) return;
      this.queue.push(chunk);
      this.answerLate();
      return;
    }
    this.queue.push(chunk);
    this.pump();
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.stopped && this.optionInProgress === undefined && this.step()) {
        // each step consumed a message
      }
    } catch (err) {
      this.logger?.error('nbd connection failed', { client: this.client, error: String(err) });
      void this.finish('internal error', false);
    } finally {
      this.pumping = false;
    }
  }

  private step(): boolean {
    switch (this.phase) {
      case 'flags':
        return this.stepClientFlags();
      case 'options':
        return this.stepOption();
      case 'transmission':
        return this.stepRequest();
      default:
        return false;
    }
  }

  private stepClientFlags(): boolean {
    if (this.queue.length < 4) return false;
    const flags = this.queue.take(4).readUInt32BE(0);
    if ((flags & ~KNOWN_CLIENT_FLAGS) !== 0) {
      void this.finish(`unknown client flags 0x${flags.toString(16)}`, false);
      return false;
    }
    const noZeroes = (flags & ClientFlag.NO_ZEROES) !== 0;
    const config = { maxPayload: this.config.maxPayload, client: this.client, noZeroes, refusal: this.config.refusal };
    this.negotiator = new OptionNegotiator(this.backend, config, (b) => this.send([b]));
    this.phase = 'options';
    return true;
  }

  private stepOption(): boolean {
    const negotiator = this.negotiator;
    if (negotiator === undefined) return false;
    if (this.skipBytes > 0) {
      this.skipBytes -= this.queue.skip(this.skipBytes);
      if (this.skipBytes > 0) return false;
      const opt = this.pendingOption;
      this.pendingOption = undefined;
      if (opt !== undefined) this.apply(negotiator.tooBig(opt.option));
      return true;
    }
    if (this.pendingOption === undefined) {
      if (this.queue.length < OPTION_HEADER_SIZE) return false;
      const h = decodeOptionHeader(this.queue.take(OPTION_HEADER_SIZE));
      if (!h.valid) {
        void this.finish('bad option magic', false);
        return false;
      }
      this.pendingOption = { option: h.option, length: h.length };
      if (h.length > this.config.maxOptionLength) this.skipBytes = h.length;
      return true;
    }
    const { option, length } = this.pendingOption;
    if (this.queue.length < length) return false;
    const data = this.queue.take(length);
    this.pendingOption = undefined;
    this.socket.pause();
    this.optionInProgress = negotiator.handle(option, data).then(
      (outcome) => this.optionDone(outcome),
      (err: unknown) => this.optionDone({ kind: 'close', reason: `option ${option} failed: ${String(err)}` }),
    );
    return false;
  }

  private optionDone(outcome: Outcome): void {
    this.optionInProgress = undefined;
    this.apply(outcome);
    if (this.stopped) {
      if (this.latePhase !== undefined) this.answerLate();
      return;
    }
    this.socket.resume();
    this.pump();
    this.finishIfDrained();
  }

  private finishIfDrained(): void {
    if (this.inputEnded && !this.throttled && this.awaitingBudget === undefined && this.optionInProgress === undefined) {
      void this.finish('client closed its side', true);
    }
  }

  private apply(outcome: Outcome): void {
    if (outcome.kind === 'continue') return;
    if (outcome.kind === 'close') {
      this.logger?.debug?.('nbd handshake ended', { client: this.client, reason: outcome.reason });
      void this.finish(outcome.reason, true);
      return;
    }
    // The export is open from here on: teardown must close it, even if we are already stopping.
    this.session = outcome.session;
    if (this.stopped) return;
    clearTimeout(this.handshakeTimer);
    this.tx = new Transmission(
      outcome.session,
      this.config,
      { send: (p, done) => this.send(p, done) },
      () => this.resumeIfPossible(),
      this.budget,
      this.pool,
    );
    this.phase = 'transmission';
    this.logger?.info('nbd export attached', { client: this.client, export: outcome.session.name });
  }

  private stepRequest(): boolean {
    const tx = this.tx;
    if (tx === undefined) return false;
    if (this.skipBytes > 0) {
      this.skipBytes -= this.queue.skip(this.skipBytes);
      return this.skipBytes === 0;
    }
    const pw = this.pendingWrite;
    if (pw !== undefined) {
      if (this.queue.length < pw.length) return false;
      this.pendingWrite = undefined;
      if (this.queue.contiguous(pw.length)) {
        tx.submit(pw, this.queue.take(pw.length)); // a view of the socket chunk: no copy
      } else {
        const pooled = this.pool.acquire(pw.length);
        const payload = pooled.subarray(0, pw.length);
        this.queue.copyTo(payload);
        tx.submit(pw, payload, () => this.pool.release(pooled));
      }
      return true;
    }
    if (this.awaitingBudget !== undefined) return false;
    if (this.overloaded(tx)) {
      this.throttle();
      return false;
    }
    if (this.queue.length < REQUEST_HEADER_SIZE) return false;
    const h = decodeRequest(this.queue.take(REQUEST_HEADER_SIZE));
    if (h.magic !== REQUEST_MAGIC) {
      void this.finish(`bad request magic 0x${h.magic.toString(16)}`, false);
      return false;
    }
    if (h.type === Cmd.DISC) {
      void this.finish('client sent NBD_CMD_DISC', true);
      return false;
    }
    const bad = tx.check(h);
    if (bad !== undefined) {
      tx.replyError(h, bad.errno, bad.message);
      if (h.type === Cmd.WRITE) this.skipBytes = h.length; // drain the payload without keeping it
      return true;
    }
    const bytes = Transmission.payloadOf(h);
    if (bytes > 0 && !this.budget.tryTake(bytes)) {
      // over the server-wide budget: stop reading until the bytes are granted
      this.awaitingBudget = h;
      this.socket.pause();
      this.leaveQueue = this.budget.wait(bytes, () => this.budgetGranted());
      return false;
    }
    this.admit(tx, h);
    return true;
  }

  /** Runs a checked request whose payload bytes are charged (a WRITE first receives its payload). */
  private admit(tx: Transmission, h: RequestHeader): void {
    if (h.type === Cmd.WRITE && h.length > 0) this.pendingWrite = h;
    else tx.submit(h);
  }

  private budgetGranted(): void {
    const h = this.awaitingBudget;
    const tx = this.tx;
    this.awaitingBudget = undefined;
    this.leaveQueue = undefined;
    if (h === undefined || tx === undefined) return;
    if (this.stopped) {
      this.budget.give(Transmission.payloadOf(h));
      return;
    }
    this.admit(tx, h);
    // Granted from inside another request's completion: parse on in a turn of our own.
    process.nextTick(() => {
      if (this.stopped) return;
      this.pump();
      if (!this.throttled && this.awaitingBudget === undefined && !this.stopped) this.socket.resume();
      this.finishIfDrained();
    });
  }

  private overloaded(tx: Transmission): boolean {
    return (
      tx.inFlight >= this.config.maxInFlightRequests ||
      tx.inFlightBytes + this.socket.writableLength >= this.config.maxInFlightBytes
    );
  }

  private throttle(): void {
    if (this.throttled) return;
    this.throttled = true;
    this.socket.pause();
  }

  private resumeIfPossible(): void {
    const tx = this.tx;
    if (!this.throttled || this.stopped || tx === undefined || this.overloaded(tx)) return;
    this.throttled = false;
    this.pump();
    if (!this.throttled && this.awaitingBudget === undefined && !this.stopped) this.socket.resume();
    this.finishIfDrained();
  }

  private finish(reason: string, graceful: boolean, answerLate = false): Promise<void> {
    if (this.finished !== undefined) return this.finished;
    this.stopped = true;
    this.phase = 'done';
    clearTimeout(this.handshakeTimer);
    // bytes charged for requests that will never run (a shutdown still answers them)
    this.leaveQueue?.();
    this.leaveQueue = undefined;
    if (this.awaitingBudget !== undefined) this.blockedAtStop = { h: this.awaitingBudget, payload: this.awaitingBudget.type === Cmd.WRITE };
    this.awaitingBudget = undefined;
    if (this.pendingWrite !== undefined) {
      this.budget.give(this.pendingWrite.length);
      this.blockedAtStop = { h: this.pendingWrite, payload: true };
    }
    this.pendingWrite = undefined;
    if (!answerLate) this.queue.clear();
    this.finished = this.teardown(reason, graceful)
      .catch((err: unknown) => this.logger?.error('nbd teardown failed', { client: this.client, error: String(err) }))
      .finally(() => this.markDone());
    return this.finished;
  }

  private async teardown(reason: string, graceful: boolean): Promise<void> {
    this.logger?.debug?.('nbd connection closing', { client: this.client, reason });
    const option = this.optionInProgress;
    if (option !== undefined) {
      // The option may be a GO waiting for backend.open, which can take arbitrarily long (a disk
      // lease, a slow catalog): a client that is gone is let go at once, and nobody waits more
      // than closeTimeoutMs for the open. The export it yields is closed whenever it settles.
      if (!graceful) this.socket.destroy();
      if (!(await settlesWithin(option, this.config.closeTimeoutMs))) {
        this.logger?.warn('nbd option still running at close; its export is closed when it completes', { client: this.client, reason });
        this.socket.destroy();
        void option.then(() => this.closeExport(reason));
        return this.socketClosed;
      }
    }
    if (this.tx !== undefined) await this.tx.idle();
    await this.closeExport(reason);
    await this.endSocket(graceful);
  }

  /** Closes the opened export, if any, exactly once. */
  private async closeExport(reason: string): Promise<void> {
    const session = this.session;
    if (session === undefined || this.exportClosed) return;
    this.exportClosed = true;
    try {
      await session.export.close();
    } catch (err) {
      this.logger?.warn('nbd export close failed', { client: this.client, export: session.name, error: String(err) });
    }
    this.logger?.info('nbd export detached', { client: this.client, export: session.name, reason });
  }

  private async endSocket(graceful: boolean): Promise<void> {
    const s = this.socket;
    if (!graceful || s.destroyed) {
      s.destroy();
      return this.socketClosed;
    }
    s.end();
    const timer = setTimeout(() => s.destroy(), this.config.closeTimeoutMs);
    timer.unref();
    await this.socketClosed;
    clearTimeout(timer);
  }
}

/** True when `p` settles within `ms` (it never rejects here: options report their own errors). */
function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

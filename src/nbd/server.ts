/**
 * @module nbd/server
 * The NBD server: a `node:net` listener that serves the exports of an `NbdBackend` with the fixed
 * newstyle handshake, structured replies and `base:allocation` block status. One `NbdConnection`
 * per client does the work; this class only owns the listener, the options and shutdown.
 *
 * @example
 * ```ts
 * const server = new NbdServer(backend, { logger: console });
 * const { port } = await server.listen(10809, '127.0.0.1');
 * // qemu-img info nbd://127.0.0.1:10809/subscriptions/.../disks/d1
 * await server.close();
 * ```
 */

import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { NbdBackend } from './backend.js';
import { BufferPool } from '../core/buffer-pool.js';
import { ByteBudget } from './budget.js';
import { NbdConnection } from './connection.js';
import type { ConnectionConfig, NbdLogger } from './connection.js';

export type { NbdLogger } from './connection.js';

const MiB = 1024 * 1024;

export interface NbdServerOptions {
  /** Largest READ/WRITE payload accepted, advertised as the maximum block size (default 32 MiB). */
  maxPayload?: number;
  logger?: NbdLogger;
  /**
   * Per connection: stop reading new requests while this many bytes of reads and writes are in
   * flight or unsent (default: max(32 MiB, maxPayload)). One request is always admitted.
   */
  maxInFlightBytes?: number;
  /** Per connection: most requests processed at once (default 256). */
  maxInFlightRequests?: number;
  /**
   * The whole server: READ and WRITE payload bytes in flight (received and not yet written, or
   * read and not yet taken by the socket) across all connections (default 64 MiB; at least
   * `maxPayload`). Requests over it wait, in arrival order, with their connection paused.
   */
  maxTotalInFlightBytes?: number;
  /**
   * The whole server: connections served at once (default 128). Clients beyond it get
   * NBD_REP_ERR_POLICY "too many connections" to every option (a few at a time; more are hung up on).
   */
  maxConnections?: number;
  /** Structured reads of at least this many bytes send holes as hole chunks (default 64 KiB; 0 = off). */
  sparseReadMin?: number;
  /** Disconnect clients that have not finished the handshake after this long (default 60 s; 0 = never). */
  handshakeTimeoutMs?: number;
  /**
   * How long closing a connection waits for the client to close its side, and for an option still
   * inside `backend.open` (default 2 s).
   */
  closeTimeoutMs?: number;
}

/** Largest payload the 32-bit length fields can carry next to a chunk's 8-byte offset. */
const MAX_PAYLOAD_LIMIT = 0xffffffff - 8;

/** Defaults of the server-wide limits (see NbdServerOptions). */
export const DEFAULT_MAX_TOTAL_IN_FLIGHT_BYTES = 64 * MiB;
export const DEFAULT_MAX_CONNECTIONS = 128;
/** Connections over the limit that are answered "too many connections" at once; more are dropped. */
const MAX_REFUSING = 16;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function resolveConfig(opts: NbdServerOptions): ConnectionConfig {
  const maxPayload = opts.maxPayload ?? 32 * MiB;
  if (!Number.isSafeInteger(maxPayload) || maxPayload < 4096 || maxPayload > MAX_PAYLOAD_LIMIT) {
    throw new RangeError(`maxPayload must be an integer between 4096 and ${MAX_PAYLOAD_LIMIT}, got ${maxPayload}`);
  }
  return {
    maxPayload,
    maxInFlightBytes: opts.maxInFlightBytes ?? Math.max(32 * MiB, maxPayload),
    maxInFlightRequests: opts.maxInFlightRequests ?? 256,
    sparseReadMin: opts.sparseReadMin ?? 64 * 1024,
    maxExtents: 65536,
    maxOptionLength: 64 * 1024,
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 60_000,
    closeTimeoutMs: opts.closeTimeoutMs ?? 2_000,
  };
}

export interface NbdServerStats {
  /** Open connections, refused ones included. */
  connections: number;
  /** Payload bytes charged to the server-wide budget right now. */
  inFlightBytes: number;
  /** Requests waiting for the budget. */
  waitingRequests: number;
  /** Bytes received and not yet consumed, summed over the connections. */
  receiveBufferedBytes: number;
}

export class NbdServer {
  private readonly config: ConnectionConfig;
  private readonly logger: NbdLogger | undefined;
  private readonly connections = new Set<NbdConnection>();
  private readonly pool: BufferPool;
  private readonly budget: ByteBudget;
  private readonly maxConnections: number;
  private served = 0;
  private refusing = 0;
  private server: Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly backend: NbdBackend,
    opts: NbdServerOptions = {},
  ) {
    this.config = resolveConfig(opts);
    this.logger = opts.logger;
    const total = positiveInteger('maxTotalInFlightBytes', opts.maxTotalInFlightBytes ?? Math.max(DEFAULT_MAX_TOTAL_IN_FLIGHT_BYTES, this.config.maxPayload));
    if (total < this.config.maxPayload) throw new RangeError(`maxTotalInFlightBytes (${total}) must be at least maxPayload (${this.config.maxPayload})`);
    this.budget = new ByteBudget(total);
    this.maxConnections = positiveInteger('maxConnections', opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    // Payload and read buffers are recycled; idle ones are kept up to what may be in flight.
    this.pool = new BufferPool(total);
  }

  /** Number of open client connections (in the handshake or transmission phase). */
  get connectionCount(): number {
    return this.connections.size;
  }

  stats(): NbdServerStats {
    let receiveBufferedBytes = 0;
    for (const c of this.connections) receiveBufferedBytes += c.bufferedBytes;
    return {
      connections: this.connections.size,
      inFlightBytes: this.budget.inUse,
      waitingRequests: this.budget.waiting,
      receiveBufferedBytes,
    };
  }

  /** Starts listening; `port` 0 picks a free port, returned in the result. */
  listen(port: number, host: string): Promise<{ port: number }> {
    if (this.server !== undefined) return Promise.reject(new Error('NbdServer is already listening'));
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        server.on('error', (err) => this.logger?.error('nbd listener error', { error: err.message }));
        const addr = server.address();
        const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
        this.logger?.info('nbd server listening', { host, port: bound });
        resolve({ port: bound });
      });
    });
  }

  /**
   * Stops accepting connections, lets every request in flight finish and get its reply, closes
   * the exports and the connections. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.server;
    const stopped = new Promise<void>((resolve) => {
      if (server === undefined || !server.listening) resolve();
      else server.close(() => resolve());
    });
    await Promise.all([...this.connections].map((c) => c.shutdown()));
    await stopped;
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    let refusal: string | undefined;
    if (this.served >= this.maxConnections) {
      refusal = `too many connections: this server serves at most ${this.maxConnections} at once; retry later`;
      if (this.refusing >= MAX_REFUSING) {
        socket.destroy();
        return;
      }
      this.logger?.warn('nbd connection refused: too many connections', { limit: this.maxConnections });
    }
    const config = refusal === undefined ? this.config : { ...this.config, refusal };
    const conn = new NbdConnection(socket, this.backend, config, this.pool, this.budget, this.logger);
    if (refusal === undefined) this.served++;
    else this.refusing++;
    this.connections.add(conn);
    void conn.done.then(() => {
      this.connections.delete(conn);
      if (refusal === undefined) this.served--;
      else this.refusing--;
    });
  }
}

/**
 * @module cli/command
 * What a client command is (`CommandSpec`: options, help, examples, az's table transformer and
 * `run`) and what it runs with (`CommandContext`: the connection, an ARM client, the subscription
 * in effect, logging by verbosity, progress bars, confirmation, cancellation).
 *
 * A command returns its result (printed through --query and -o by main.ts) or undefined for no
 * output, and throws `CliError` for failures. The connection is resolved on first use, so
 * commands that never call `arm()`/`http()` (apply-diff, logout) work without a server.
 */

import type { Args, OptionSpec } from './args.js';
import { ArmClient, API } from './arm.js';
import type { ConfigStore } from './config.js';
import { resolveConnection, TokenProvider } from './connection.js';
import type { Connection } from './connection.js';
import { CliError, ExitCode } from './errors.js';
import { HttpClient } from './http.js';
import type { TableTransformer } from './output/format-table.js';
import { createProgress } from './progress.js';
import type { Progress } from './progress.js';

/** Input and output of the CLI (the process, or a test's buffers). */
export interface ClientIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Working directory (default process.cwd()). */
  cwd?: string;
  stdoutIsTTY?: boolean;
  stderrIsTTY?: boolean;
  stdinIsTTY?: boolean;
  /** Reads one line of the terminal (confirmations). */
  readLine?: () => Promise<string>;
  /** Terminal width. */
  columns?: number;
}

export interface Example {
  title: string;
  command: string;
}

export interface CommandSpec {
  /** `disk create` */
  name: string;
  summary: string;
  description?: string;
  options: readonly OptionSpec[];
  examples: readonly Example[];
  /** az's table transformer (a JMESPath applied to each item, or a function), without --query. */
  transformer?: TableTransformer;
  run(ctx: CommandContext, args: Args): Promise<unknown>;
}

export interface Logger {
  /** Shown unless --only-show-errors. */
  warn(message: string): void;
  /** Shown with --verbose or --debug. */
  info(message: string): void;
  /** Shown with --debug. */
  debug(message: string): void;
}

export interface GlobalFlags {
  subscription?: string;
  verbose: boolean;
  debug: boolean;
  onlyShowErrors: boolean;
}

interface Subscription {
  subscriptionId: string;
  displayName?: string;
  state?: string;
  tenantId?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class CommandContext {
  readonly log: Logger;
  readonly signal: AbortSignal;
  private conn: Connection | undefined;
  private client: HttpClient | undefined;
  private armClient: ArmClient | undefined;
  private subscriptionId: string | undefined;

  constructor(
    readonly io: ClientIo,
    readonly store: ConfigStore,
    readonly flags: GlobalFlags,
    signal: AbortSignal,
  ) {
    this.signal = signal;
    const line = (prefix: string) => (m: string) => io.stderr(`${prefix}${m}\n`);
    this.log = {
      warn: flags.onlyShowErrors ? () => undefined : line('WARNING: '),
      info: flags.verbose || flags.debug ? line('INFO: ') : () => undefined,
      debug: flags.debug ? line('DEBUG: ') : () => undefined,
    };
  }

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  get cwd(): string {
    return this.io.cwd ?? process.cwd();
  }

  /** The server in effect (login, else the local development server). */
  connection(): Connection {
    this.conn ??= resolveConnection(this.store, this.io.env, this.cwd);
    return this.conn;
  }

  /** Uses `conn` instead of the configured one (login checks it before saving). */
  useConnection(conn: Connection): void {
    this.close();
    this.conn = conn;
    this.subscriptionId = undefined;
  }

  http(): HttpClient {
    if (!this.client) {
      const conn = this.connection();
      this.client = new HttpClient({ ...(conn.ca !== undefined ? { ca: conn.ca } : {}), ...(this.flags.debug ? { debug: (l) => this.log.debug(l) } : {}) });
    }
    return this.client;
  }

  arm(): ArmClient {
    if (!this.armClient) {
      const conn = this.connection();
      this.log.info(`Server ${conn.endpoint} (${conn.source === 'dev' ? `development server of ${conn.dataDir ?? ''}` : `logged in as ${conn.clientId}`})`);
      this.armClient = new ArmClient(this.http(), new TokenProvider(this.http(), conn, this.store), conn.endpoint);
    }
    return this.armClient;
  }

  /** The subscriptions the principal may use. */
  async subscriptions(): Promise<Subscription[]> {
    return this.arm().list<Subscription>('/subscriptions', API.subscriptions);
  }

  /**
   * --subscription (id or name, one of the principal's, as az checks it against its profile), else
   * the one set with `account set`, else the server's first.
   */
  async subscription(): Promise<string> {
    if (this.subscriptionId) return this.subscriptionId;
    const given = this.flags.subscription;
    const id = given !== undefined ? (await this.findSubscription(given, true)).subscriptionId : await this.defaultSubscription();
    this.subscriptionId = id;
    return id;
  }

  /** The subscription in effect without --subscription. */
  async defaultSubscription(): Promise<string> {
    const conn = this.connection();
    const id = this.store.load().subscriptions?.[conn.key] ?? conn.defaultSubscriptionId;
    if (id !== undefined) return id;
    const first = (await this.subscriptions())[0];
    if (!first) {
      throw new CliError('This principal may use no subscription.', {
        code: 'NoSubscription',
        hint: "Ask the server's administrator for a role assignment on a subscription, or log in as another principal (`snapdisk login ...`).",
      });
    }
    return first.subscriptionId;
  }

  /**
   * One of the principal's subscriptions by id or name (case-insensitive), failing as az does:
   * `Subscription 'X' not found.`, exit 1 (after a warning, for the global --subscription).
   */
  async findSubscription(wanted: string, global: boolean): Promise<Subscription> {
    const subs = await this.subscriptions();
    const w = wanted.toLowerCase();
    const found = GUID.test(wanted) ? subs.find((s) => s.subscriptionId.toLowerCase() === w) : subs.find((s) => (s.displayName ?? '').toLowerCase() === w || s.subscriptionId.toLowerCase() === w);
    if (found) return found;
    if (global) this.log.warn(`Subscription '${wanted}' not recognized.`);
    throw new CliError(`Subscription '${wanted}' not found. Check the spelling and casing and try again.`, {
      code: 'SubscriptionNotFound',
      exit: ExitCode.error,
      hint: 'List the subscriptions this principal may use with `snapdisk account list -o table`.',
    });
  }

  /** A progress bar on stderr when it is a terminal (SNAPDISK_PROGRESS=always|never overrides). */
  progress(label: string, total: number, unit: 'bytes' | 'percent' = 'bytes'): Progress {
    const mode = this.io.env.SNAPDISK_PROGRESS;
    const enabled = mode === 'always' || (mode !== 'never' && this.io.stderrIsTTY === true && !this.flags.onlyShowErrors);
    return createProgress(enabled, { label, total, unit, write: this.io.stderr, ...(this.io.columns !== undefined ? { columns: this.io.columns } : {}) });
  }

  /** Asks a yes/no question on the terminal; without one the answer is no, as in az (use --yes). */
  async confirm(question: string): Promise<boolean> {
    if (!this.io.stdinIsTTY || !this.io.readLine) {
      this.log.warn('Unable to prompt for confirmation as no tty available. Use --yes.');
      return false;
    }
    this.io.stderr(`${question} (y/n): `);
    const answer = (await this.io.readLine()).trim().toLowerCase();
    return answer === 'y' || answer === 'yes';
  }

  /** `confirm`, throwing az's `Operation cancelled.` (exit 1) unless --yes was given or the answer is yes. */
  async confirmOrCancel(yes: boolean, question = 'Are you sure you want to perform this operation?'): Promise<void> {
    if (yes || (await this.confirm(question))) return;
    throw new CliError('Operation cancelled.', { code: 'Cancelled', hint: 'Nothing was changed; pass --yes to go ahead without a prompt.' });
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
    this.armClient = undefined;
  }
}

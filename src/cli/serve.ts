/**
 * @module cli/serve
 * `snapdisk serve [--data DIR] [--host H] [--port P] [--http-port P2] [--nbd-port P3] [--config FILE]`
 * (operational-contract.md "Build and start"). Each flag falls back to its environment variable
 * (`SNAPDISK_DATA`, `SNAPDISK_HOST`, `SNAPDISK_PORT`, `SNAPDISK_HTTP_PORT`, `SNAPDISK_NBD_PORT`),
 * then to the default (`./.snapdisk`, `127.0.0.1`, 7443, 7080, 10809). Port 0 picks a free port;
 * the banner shows the ports actually bound.
 *
 * Exit codes: 0 after a clean shutdown on SIGTERM/SIGINT; 2 for a usage or configuration error
 * (the message names the flag or the config key); 1 when the server cannot start (port in use).
 * A second signal during shutdown exits at once with 1.
 */
import { resolve } from 'node:path';
import { SnapdiskError } from '../core/errors.js';
import type { Logger } from '../engine/context.js';
import { defaultRequestLogger } from '../api/http/request-log.js';
import { DEFAULT_PORTS, resolveConfig, startSnapdisk } from '../server.js';
import { startNbd } from '../nbd/start.js';
import type { NbdStarter, RunningServer } from '../server.js';
import { banner } from './banner.js';

export interface ServeArgs {
  dataDir: string;
  host: string;
  httpsPort: number;
  httpPort: number;
  nbdPort: number;
  configPath?: string;
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export class UsageError extends Error {}

export const SERVE_USAGE = `Usage: snapdisk serve [--data DIR] [--host H] [--port P] [--http-port P2] [--nbd-port P3] [--config FILE]

  --data DIR        data directory (env SNAPDISK_DATA, default ./.snapdisk)
  --host H          interface to bind (env SNAPDISK_HOST, default 127.0.0.1)
  --port P          HTTPS port: ARM, identity, SAS (env SNAPDISK_PORT, default 7443; 0 = any free port)
  --http-port P2    plain HTTP port, same routes (env SNAPDISK_HTTP_PORT, default 7080)
  --nbd-port P3     NBD port (env SNAPDISK_NBD_PORT, default 10809)
  --config FILE     configuration file (default DATA/config.json when it exists)

Examples
  Start the development server on the default ports, data in ./.snapdisk:
    snapdisk serve
  Another data directory, any free ports (the banner shows the ones bound):
    snapdisk serve --data /srv/snapdisk --port 0 --http-port 0 --nbd-port 0
  Listen on every interface with a configuration file:
    snapdisk serve --host 0.0.0.0 --config /etc/snapdisk/config.json
  Then, in another shell, use it like az:
    snapdisk group create -n rg1 -l eastus
`;

const FLAGS: Record<string, keyof ServeArgs> = {
  '--data': 'dataDir',
  '--host': 'host',
  '--port': 'httpsPort',
  '--http-port': 'httpPort',
  '--nbd-port': 'nbdPort',
  '--config': 'configPath',
};

function port(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n > 65535) throw new UsageError(`${name} must be a port number from 0 to 65535, not '${value}'.`);
  return n;
}

/** Flags over environment over defaults. */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv): ServeArgs {
  const given: Partial<Record<keyof ServeArgs, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const field = FLAGS[flag];
    if (field === undefined) throw new UsageError(`Unknown argument '${arg}'.`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value.`);
    given[field] = value;
  }
  const pick = (field: keyof ServeArgs, envName: string): string | undefined => given[field] ?? (env[envName] || undefined);
  const config = given.configPath;
  return {
    dataDir: resolve(pick('dataDir', 'SNAPDISK_DATA') ?? './.snapdisk'),
    host: pick('host', 'SNAPDISK_HOST') ?? '127.0.0.1',
    httpsPort: port(pick('httpsPort', 'SNAPDISK_PORT') ?? String(DEFAULT_PORTS.https), '--port'),
    httpPort: port(pick('httpPort', 'SNAPDISK_HTTP_PORT') ?? String(DEFAULT_PORTS.http), '--http-port'),
    nbdPort: port(pick('nbdPort', 'SNAPDISK_NBD_PORT') ?? String(DEFAULT_PORTS.nbd), '--nbd-port'),
    ...(config !== undefined ? { configPath: resolve(config) } : {}),
  };
}

/** NBD: the server of src/nbd over the engine, on --nbd-port. */
function nbdStarter(): NbdStarter | undefined {
  return startNbd;
}

function stderrLogger(io: CliIo): Logger {
  const verbose = Boolean(io.env.SNAPDISK_LOG) && io.env.SNAPDISK_LOG !== '0';
  const line = (level: string, msg: string, fields?: Record<string, unknown>): void =>
    io.stderr(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...(fields ?? {}) })}\n`);
  return {
    info: (msg, fields) => (verbose ? line('info', msg, fields) : undefined),
    warn: (msg, fields) => line('warn', msg, fields),
    error: (msg, fields) => line('error', msg, fields),
  };
}

function startError(err: unknown, args: ServeArgs): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') {
    return `cannot listen on ${args.host}: ${e.message.replace(/^listen /, '')}. Another server uses the port: stop it, or pass --port/--http-port/--nbd-port (0 picks a free port).`;
  }
  if (e.code === 'EADDRNOTAVAIL') return `cannot bind ${args.host}: it is not an address of this machine (--host).`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * The first SIGINT/SIGTERM resolves `signal`; a second one during shutdown exits at once with 1.
 * `cancel` removes the handlers.
 */
function waitForSignal(): { signal: Promise<NodeJS.Signals>; cancel(): void } {
  let received: NodeJS.Signals | undefined;
  let resolve: (sig: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const on = (sig: NodeJS.Signals): void => {
    if (received !== undefined) process.exit(1);
    received = sig;
    resolve(sig);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal,
    cancel() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** Runs the server until SIGTERM/SIGINT; returns the exit code. */
export async function serve(argv: readonly string[], io: CliIo): Promise<number> {
  let args: ServeArgs;
  let running: RunningServer;
  // listen for signals before anything is printed: a supervisor may stop us as soon as it sees the banner
  const stopped = waitForSignal();
  try {
    args = parseServeArgs(argv, io.env);
    const config = resolveConfig(args);
    const nbd = nbdStarter();
    const requestLog = defaultRequestLogger();
    running = await startSnapdisk({ ...args, config, logger: stderrLogger(io), ...(nbd ? { nbd } : {}), ...(requestLog ? { requestLog } : {}) }).catch((err: unknown) => {
      throw err instanceof SnapdiskError ? err : new Error(startError(err, args));
    });
  } catch (err) {
    stopped.cancel();
    if (err instanceof UsageError) {
      io.stderr(`snapdisk serve: ${err.message}\n\n${SERVE_USAGE}`);
      return 2;
    }
    const config = err instanceof SnapdiskError && err.message.startsWith('config:');
    io.stderr(`snapdisk serve: ${err instanceof SnapdiskError ? err.fullMessage : err instanceof Error ? err.message : String(err)}\n`);
    return config ? 2 : 1;
  }
  io.stdout(banner(running));
  const sig = await stopped.signal;
  io.stdout(`snapdisk: ${sig} received, shutting down (finishing requests, checkpointing background copies)...\n`);
  await running.close();
  stopped.cancel();
  io.stdout('snapdisk: stopped.\n');
  // anything a library left running must not keep a stopped server alive
  setTimeout(() => process.exit(0), 3_000).unref();
  return 0;
}

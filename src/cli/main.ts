/**
 * @module cli/main
 * Entry point of the `snapdisk` command (`bin/snapdisk.js` calls `main(argv)` and exits with the
 * code it returns):
 *
 *   snapdisk serve ...                   the server (cli/serve.ts)
 *   snapdisk <group> <command> [options] an az-style client command (cli/commands/*.ts), e.g.
 *                                        `snapdisk snapshot list -g rg1 --query "[].name" -o tsv`
 *
 * For client commands it finds the command (longest match of the leading words), parses its
 * options together with the global ones (--query, -o, --subscription, --verbose, --debug,
 * --only-show-errors, --help), runs it against the server in effect, prints the result through
 * --query and -o, and maps failures to az's exit codes (1 error, 2 usage, 3 not found).
 */
import { setMaxListeners } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from './args.js';
import type { OptionSpec } from './args.js';
import { CommandContext } from './command.js';
import type { ClientIo, CommandSpec } from './command.js';
import { COMMANDS, GROUPS } from './commands/index.js';
import { configDir, ConfigStore } from './config.js';
import { CliError, ExitCode, formatError, usageError } from './errors.js';
import { commandHelp, GLOBAL_OPTIONS, groupHelp } from './help.js';
import { compileQuery } from './output/query.js';
import { parseOutputFormat, render } from './output/render.js';
import { version } from './version.js';

export { version };

function readLine(): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (line) => {
      rl.close();
      resolve(line);
    });
    rl.once('close', () => resolve(''));
  });
}

const processIo: ClientIo & { signals: true } = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stdoutIsTTY: process.stdout.isTTY === true,
  stderrIsTTY: process.stderr.isTTY === true,
  stdinIsTTY: process.stdin.isTTY === true,
  readLine,
  ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
  signals: true,
};

/** The root help: groups and top-level commands. */
export function rootHelp(): string {
  const top = COMMANDS.filter((c) => !c.name.includes(' ')).map((c) => ({ name: c.name, summary: c.summary }));
  const groups = GROUPS.filter((g) => !g.name.includes(' '));
  return `Usage: snapdisk <command> [options]\n${groupHelp('', 'Self-hosted managed disks with incremental snapshots, driven like the Azure CLI.', groups, [
    { name: 'serve', summary: 'Run the server: Resource Manager API, identity, SAS data plane, NBD.' },
    ...top,
    { name: 'version', summary: 'Show the version.' },
  ])}`;
}

/** `snapdisk version` for --help (handled here: it needs no connection and takes no options). */
const VERSION_HELP: CommandSpec = {
  name: 'version',
  summary: 'Show the version of snapdisk.',
  options: [],
  examples: [
    { title: 'Show the version.', command: 'snapdisk version' },
    { title: 'The same, as --version.', command: 'snapdisk --version' },
  ],
  run: () => Promise.resolve(undefined),
};

/** The global options a command takes (its own option of the same name wins: `account show -s`). */
function globalsOf(spec: CommandSpec): OptionSpec[] {
  return GLOBAL_OPTIONS.filter((g) => !spec.options.some((o) => o.name === g.name));
}

/** What to do when an error has no hint of its own. */
const DEFAULT_HINT = 'Run with --debug to see the requests.';

/** Runs one command; resolves with the process exit code. */
export async function main(argv: readonly string[], io: ClientIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      // loaded on demand: the server pulls in the whole engine, which client commands never need
      const { SERVE_USAGE, serve } = await import('./serve.js');
      if (rest.includes('--help') || rest.includes('-h')) {
        io.stdout(SERVE_USAGE);
        return 0;
      }
      return serve(rest, io);
    }
    case 'help':
    case '--help':
    case '-h':
      io.stdout(rootHelp());
      return 0;
    case 'version':
    case '--version':
      if (helpRequested(rest)) {
        io.stdout(commandHelp(VERSION_HELP, []));
        return 0;
      }
      if (rest.length > 0) {
        io.stderr(formatError(usageError(`unrecognized arguments: ${rest.join(' ')}`)));
        return ExitCode.usage;
      }
      io.stdout(`snapdisk ${version()}\n`);
      return 0;
    case undefined:
      // az without arguments prints its welcome and exits 0
      io.stdout(rootHelp());
      return 0;
    default:
      return runClient(argv, io);
  }
}

function findCommand(argv: readonly string[]): { spec?: CommandSpec; words: string[]; rest: string[] } {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  for (let n = words.length; n > 0; n--) {
    const name = words.slice(0, n).join(' ');
    const spec = COMMANDS.find((c) => c.name === name);
    if (spec) return { spec, words: words.slice(0, n), rest: argv.slice(n) };
  }
  return { words, rest: argv.slice(words.length) };
}

function helpRequested(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

async function runClient(argv: readonly string[], io: ClientIo): Promise<number> {
  const { spec, words, rest } = findCommand(argv);
  if (!spec) {
    // a group (`snapdisk disk`) prints its help; anything else is misspelled
    for (let n = words.length; n > 0; n--) {
      const group = words.slice(0, n).join(' ');
      const entry = GROUPS.find((g) => g.name === group);
      if (!entry) continue;
      if (n === words.length) {
        const sub = GROUPS.filter((g) => g.name.startsWith(`${group} `) && g.name.split(' ').length === n + 1).map((g) => ({ name: g.name.slice(group.length + 1), summary: g.summary }));
        const cmds = COMMANDS.filter((c) => c.name.startsWith(`${group} `) && c.name.split(' ').length === n + 1).map((c) => ({ name: c.name.slice(group.length + 1), summary: c.summary }));
        io.stdout(groupHelp(group, entry.summary, sub, cmds));
        return 0;
      }
      io.stderr(formatError(usageError(`'${words[n] ?? ''}' is misspelled or not recognized by the system.`, `See 'snapdisk ${group} --help'.`)));
      return ExitCode.usage;
    }
    io.stderr(formatError(usageError(`unknown command '${words[0] ?? argv[0] ?? ''}': it is misspelled or not recognized by the system.`, "See 'snapdisk --help'.")));
    return ExitCode.usage;
  }
  if (helpRequested(rest)) {
    io.stdout(commandHelp(spec, globalsOf(spec)));
    return 0;
  }
  const controller = new AbortController();
  // every request in flight listens to the signal (up to --parallel 32 transfers)
  setMaxListeners(256, controller.signal);
  const onSignal = (): void => controller.abort();
  const signals = (io as { signals?: boolean }).signals === true;
  let ctx: CommandContext | undefined;
  try {
    // every argument is checked before the command runs: a bad --query must not follow a delete
    const args = parseArgs(rest, [...spec.options, ...globalsOf(spec)]);
    const format = parseOutputFormat(args.str('output'));
    const queryArg = args.str('query');
    const query = queryArg !== undefined ? compileQuery(queryArg) : undefined;
    const subscription = spec.options.some((o) => o.name === '--subscription') ? undefined : args.str('subscription');
    ctx = new CommandContext(
      io,
      new ConfigStore(configDir(io.env)),
      { verbose: args.flag('verbose'), debug: args.flag('debug'), onlyShowErrors: args.flag('only-show-errors'), ...(subscription !== undefined ? { subscription } : {}) },
      controller.signal,
    );
    if (signals) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
    const started = Date.now();
    const result = await spec.run(ctx, args);
    ctx.log.info(`Command ran in ${((Date.now() - started) / 1000).toFixed(3)} seconds.`);
    const text = render(result, { format, ...(query !== undefined ? { query } : {}), ...(spec.transformer !== undefined ? { transformer: spec.transformer } : {}), color: io.stdoutIsTTY === true });
    if (text !== '') io.stdout(text);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CliError) {
      const shown = controller.signal.aborted ? new CliError('Interrupted.', { code: 'Interrupted' }) : err.hint === undefined && err.code !== 'UsageError' && !ctx?.flags.debug ? err.withHint(DEFAULT_HINT) : err;
      io.stderr(formatError(shown));
      if (err.code === 'UsageError') io.stderr(`See 'snapdisk ${spec.name} --help'.\n`);
      return controller.signal.aborted ? 130 : err.exit;
    }
    const e = err as Error;
    io.stderr(`ERROR: The command failed with an unexpected error: ${e.message}\n`);
    if (ctx?.flags.debug) io.stderr(`${e.stack ?? ''}\n`);
    else io.stderr(`Hint: ${DEFAULT_HINT}\n`);
    return ExitCode.error;
  } finally {
    if (signals) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    ctx?.close();
  }
}

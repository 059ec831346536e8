/**
 * @module cli/main
 * Entry point of the `snapdisk` command (`bin/snapdisk.js` calls `main(argv)` and exits with the
 * code it returns). Only `serve` exists so far; the az-style disk and snapshot commands come with
 * the CLI issue (TODO(issue 6)). Anything else prints the usage.
 */
import { readFileSync } from 'node:fs';
import { SERVE_USAGE, serve } from './serve.js';
import type { CliIo } from './serve.js';

export const USAGE = `Usage: snapdisk <command> [options]

Commands:
  serve      run the server: Azure Resource Manager API, identity, SAS data plane, NBD
             (snapdisk serve --help for its options)
  help       show this help
  version    show the version

The disk and snapshot commands (snapdisk disk create, snapdisk snapshot list, ...) are not
available yet; until then use the Azure CLI against the server (see the banner of serve).
`;

/** The package version (package.json is two levels up from src/cli, three from dist/src/cli). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'snapdisk' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
};

/** Runs one command; resolves with the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      if (rest.includes('--help') || rest.includes('-h')) {
        io.stdout(SERVE_USAGE);
        return 0;
      }
      return serve(rest, io);
    case 'help':
    case '--help':
    case '-h':
      io.stdout(USAGE);
      return 0;
    case 'version':
    case '--version':
      io.stdout(`snapdisk ${version()}\n`);
      return 0;
    case undefined:
      io.stderr(USAGE);
      return 2;
    default:
      io.stderr(`snapdisk: unknown command '${command}'.\n\n${USAGE}`);
      return 2;
  }
}

/**
 * Test support for the CLI suites: a whole server in-process on port 0 (`startSnapdisk`, as
 * arm-harness.ts does) and the `snapdisk` client run against it either in-process (`run`: `main()`
 * with captured output, fast) or as the built command (`exec`: `node bin/snapdisk.js`, and `bash`
 * with a `snapdisk` wrapper on PATH for scripts). The client finds the server the default way:
 * `SNAPDISK_DATA` = the server's data directory (dev-credentials.json, its certificate);
 * `SNAPDISK_CONFIG_DIR` is a temporary directory.
 *
 *   const t = await startCli();
 *   const r = await t.run('disk create -g rg1 -n d1 --size-gb 1 --sku Standard_LRS');
 *   expect(r.code).toBe(0); r.json();
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../../src/cli/main.js';
import type { ClientIo } from '../../src/cli/command.js';
import { defaultConfig } from '../../src/config/config.js';
import type { SnapdiskConfig } from '../../src/config/config.js';
import { startSnapdisk } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';

const execFileP = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'snapdisk.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Splits a command line like a shell (single and double quotes, backslash escapes). */
export function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? '';
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i] ?? '';
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i] ?? '';
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur !== '') out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (has || cur !== '') out.push(cur);
  return out;
}

function result(code: number, stdout: string, stderr: string): CliResult {
  return {
    code,
    stdout,
    stderr,
    json<T>() {
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new Error(`not JSON (exit ${code}):\n${stdout}\n${stderr}`);
      }
    },
  };
}

export interface CliTest {
  server: RunningServer;
  dir: string;
  /** Environment of client runs: SNAPDISK_DATA, SNAPDISK_CONFIG_DIR, HOME. */
  env: NodeJS.ProcessEnv;
  sub: string;
  /** `main(argv)` in-process. */
  /**
   * `main(argv)` in-process. `stderrIsTTY` draws progress bars as on a terminal (SNAPDISK_PROGRESS,
   * `never` for other runs, is then unset unless `env` sets it); `stdoutIsTTY` colours jsonc/yamlc.
   */
  run(args: string | string[], opts?: RunOptions): Promise<CliResult>;
  /** `node bin/snapdisk.js ...` as a child process (needs `npm run build`). */
  exec(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** A bash script with `snapdisk` on PATH (the built CLI). */
  bash(script: string, env?: NodeJS.ProcessEnv): Promise<CliResult>;
  close(): Promise<void>;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  stderrIsTTY?: boolean;
  stdoutIsTTY?: boolean;
  /** Lines typed on a terminal (stdin is a terminal only with this). */
  stdin?: string;
  cwd?: string;
}

export interface CliTestOptions {
  limits?: Partial<SnapdiskConfig['limits']>;
  pageSize?: number;
}

export function cliBuilt(): boolean {
  return existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
}

export async function startCli(options: CliTestOptions = {}): Promise<CliTest> {
  const dir = await mkdtemp(join(tmpdir(), 'snapdisk-cli-'));
  const dataDir = join(dir, 'data');
  const config = defaultConfig();
  config.limits = { ...config.limits, ...(options.limits ?? {}) };
  const server = await startSnapdisk({
    dataDir,
    httpsPort: 0,
    httpPort: 0,
    config,
    durableCatalog: false,
    ...(options.pageSize ? { arm: { pageSize: options.pageSize } } : {}),
  });
  const binDir = join(dir, 'bin');
  await mkdir(binDir, { recursive: true });
  await writeFile(join(binDir, 'snapdisk'), `#!/usr/bin/env bash\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  await chmod(join(binDir, 'snapdisk'), 0o755);
  const env: NodeJS.ProcessEnv = {
    PATH: `${binDir}:${process.env.PATH ?? ''}`,
    HOME: dir,
    SNAPDISK_DATA: dataDir,
    SNAPDISK_CONFIG_DIR: join(dir, 'cli-config'),
    SNAPDISK_PROGRESS: 'never',
  };
  return {
    server,
    dir,
    env,
    sub: server.credentials.subscriptionId,
    async run(args, opts = {}) {
      let stdout = '';
      let stderr = '';
      const lines = (opts.stdin ?? '').split('\n');
      const io: ClientIo = {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        env: { ...env, ...(opts.stderrIsTTY ? { SNAPDISK_PROGRESS: undefined } : {}), ...(opts.env ?? {}) },
        cwd: opts.cwd ?? dir,
        stdoutIsTTY: opts.stdoutIsTTY ?? false,
        stderrIsTTY: opts.stderrIsTTY ?? false,
        stdinIsTTY: opts.stdin !== undefined,
        readLine: () => Promise.resolve(lines.shift() ?? ''),
        columns: 120,
      };
      const code = await main(typeof args === 'string' ? words(args) : args, io);
      return result(code, stdout, stderr);
    },
    async exec(args, extra = {}) {
      if (!cliBuilt()) throw new Error('dist/ is missing: run npm run build (npm test does it).');
      try {
        const { stdout, stderr } = await execFileP(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, cwd: dir, maxBuffer: 64 * 1024 * 1024 });
        return result(0, stdout, stderr);
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return result(typeof e.code === 'number' ? e.code : 1, e.stdout ?? '', e.stderr ?? '');
      }
    },
    async bash(script, extra = {}) {
      if (!cliBuilt()) throw new Error('dist/ is missing: run npm run build (npm test does it).');
      try {
        const { stdout, stderr } = await execFileP('bash', ['-c', script], { env: { ...env, ...extra }, cwd: dir, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
        return result(0, stdout, stderr);
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return result(typeof e.code === 'number' ? e.code : 1, e.stdout ?? '', e.stderr ?? '');
      }
    },
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `node bin/snapdisk.js serve` (the built CLI, as `npm start` does) as a child process on
 * free ports and reads the endpoints back from its start-up banner. Used by the az end-to-end
 * suite and by the serve integration test.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = `${ROOT}bin/snapdisk.js`;

/** True when `npm run build` has produced the CLI that bin/snapdisk.js loads. */
export function cliBuilt(): boolean {
  return existsSync(`${ROOT}dist/src/cli/main.js`);
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  /** `https://127.0.0.1:PORT/` */
  arm: string;
  /** `http://127.0.0.1:PORT/` */
  http: string;
  caCert: string;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (for commands that exit by themselves). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 30_000): Promise<Exited> {
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function field(banner: string, label: string): string {
  const m = new RegExp(`${label.replace(/[()]/g, '\\$&')}\\s+(\\S+)`).exec(banner);
  if (!m?.[1]) throw new Error(`no '${label}' in the banner:\n${banner}`);
  return m[1];
}

/** Starts `snapdisk serve --data DIR --port 0 --http-port 0 --nbd-port 0 [extra]` and waits for the banner. */
export async function startServe(dataDir: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const args = [BIN, 'serve', '--data', dataDir, '--port', '0', '--http-port', '0', '--nbd-port', '0', ...extra];
  const child = spawn(process.execPath, args, { env, cwd: ROOT });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`snapdisk serve did not start in 60 s:\n${out}\n${err}`)), 60_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('Stop with Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`snapdisk serve exited with ${String(code)} before it was ready:\n${out}\n${err}`));
    });
  });
  return {
    child,
    arm: field(out, 'Resource Manager (HTTPS)'),
    http: field(out, 'Plain HTTP (same routes)'),
    caCert: field(out, 'CA certificate'),
    stdout: () => out,
    stderr: () => err,
    stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return Promise.resolve(child.exitCode);
      child.kill(signal);
      return exited;
    },
  };
}

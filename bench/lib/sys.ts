/**
 * @module bench/lib/sys
 * Processes, files and the machine: timed commands, `du` of repositories, page-cache residency
 * (`fincore`), free space, load averages, and the peers' installation from Debian's packages.
 *
 * Everything here runs in the controller process, which stays small on purpose: spawning a client
 * from a process holding gigabytes costs page faults after fork (see src/nbd/bench-nbd.ts), so the
 * snapdisk server runs in its own child (bench/worker.ts) and never spawns anything.
 */

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { nowMs } from './measure.js';

const execFileP = promisify(execFile);

export interface RunResult {
  ms: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and times it (wall clock, spawn included). */
export async function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  const t0 = nowMs();
  try {
    const { stdout, stderr } = await execFileP(cmd, args, {
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...(opts.env ?? {}) },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    return { ms: nowMs() - t0, stdout, stderr };
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim().slice(-2000) || e.message}`);
  }
}

export async function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return (await timed(cmd, args, env ? { env } : {})).stdout;
}

/** Apparent bytes under `paths` (`du -s --apparent-size -B1`): how every repository is measured. */
export async function duBytes(...paths: string[]): Promise<number> {
  const out = await sh('du', ['-s', '--apparent-size', '-B1', '-c', ...paths]);
  const total = out.trim().split('\n').pop() ?? '0';
  return Number(total.split(/\s+/)[0]);
}

/** Fraction of the bytes of the files under `paths` that sit in the page cache (util-linux fincore). */
export async function cachedFraction(...paths: string[]): Promise<number | null> {
  try {
    const files = (await sh('find', [...paths, '-type', 'f'])).trim().split('\n').filter(Boolean);
    if (files.length === 0) return null;
    let res = 0;
    let size = 0;
    for (let i = 0; i < files.length; i += 200) {
      const out = await sh('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', ...files.slice(i, i + 200)]);
      for (const line of out.trim().split('\n')) {
        const [r, s] = line.trim().split(/\s+/).map(Number);
        res += r ?? 0;
        size += s ?? 0;
      }
    }
    return size > 0 ? res / size : null;
  } catch {
    return null;
  }
}

export function freeBytes(path: string): number {
  const s = statfsSync(path);
  return Number(s.bavail) * Number(s.bsize);
}

export const load1 = (): number => loadavg()[0] ?? 0;

export function machine(): Record<string, string | number> {
  let os = 'linux';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // keep the default
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os,
    node: process.version,
  };
}

/** fsyncs the given files (coreutils `sync FILE...`), as a copy's last step before it counts. */
export async function syncFiles(...files: string[]): Promise<void> {
  if (files.length > 0) await sh('sync', files);
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on port ${port}`);
}

export function startDaemon(cmd: string, args: string[]): ChildProcess {
  return spawn(cmd, args, { stdio: 'ignore' });
}

export async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// -- peers ----------------------------------------------------------------------------------------

interface PeerSpec {
  /** Debian package. */
  pkg: string;
  /** Binaries it must provide. */
  bins: string[];
  version: [string, string[]];
}

const PEERS: Record<string, PeerSpec> = {
  restic: { pkg: 'restic', bins: ['restic'], version: ['restic', ['version']] },
  borg: { pkg: 'borgbackup', bins: ['borg'], version: ['borg', ['--version']] },
  'qemu-utils': { pkg: 'qemu-utils', bins: ['qemu-nbd', 'qemu-img'], version: ['qemu-img', ['--version']] },
  'libnbd-bin': { pkg: 'libnbd-bin', bins: ['nbdcopy'], version: ['nbdcopy', ['--version']] },
  fio: { pkg: 'fio', bins: ['fio'], version: ['fio', ['--version']] },
};

async function has(bin: string): Promise<boolean> {
  try {
    await execFileP('sh', ['-c', `command -v ${bin}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the missing peers with apt-get (as root; waits for the dpkg lock other runs may hold)
 * and returns the version line of each one available; a peer that cannot be installed maps to
 * null and its scenarios note the skip.
 */
export async function ensurePeers(log: (s: string) => void): Promise<Record<string, string | null>> {
  const missing: string[] = [];
  for (const spec of Object.values(PEERS)) {
    for (const b of spec.bins) if (!(await has(b))) missing.push(spec.pkg);
  }
  const pkgs = [...new Set(missing)];
  if (pkgs.length > 0) {
    log(`installing peers with apt-get: ${pkgs.join(' ')}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const lock = ['-o', 'DPkg::Lock::Timeout=300'];
    try {
      await timed('apt-get', [...lock, 'install', '-y', '--no-install-recommends', ...pkgs], { env });
    } catch {
      try {
        await timed('apt-get', [...lock, 'update'], { env });
        await timed('apt-get', [...lock, 'install', '-y', '--no-install-recommends', ...pkgs], { env });
      } catch (err) {
        log(`apt-get could not install ${pkgs.join(' ')}: ${String(err).slice(0, 300)}`);
      }
    }
  }
  const out: Record<string, string | null> = {};
  for (const [name, spec] of Object.entries(PEERS)) {
    let ok = true;
    for (const b of spec.bins) if (!(await has(b))) ok = false;
    if (!ok) {
      out[name] = null;
      continue;
    }
    try {
      const [cmd, args] = spec.version;
      const { stdout, stderr } = await execFileP(cmd, args);
      out[name] = (stdout || stderr).trim().split('\n')[0] ?? 'unknown';
    } catch {
      out[name] = 'unknown version';
    }
  }
  return out;
}

/**
 * @module bench/lib/worker-client
 * Starts bench/worker.ts (the snapdisk engine or server in a child process) and calls its
 * operations over Node IPC. Also reads the child's RSS from /proc for the memory scenario.
 */

import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface StartInfo {
  pid: number;
  httpUrl: string | null;
  nbdPort: number | null;
}

export class Worker {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`worker: ${m.error ?? 'failed'}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`worker exited (${code ?? signal ?? '?'})`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** Forks the worker and starts the engine (or the whole server with `server`) on `dataDir`. */
  static async start(dataDir: string, server: boolean, configFile?: string): Promise<{ worker: Worker; info: StartInfo }> {
    const path = fileURLToPath(new URL('../worker.js', import.meta.url));
    // SNAPDISK_BENCH_PROFILE=DIR: the worker writes a V8 CPU profile there when it exits
    const prof = process.env['SNAPDISK_BENCH_PROFILE'];
    const execArgv = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
    const child = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    const worker = new Worker(child);
    const info = (await worker.call('start', { dataDir, server, ...(configFile ? { configFile } : {}) })) as StartInfo;
    return { worker, info };
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  /** Current and peak resident set of the worker (KiB from /proc/PID/status, returned in MiB). */
  memory(): { rssMiB: number; hwmMiB: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      await this.call('close');
    } catch {
      // exits below anyway
    }
    this.child.disconnect();
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

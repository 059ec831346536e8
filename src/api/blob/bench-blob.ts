/**
 * @module api/blob/bench-blob
 * Client side of the data-plane throughput check (issue 4: ranged GET from cache ≥ 1 GB/s): reads
 * a SAS URL in ranges of `rangeBytes` with `x-ms-range` over keep-alive connections, `parallel`
 * connections each with one request in flight, and reports bytes per second.
 *
 * The client runs in a child Node process and reads raw sockets into one reusable buffer
 * (`net` `onread`), parsing just the status line and Content-Length: on this 2-core machine
 * node:http's client in the server's own process costs more CPU than the server (it measured
 * 0.17 GB/s against a server writing one static buffer), and curl tops out near 0.75 GB/s
 * on loopback. The body is counted and dropped, so this measures the server.
 *
 * Used by test/e2e/blob-bench.test.ts, which serves a 1 GiB snapshot and disk of random data.
 */

import { spawn } from 'node:child_process';

export interface RangedGetOptions {
  /** SAS URL (http) of the blob. */
  url: string;
  /** Bytes to read from offset 0 (at most the blob length). */
  totalBytes: number;
  /** Bytes per request; default 4 MiB. */
  rangeBytes?: number;
  /** Keep-alive connections, each with one request in flight; default 1. */
  parallel?: number;
}

export interface RangedGetResult {
  bytes: number;
  seconds: number;
  requests: number;
  /** Decimal gigabytes per second. */
  gbPerSecond: number;
}

/** The child's program: argv = url, total, range, parallel; prints one JSON line. */
const CLIENT = String.raw`
const net = require('node:net');
const [url, total, range, parallel] = [new URL(process.argv[1]), Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let next = 0, bytes = 0, requests = 0;
const t0 = process.hrtime.bigint();
function conn() {
  return new Promise((resolve, reject) => {
    let head = '', want = -1, got = 0, first = 0, last = 0;
    const send = () => {
      if (next >= total) { s.end(); return resolve(); }
      first = next; last = Math.min(total, first + range) - 1; next = last + 1;
      head = ''; want = -1; got = 0;
      s.write('GET ' + url.pathname + url.search + ' HTTP/1.1\r\nHost: ' + url.host + '\r\nx-ms-version: 2021-08-06\r\nx-ms-range: bytes=' + first + '-' + last + '\r\n\r\n');
    };
    const body = (n) => {
      got += n;
      if (got > want) return reject(new Error('body longer than Content-Length'));
      if (got === want) { bytes += want; requests++; send(); }
    };
    const s = net.connect({ host: url.hostname, port: Number(url.port), onread: { buffer: Buffer.allocUnsafe(64 << 10), callback: (n, buf) => {
      if (want >= 0) return body(n);
      head += buf.latin1Slice(0, n);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(head.slice(9, 12));
      const m = /content-length: *(\d+)/i.exec(head.slice(0, end));
      if (status !== 206 || !m || Number(m[1]) !== last - first + 1) return reject(new Error('bad response: ' + head.slice(0, end)));
      want = Number(m[1]);
      const extra = head.length - end - 4;
      if (extra > 0) body(extra);
    } } });
    s.on('connect', send);
    s.on('error', reject);
  });
}
Promise.all(Array.from({ length: parallel }, conn)).then(() => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ bytes, seconds, requests, gbPerSecond: bytes / seconds / 1e9 }));
}, (err) => { console.error(String(err)); process.exit(1); });
`;

/** Reads [0, totalBytes) of `url` in ranges from a child process and times it. */
export function benchRangedGet(opts: RangedGetOptions): Promise<RangedGetResult> {
  const args = ['-e', CLIENT, opts.url, String(opts.totalBytes), String(opts.rangeBytes ?? 4 * 1024 * 1024), String(opts.parallel ?? 1)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench client failed (${code ?? 'signal'}): ${err.trim()}`));
      else resolve(JSON.parse(out) as RangedGetResult);
    });
  });
}

/**
 * @module bench/lib/clients
 * Read clients for scenario 5, each a child Node process that reads `total` bytes in `range`-byte
 * pieces with `parallel` reads in flight and counts them into reused buffers:
 * - rangedGet: keep-alive HTTP GETs with `x-ms-range` over raw sockets (the technique of
 *   src/api/blob/bench-blob.ts: node:http's client costs more CPU than the server on two cores);
 * - fileRead: preads of the raw image file (the peer: "reading the raw file" with the same
 *   pattern).
 * Both print one JSON line `{bytes, seconds}`.
 */

import { spawn } from 'node:child_process';

const RANGED_GET = String.raw`
const net = require('node:net');
const [url, total, range, parallel] = [new URL(process.argv[1]), Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let next = 0, bytes = 0;
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
      if (got === want) { bytes += want; send(); }
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
  console.log(JSON.stringify({ bytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
}, (err) => { console.error(String(err)); process.exit(1); });
`;

const FILE_READ = String.raw`
const fs = require('node:fs/promises');
const [path, total, range, parallel] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let next = 0, bytes = 0;
const t0 = process.hrtime.bigint();
fs.open(path, 'r').then(async (fh) => {
  await Promise.all(Array.from({ length: parallel }, async () => {
    const buf = Buffer.allocUnsafe(range);
    while (next < total) {
      const first = next; const len = Math.min(range, total - first); next += len;
      let done = 0;
      while (done < len) {
        const { bytesRead } = await fh.read(buf, done, len - done, first + done);
        if (bytesRead === 0) throw new Error('short read');
        done += bytesRead;
      }
      bytes += len;
    }
  }));
  await fh.close();
  console.log(JSON.stringify({ bytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
}).catch((err) => { console.error(String(err)); process.exit(1); });
`;

function runChild(script: string, args: string[]): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`read client failed (${code ?? 'signal'}): ${err.trim()}`));
      else resolve(JSON.parse(out) as { bytes: number; seconds: number });
    });
  });
}

/** MB/s (decimal) of ranged GETs of [0, total) of a SAS URL. */
export async function rangedGet(url: string, total: number, range: number, parallel: number): Promise<number> {
  const r = await runChild(RANGED_GET, [url, String(total), String(range), String(parallel)]);
  if (r.bytes !== total) throw new Error(`ranged GET read ${r.bytes} of ${total} bytes`);
  return r.bytes / 1e6 / r.seconds;
}

/** MB/s (decimal) of reading [0, total) of a file in the same pieces. */
export async function fileRead(path: string, total: number, range: number, parallel: number): Promise<number> {
  const r = await runChild(FILE_READ, [path, String(total), String(range), String(parallel)]);
  if (r.bytes !== total) throw new Error(`file read ${r.bytes} of ${total} bytes`);
  return r.bytes / 1e6 / r.seconds;
}

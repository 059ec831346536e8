import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { it } from 'vitest';
import { benchRangedGet } from '../../src/api/blob/bench-blob.js';

it('static', async () => {
  const buf = Buffer.alloc(4 * 1024 * 1024, 7);
  const srv = http.createServer((req, res) => {
    res.writeHead(206, { 'content-length': buf.length });
    res.end(buf);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/x`;
  const r = await benchRangedGet({ url, totalBytes: 1 << 30, rangeBytes: 4 * 1024 * 1024, parallel: 1 });
  console.log('static in vitest', r.gbPerSecond);
  srv.close();
});

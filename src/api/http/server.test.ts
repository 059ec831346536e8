/**
 * @module api/http/server.test
 * `startServers`: HTTPS and HTTP on port 0 with one handler, the generated certificate (SAN,
 * validity, key mode, reuse on restart, trusted for 127.0.0.1 and localhost), and `close()`
 * ending keep-alive sockets promptly.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { simpleRequest } from '../identity/testing.js';
import { Router } from './router.js';
import { startServers } from './server.js';
import type { RunningServers } from './server.js';

let dir: string;
const running: RunningServers[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'snapdisk-server-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close(0)));
  await rm(dir, { recursive: true, force: true });
});

async function start(): Promise<RunningServers> {
  const router = new Router();
  router.add('GET', '/healthz', (ctx) => ctx.json(200, { scheme: ctx.scheme, host: ctx.host }));
  const servers = await startServers({ httpsPort: 0, httpPort: 0, tlsDir: join(dir, 'tls'), handler: router.handle });
  running.push(servers);
  return servers;
}

describe('startServers', () => {
  it('serves the same handler on HTTPS and HTTP, on the ports actually bound', async () => {
    const s = await start();
    expect(s.httpsPort).toBeGreaterThan(0);
    expect(s.httpPort).toBeGreaterThan(0);
    expect(s.httpsUrl).toBe(`https://127.0.0.1:${s.httpsPort}/`);
    const tls = await simpleRequest(`https://127.0.0.1:${s.httpsPort}/healthz`, { ca: s.tls.cert });
    expect(tls.json()).toEqual({ scheme: 'https', host: `127.0.0.1:${s.httpsPort}` });
    const viaName = await simpleRequest(`https://localhost:${s.httpsPort}/healthz`, { ca: s.tls.cert });
    expect(viaName.status).toBe(200);
    const plain = await simpleRequest(`http://127.0.0.1:${s.httpPort}/healthz`);
    expect(plain.json()).toEqual({ scheme: 'http', host: `127.0.0.1:${s.httpPort}` });
  });

  it('an untrusted client fails verification (the cert really is checked)', async () => {
    const s = await start();
    await expect(simpleRequest(`https://127.0.0.1:${s.httpsPort}/healthz`)).rejects.toThrow(/self-signed|certificate/);
  });

  it('generates a 10-year self-signed cert for 127.0.0.1 and localhost, key 0600, reused afterwards', async () => {
    const first = await start();
    const cert = new X509Certificate(first.tls.cert);
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 86400_000);
    expect(years).toBeGreaterThan(9.9);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect((await stat(first.tls.keyPath)).mode & 0o777).toBe(0o600);
    expect(first.tls.certPath).toBe(join(dir, 'tls', 'cert.pem'));
    await first.close(0);
    const second = await start();
    expect(second.tls.cert).toBe(first.tls.cert);
  });

  it('close() ends idle keep-alive sockets and stops accepting', async () => {
    const s = await start();
    const agent = new Agent({ keepAlive: true, ca: s.tls.cert });
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: s.httpsPort, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    const started = Date.now();
    await s.close(10_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    agent.destroy();
    await expect(simpleRequest(`http://127.0.0.1:${s.httpPort}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a port in use is reported and nothing stays open', async () => {
    const s = await start();
    await expect(
      startServers({ httpsPort: s.httpsPort, httpPort: 0, tlsDir: join(dir, 'tls'), handler: () => undefined }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});

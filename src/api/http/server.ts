/**
 * @module api/http/server
 * Starts the HTTPS and plain-HTTP listeners on one request handler (the contract serves the same
 * routes on both: az and the bearer-token SDK policies need HTTPS for ARM, while SAS URLs and the
 * managed-identity endpoint also work over HTTP). Port 0 picks a free port; the actual ports are
 * returned.
 *
 * Timeouts: `requestTimeout` is disabled because a page upload of several GiB may legitimately
 * take longer than Node's default 300 s; `headersTimeout` still bounds slow-header clients.
 *
 * `close()` stops accepting, closes idle keep-alive sockets at once (and again as busy ones
 * become idle), and destroys whatever is still open after `graceMs`.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ensureTlsMaterial } from './tls.js';
import type { TlsMaterial } from './tls.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServerOptions {
  /** Interface to bind, e.g. `127.0.0.1` (default) or `0.0.0.0`. */
  host?: string;
  httpsPort: number;
  httpPort: number;
  /** Directory of `cert.pem`/`key.pem` (normally `DATA/tls`); created on first start. */
  tlsDir: string;
  handler: RequestHandler;
}

export interface RunningServers {
  httpsPort: number;
  httpPort: number;
  /** `https://HOST:PORT/` with a wildcard bind shown as 127.0.0.1 (the `resourceManager` URL). */
  httpsUrl: string;
  httpUrl: string;
  tls: TlsMaterial;
  https: Server;
  http: Server;
  /** Stops accepting and ends keep-alive sockets; open requests get `graceMs` to finish. */
  close(graceMs?: number): Promise<void>;
}

const SERVER_TUNING = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000, noDelay: true };

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startServers(options: ServerOptions): Promise<RunningServers> {
  const host = options.host ?? '127.0.0.1';
  const tls = await ensureTlsMaterial(options.tlsDir);
  const https = createHttpsServer({ ...SERVER_TUNING, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, options.handler);
  const http = createHttpServer(SERVER_TUNING, options.handler);
  const close = async (graceMs = 5_000): Promise<void> => {
    await Promise.all([closeServer(https, graceMs), closeServer(http, graceMs)]);
  };
  try {
    const httpsPort = await listen(https, options.httpsPort, host);
    const httpPort = await listen(http, options.httpPort, host);
    const shown = displayHost(host);
    return {
      httpsPort,
      httpPort,
      httpsUrl: `https://${shown}:${httpsPort}/`,
      httpUrl: `http://${shown}:${httpPort}/`,
      tls,
      https,
      http,
      close,
    };
  } catch (err) {
    await close(0);
    throw err;
  }
}

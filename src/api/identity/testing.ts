/**
 * @module api/identity/testing
 * Test support (used by tests here and by the ARM routes' tests): a real server on port 0 with a
 * temporary data directory, the identity routes registered, and helpers to trust its certificate.
 *
 *   const srv = await startIdentityTestServer();
 *   srv.router.add('GET', '/subscriptions/{sub}', handler);   // add what the test needs
 *   ...
 *   await srv.close();                                        // stops servers, removes DATA
 *
 * Trusting the self-signed certificate without touching process-wide state: Azure SDK clients
 * take `tlsOptions: { ca: srv.tls.cert }` (core-rest-pipeline's tlsPolicy); node:https takes
 * `{ ca }`; child processes get `NODE_EXTRA_CA_CERTS=srv.tls.certPath`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router } from '../http/router.js';
import type { RequestLogger } from '../http/request-log.js';
import { startServers } from '../http/server.js';
import type { RunningServers } from '../http/server.js';
import type { TlsMaterial } from '../http/tls.js';
import { Identity } from './identity.js';
import type { IdentityOptions } from './identity.js';
import { registerIdentityRoutes } from './routes.js';

export interface IdentityTestServer {
  dataDir: string;
  router: Router;
  servers: RunningServers;
  identity: Identity;
  tls: TlsMaterial;
  /** `https://127.0.0.1:PORT` (no trailing slash). */
  httpsBase: string;
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  httpBase: string;
  close(): Promise<void>;
}

export interface IdentityTestServerOptions extends IdentityOptions {
  /** Reuse a data directory (not removed on close); default: a fresh temporary one. */
  dataDir?: string;
  host?: string;
  log?: RequestLogger;
}

export async function startIdentityTestServer(options: IdentityTestServerOptions = {}): Promise<IdentityTestServer> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'snapdisk-identity-')));
  const router = new Router(options.log ? { log: options.log } : {});
  const servers = await startServers({
    host: options.host ?? '127.0.0.1',
    httpsPort: 0,
    httpPort: 0,
    tlsDir: join(dataDir, 'tls'),
    handler: router.handle,
  });
  const identity = await Identity.open({
    ...options,
    dataDir,
    resourceManager: servers.httpsUrl,
    caCertPath: servers.tls.certPath,
  });
  registerIdentityRoutes(router, identity);
  return {
    dataDir,
    router,
    servers,
    identity,
    tls: servers.tls,
    httpsBase: `https://127.0.0.1:${servers.httpsPort}`,
    httpBase: `http://127.0.0.1:${servers.httpPort}`,
    async close() {
      await servers.close(0);
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): unknown;
}

/** One HTTP(S) request with node:http(s), trusting `ca` for https; the body is read fully. */
export function simpleRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {},
): Promise<SimpleResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        hostname: target.hostname,
        port: target.port,
        // keep the path verbatim (`//metadata/endpoints` must reach the server as sent)
        path: url.slice(url.indexOf('/', target.protocol.length + 2)) || '/',
        method: init.method ?? 'GET',
        headers: init.headers,
        ...(init.ca !== undefined ? { ca: init.ca } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

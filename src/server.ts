/**
 * @module server
 * Composition of the running server (`snapdisk serve`, and tests in-process on port 0):
 *
 *   config ─▶ engine (app.ts) ─▶ HTTPS + HTTP listeners (one router) ─▶ identity
 *          ─▶ subscriptions of dev-credentials ensured in the engine
 *          ─▶ routes: /healthz, identity, ARM, page-blob data plane ─▶ NBD (hook) ─▶ ready
 *
 * `/healthz` is registered first and answers 503 until everything above is in place, then 200.
 * `close()` stops accepting (open requests get a grace period), waits for background ARM
 * operations to record their results, stops NBD, then closes the engine (checkpoints jobs,
 * flushes heads, closes the catalog).
 *
 * NBD is plugged in through `options.nbd`, a function given the engine and the address to listen
 * on; `snapdisk serve` (cli/serve.ts) supplies it.
 */
import { join } from 'node:path';
import { openEngine } from './app.js';
import { loadConfig, resolveNodeId } from './config/config.js';
import type { SnapdiskConfig } from './config/config.js';
import type { Logger } from './engine/context.js';
import type { Engine } from './engine/engine.js';
import { registerArmRoutes } from './api/arm/routes.js';
import { armErrorMapper } from './api/arm/errors.js';
import { registerBlobRoutes } from './api/blob/routes.js';
import { SasSigner } from './api/blob/sas.js';
import type { RequestLogger } from './api/http/request-log.js';
import { Router } from './api/http/router.js';
import { startServers } from './api/http/server.js';
import type { RunningServers } from './api/http/server.js';
import type { DevCredentials } from './api/identity/dev-credentials.js';
import { Identity } from './api/identity/identity.js';
import { registerIdentityRoutes } from './api/identity/routes.js';

export const DEFAULT_PORTS = { https: 7443, http: 7080, nbd: 10809 } as const;

/** A started NBD server, as the hook returns it. */
export interface NbdListener {
  port: number;
  close(): Promise<void>;
}

/** Starts the NBD server for `engine` on `listen` (port 0: any free port). */
export type NbdStarter = (engine: Engine, listen: { host: string; port: number }) => Promise<NbdListener>;

export interface SnapdiskOptions {
  dataDir: string;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** HTTPS port (default 7443; 0 = any free port). */
  httpsPort?: number;
  /** Plain HTTP port (default 7080; 0 = any free port). */
  httpPort?: number;
  /** NBD port (default 10809; 0 = any free port); used only with `nbd`. */
  nbdPort?: number;
  /** The configuration; default: `configPath`, else `DATA/config.json`, else built-in defaults. */
  config?: SnapdiskConfig;
  configPath?: string;
  nbd?: NbdStarter;
  /** ARM tuning (tests): list page size and how long a write waits before answering InProgress. */
  arm?: { pageSize?: number; syncWaitMs?: number };
  /** Request log sink (none by default). */
  requestLog?: RequestLogger;
  /** Engine log sink. */
  logger?: Logger;
  /** fsync every catalog commit (default true; tests may turn it off). */
  durableCatalog?: boolean;
}

export interface RunningServer {
  engine: Engine;
  identity: Identity;
  credentials: DevCredentials;
  dataDir: string;
  httpsPort: number;
  httpPort: number;
  nbdPort?: number;
  /** `https://HOST:PORT/` — the `resourceManager` URL. */
  httpsUrl: string;
  httpUrl: string;
  caCertPath: string;
  /** PEM of the server certificate (trust it as a CA). */
  caCert: string;
  close(): Promise<void>;
}

/** The configuration a start uses: explicit, `--config FILE`, `DATA/config.json`, defaults. */
export function resolveConfig(options: Pick<SnapdiskOptions, 'config' | 'configPath' | 'dataDir'>): SnapdiskConfig {
  if (options.config) return options.config;
  if (options.configPath) return loadConfig(options.configPath, true);
  return loadConfig(join(options.dataDir, 'config.json'));
}

async function ensureSubscriptions(engine: Engine, creds: DevCredentials): Promise<void> {
  const subs = [
    { subscriptionId: creds.subscriptionId, displayName: 'snapdisk development' },
    { subscriptionId: creds.secondarySubscriptionId, displayName: 'snapdisk secondary' },
  ];
  for (const s of subs) await engine.resources.ensureSubscription({ ...s, tenantId: creds.tenantId, state: 'Enabled' });
}

/** Starts everything; throws (after undoing what was started) when a part cannot start. */
export async function startSnapdisk(options: SnapdiskOptions): Promise<RunningServer> {
  const config = resolveConfig(options);
  const host = options.host ?? '127.0.0.1';
  if (process.env.SNAPDISK_NODE_ID) config.node = { ...config.node, id: process.env.SNAPDISK_NODE_ID };
  if (process.env.SNAPDISK_NODE_URL) config.node = { ...config.node, url: process.env.SNAPDISK_NODE_URL };
  config.node = { ...config.node, id: resolveNodeId(config, options.httpsPort ?? DEFAULT_PORTS.https) };
  const { engine } = await openEngine({
    dataDir: options.dataDir,
    config,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.durableCatalog !== undefined ? { durableCatalog: options.durableCatalog } : {}),
  });
  let ready = false;
  let servers: RunningServers | undefined;
  try {
    const router = new Router({ errorMapper: armErrorMapper, ...(options.requestLog ? { log: options.requestLog } : {}) });
    router.add(['GET', 'HEAD'], '/healthz', (ctx) => (ready ? ctx.json(200, { status: 'ok' }) : ctx.json(503, { status: 'starting' })));
    servers = await startServers({
      host,
      httpsPort: options.httpsPort ?? DEFAULT_PORTS.https,
      httpPort: options.httpPort ?? DEFAULT_PORTS.http,
      tlsDir: join(options.dataDir, 'tls'),
      handler: router.handle,
    });
    const identity = await Identity.open({ dataDir: options.dataDir, resourceManager: servers.httpsUrl, caCertPath: servers.tls.certPath });
    await ensureSubscriptions(engine, identity.credentials);
    const sas = SasSigner.open(join(options.dataDir, 'identity', 'sas.key'));
    registerIdentityRoutes(router, identity);
    const arm = registerArmRoutes(router, { engine, identity, sas, ...(options.arm ?? {}) });
    registerBlobRoutes(router, { engine, sas });
    // NBD: started through the hook (cli/serve.ts wires the NBD server of src/nbd here).
    const nbd = options.nbd ? await options.nbd(engine, { host, port: options.nbdPort ?? DEFAULT_PORTS.nbd }) : undefined;
    // several nodes: where other nodes send requests for the disks this node serves
    engine.leases.node.url ??= servers.httpsUrl;
    if (nbd) engine.leases.node.nbd = `${host}:${nbd.port}`;
    ready = true;
    return running(options.dataDir, engine, identity, servers, arm, nbd);
  } catch (err) {
    await servers?.close(0);
    await engine.close();
    throw err;
  }
}

function running(
  dataDir: string,
  engine: Engine,
  identity: Identity,
  servers: RunningServers,
  arm: { drain(): Promise<void> },
  nbd: NbdListener | undefined,
): RunningServer {
  let closing: Promise<void> | undefined;
  return {
    engine,
    identity,
    credentials: identity.credentials,
    dataDir,
    httpsPort: servers.httpsPort,
    httpPort: servers.httpPort,
    ...(nbd ? { nbdPort: nbd.port } : {}),
    httpsUrl: servers.httpsUrl,
    httpUrl: servers.httpUrl,
    caCertPath: servers.tls.certPath,
    caCert: servers.tls.cert,
    close() {
      closing ??= (async () => {
        try {
          await servers.close(5_000);
          await arm.drain();
          await nbd?.close();
        } finally {
          await engine.close();
        }
      })();
      return closing;
    },
  };
}

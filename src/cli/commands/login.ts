/**
 * @module cli/commands/login
 * `snapdisk login`: check and save the connection to a server (endpoint, tenant, client id and
 * secret, optional CA), like `az login --service-principal`. Prints the subscriptions.
 */

import type { CommandSpec } from '../command.js';
import { accountEntry, accountTable } from '../account.js';
import type { SubscriptionWire } from '../account.js';
import { devConnection, devDataDir, normalizeEndpoint, readCa, requestToken } from '../connection.js';
import type { Connection } from '../connection.js';
import { usageError } from '../errors.js';
import { resolve } from 'node:path';

/** The `tid` claim of a JWT (unverified: only to show the tenant). */
function tenantOf(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { tid?: unknown };
    return typeof payload.tid === 'string' ? payload.tid : undefined;
  } catch {
    return undefined;
  }
}

export const login: CommandSpec = {
  name: 'login',
  summary: 'Log in to a snapdisk server with a service principal (client credentials).',
  description:
    'Without login, commands use the local development server: DATA/dev-credentials.json, where DATA is\n$SNAPDISK_DATA or ./.snapdisk. The settings are kept in $SNAPDISK_CONFIG_DIR (default ~/.snapdisk-cli).',
  options: [
    { name: '--service-principal', kind: 'flag', help: "Log in with a service principal (az's spelling; snapdisk principals are all service principals)." },
    { name: '--endpoint', kind: 'string', metavar: 'URL', help: 'Resource Manager URL of the server, e.g. https://127.0.0.1:7443/. Default: the local development server (and its certificate).' },
    { name: '--client-id', aliases: ['--username', '-u'], kind: 'string', metavar: 'ID', help: 'Client (application) id of the service principal.' },
    { name: '--client-secret', aliases: ['--password', '-p'], kind: 'string', metavar: 'SECRET', help: 'Its secret (or set SNAPDISK_CLIENT_SECRET).' },
    { name: '--tenant', aliases: ['-t'], kind: 'string', metavar: 'TENANT', help: "The tenant id (default: 'organizations', any tenant of the server)." },
    { name: '--ca-cert', kind: 'string', metavar: 'FILE', help: "PEM certificate to trust for the endpoint (a snapdisk server's DATA/tls/cert.pem)." },
    { name: '--data', kind: 'string', metavar: 'DIR', help: 'Log in with the development credentials of the server whose data directory is DIR.' },
  ],
  examples: [
    { title: 'Log in to a server with its development principal.', command: 'snapdisk login --endpoint https://127.0.0.1:7443/ --client-id ID --client-secret SECRET --tenant TENANT --ca-cert .snapdisk/tls/cert.pem' },
    { title: 'Log in to the server whose data directory is /srv/snapdisk.', command: 'snapdisk login --data /srv/snapdisk' },
    { title: "As az does it, against the local development server.", command: 'snapdisk login --service-principal -u ID -p SECRET --tenant TENANT' },
  ],
  transformer: accountTable,
  async run(ctx, args) {
    let conn: Connection;
    const data = args.str('data');
    if (data !== undefined) {
      if (args.has('endpoint') || args.has('client-id') || args.has('service-principal')) throw usageError('use either --data or --endpoint/--client-id/--client-secret.');
      conn = { ...devConnection(resolve(ctx.cwd, data)), source: 'login' };
    } else {
      const endpointArg = args.str('endpoint');
      const clientId = args.str('client-id');
      const clientSecret = args.str('client-secret') ?? ctx.env.SNAPDISK_CLIENT_SECRET;
      if (clientId === undefined || clientSecret === undefined || clientSecret === '') {
        throw usageError('--client-id/-u and --client-secret/-p are required (or --data DIR).', 'The development credentials are in DATA/dev-credentials.json of the server.');
      }
      const caPath = args.str('ca-cert');
      let caCertPath = caPath !== undefined ? resolve(ctx.cwd, caPath) : undefined;
      let endpoint: string;
      if (endpointArg !== undefined) {
        endpoint = normalizeEndpoint(endpointArg);
      } else {
        // like az, which logs in to the cloud registered last: the local development server
        let dev: Connection;
        try {
          dev = devConnection(devDataDir(ctx.env, ctx.cwd));
        } catch (err) {
          throw usageError(`--endpoint is required: there is no local development server to log in to (${(err as Error).message})`, 'Give --endpoint URL (and --ca-cert FILE for a self-signed certificate).');
        }
        endpoint = dev.endpoint;
        caCertPath ??= dev.caCertPath;
      }
      conn = {
        endpoint,
        tenantId: args.str('tenant') ?? 'organizations',
        clientId,
        clientSecret,
        ...(caCertPath !== undefined ? { ca: readCa(caCertPath), caCertPath } : {}),
        source: 'login',
        key: `${endpoint}|${clientId}`,
      };
    }
    ctx.useConnection(conn);
    const token = await requestToken(ctx.http(), conn);
    const tenantId = tenantOf(token.accessToken) ?? conn.tenantId;
    const saved: Connection = { ...conn, tenantId };
    ctx.useConnection(saved);
    const subs = (await ctx.subscriptions()) as SubscriptionWire[];
    const settings = ctx.store.load();
    settings.login = {
      endpoint: saved.endpoint,
      tenantId,
      clientId: saved.clientId,
      clientSecret: saved.clientSecret,
      ...(saved.caCertPath !== undefined ? { caCertPath: saved.caCertPath } : {}),
    };
    const chosen = settings.subscriptions?.[saved.key];
    const current = subs.find((s) => s.subscriptionId === chosen)?.subscriptionId ?? saved.defaultSubscriptionId ?? subs[0]?.subscriptionId;
    settings.subscriptions = { ...(settings.subscriptions ?? {}) };
    if (current !== undefined) settings.subscriptions[saved.key] = current;
    ctx.store.save(settings);
    ctx.store.saveToken(saved.key, { accessToken: token.accessToken, expiresOn: token.expiresOn });
    if (subs.length === 0) ctx.log.warn('Logged in, but this principal may use no subscription.');
    return subs.map((s) => accountEntry(ctx, s, s.subscriptionId === current, 'cloudName'));
  },
};

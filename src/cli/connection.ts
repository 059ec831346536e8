/**
 * @module cli/connection
 * Which server the CLI talks to, as whom, and its bearer tokens.
 *
 * - After `snapdisk login`: the endpoint, tenant and client credentials saved in config.json.
 * - Otherwise the local development server: `DATA/dev-credentials.json`, where DATA is
 *   `$SNAPDISK_DATA` or `./.snapdisk` (what `snapdisk serve` uses), giving the endpoint
 *   (`resourceManager`), the development principal and the certificate to trust (`caCertPath`).
 *
 * Tokens come from the client-credentials grant of the server's identity endpoint
 * (`POST {endpoint}{tenant}/oauth2/v2.0/token`, scope `https://management.azure.com/.default`)
 * and are cached in the config directory until five minutes before they expire.
 */

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ConfigStore, LoginProfile } from './config.js';
import { CliError } from './errors.js';
import type { HttpClient } from './http.js';

export const ARM_SCOPE = 'https://management.azure.com/.default';

export interface Connection {
  /** `https://host:port/` */
  endpoint: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** PEM of the CA to trust, when not a public one. */
  ca?: string;
  caCertPath?: string;
  source: 'login' | 'dev';
  /** Data directory of the development server (source `dev`). */
  dataDir?: string;
  /** The subscription the server's credentials name first (source `dev`). */
  defaultSubscriptionId?: string;
  /** Key of this connection in the settings (`endpoint|clientId`). */
  key: string;
}

interface DevCredentials {
  tenantId?: string;
  subscriptionId?: string;
  clientId?: string;
  clientSecret?: string;
  resourceManager?: string;
  caCertPath?: string;
}

/** `https://host:port` → `https://host:port/`. */
export function normalizeEndpoint(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CliError(`'${url}' is not a URL.`, { code: 'UsageError', exit: 2, hint: 'Give the Resource Manager URL, e.g. --endpoint https://127.0.0.1:7443/' });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CliError(`'${url}' is not an http(s) URL.`, { code: 'UsageError', exit: 2 });
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}/`;
}

export function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`Cannot read the CA certificate ${path}: ${(err as Error).message}`, {
      code: 'CertificateUnreadable',
      hint: 'Point --ca-cert (or the caCertPath of dev-credentials.json) at the server\'s tls/cert.pem.',
    });
  }
}

/** The development server of `dataDir`, from its dev-credentials.json. */
export function devConnection(dataDir: string): Connection {
  const file = join(dataDir, 'dev-credentials.json');
  let creds: DevCredentials;
  try {
    creds = JSON.parse(readFileSync(file, 'utf8')) as DevCredentials;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CliError(missing ? `No server to talk to: ${file} does not exist and you have not logged in.` : `Cannot read ${file}: ${(err as Error).message}`, {
      code: 'NotConfigured',
      hint: 'Start a local server with `snapdisk serve` (or `npm start`) in this directory, set SNAPDISK_DATA to its data directory, or run `snapdisk login --endpoint URL --client-id ID --client-secret SECRET`.',
    });
  }
  const { resourceManager, tenantId, clientId, clientSecret } = creds;
  if (!resourceManager || !tenantId || !clientId || !clientSecret) {
    throw new CliError(`${file} lacks resourceManager, tenantId, clientId or clientSecret.`, { code: 'NotConfigured', hint: 'Restart `snapdisk serve`: it rewrites the file.' });
  }
  const endpoint = normalizeEndpoint(resourceManager);
  const caCertPath = creds.caCertPath ?? join(dataDir, 'tls', 'cert.pem');
  return {
    endpoint,
    tenantId,
    clientId,
    clientSecret,
    ...(endpoint.startsWith('https:') ? { ca: readCa(caCertPath), caCertPath } : {}),
    source: 'dev',
    dataDir,
    ...(creds.subscriptionId ? { defaultSubscriptionId: creds.subscriptionId } : {}),
    key: `${endpoint}|${clientId}`,
  };
}

export function loginConnection(login: LoginProfile): Connection {
  const endpoint = normalizeEndpoint(login.endpoint);
  return {
    endpoint,
    tenantId: login.tenantId,
    clientId: login.clientId,
    clientSecret: login.clientSecret,
    ...(login.caCertPath ? { ca: readCa(login.caCertPath), caCertPath: login.caCertPath } : {}),
    source: 'login',
    key: `${endpoint}|${login.clientId}`,
  };
}

/** The data directory of the local development server. */
export function devDataDir(env: NodeJS.ProcessEnv, cwd: string): string {
  return resolve(cwd, env.SNAPDISK_DATA || '.snapdisk');
}

/** The connection in effect: the saved login, else the local development server. */
export function resolveConnection(store: ConfigStore, env: NodeJS.ProcessEnv, cwd: string): Connection {
  const login = store.load().login;
  return login ? loginConnection(login) : devConnection(devDataDir(env, cwd));
}

interface TokenResponse {
  access_token?: string;
  expires_in?: number | string;
  expires_on?: number | string;
  error?: string;
  error_description?: string;
}

/** Bearer tokens for one connection, cached in memory and in the config directory. */
export class TokenProvider {
  private current: { token: string; expiresOn: number } | undefined;

  constructor(
    private readonly http: HttpClient,
    private readonly conn: Connection,
    private readonly store?: ConfigStore,
  ) {}

  async token(): Promise<string> {
    const now = Date.now() / 1000;
    if (this.current && this.current.expiresOn - 300 > now) return this.current.token;
    const cached = this.store?.token(this.conn.key);
    if (cached && cached.expiresOn - 300 > now) {
      this.current = { token: cached.accessToken, expiresOn: cached.expiresOn };
      return cached.accessToken;
    }
    const fresh = await requestToken(this.http, this.conn);
    this.current = { token: fresh.accessToken, expiresOn: fresh.expiresOn };
    this.store?.saveToken(this.conn.key, fresh);
    return fresh.accessToken;
  }

  /** Forgets the cached token (after a 401). */
  invalidate(): void {
    this.current = undefined;
    this.store?.saveToken(this.conn.key, undefined);
  }
}

/** The client-credentials grant against the server's identity endpoint. */
export async function requestToken(http: HttpClient, conn: Pick<Connection, 'endpoint' | 'tenantId' | 'clientId' | 'clientSecret'>): Promise<{ accessToken: string; expiresOn: number }> {
  const url = `${conn.endpoint}${encodeURIComponent(conn.tenantId)}/oauth2/v2.0/token`;
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: conn.clientId, client_secret: conn.clientSecret, scope: ARM_SCOPE });
  const res = await http.request({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() });
  let body: TokenResponse = {};
  try {
    body = JSON.parse(res.body.toString('utf8')) as TokenResponse;
  } catch {
    // not JSON: reported below
  }
  if (res.status !== 200 || !body.access_token) {
    const code = body.error ?? `HTTP ${res.status}`;
    const hint =
      code === 'invalid_client'
        ? 'Check the client id and secret (`snapdisk login --client-id ... --client-secret ...`; the development ones are in DATA/dev-credentials.json).'
        : code === 'invalid_tenant'
          ? 'Check --tenant: the tenantId of DATA/dev-credentials.json.'
          : `Is ${conn.endpoint} a snapdisk server? Its token endpoint is ${url}.`;
    throw new CliError(`Cannot get a token from ${url}: ${code}${body.error_description ? `: ${body.error_description}` : ''}`, { code: 'AuthenticationFailed', status: res.status, hint });
  }
  const now = Math.floor(Date.now() / 1000);
  const expiresOn = body.expires_on !== undefined ? Number(body.expires_on) : now + Number(body.expires_in ?? 3600);
  return { accessToken: body.access_token, expiresOn: Number.isFinite(expiresOn) ? expiresOn : now + 3000 };
}

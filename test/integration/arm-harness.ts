/**
 * Test support for the ARM integration tests: the whole server started in-process on port 0
 * (`startSnapdisk` with a temporary data directory), clients of the real `@azure/arm-compute`
 * SDK over HTTPS trusting the server certificate through `tlsOptions.ca` (no process-wide
 * NODE_EXTRA_CA_CERTS), a ClientSecretCredential from dev-credentials.json, and raw requests
 * for exact wire shapes.
 *
 *   const t = await startArm({ pageSize: 2 });
 *   const compute = t.compute();                         // development principal, subscription 1
 *   const res = await t.arm('GET', `/subscriptions/${t.sub}/resourcegroups/rg`);
 *   await t.close();
 */
import { ComputeManagementClient } from '@azure/arm-compute';
import { ClientSecretCredential } from '@azure/identity';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleRequest } from '../../src/api/identity/testing.js';
import type { SimpleResponse } from '../../src/api/identity/testing.js';
import type { SnapdiskConfig } from '../../src/config/config.js';
import { defaultConfig } from '../../src/config/config.js';
import { startSnapdisk } from '../../src/server.js';
import type { RunningServer } from '../../src/server.js';

export type Who = 'development' | 'restricted';

export interface ArmTest {
  server: RunningServer;
  /** The development subscription (both principals: see `sub2`). */
  sub: string;
  /** The secondary subscription (the restricted principal's only one). */
  sub2: string;
  /** `https://127.0.0.1:PORT` */
  base: string;
  compute(subscriptionId?: string, who?: Who): ComputeManagementClient;
  token(who?: Who): string;
  /** A raw HTTPS request with a bearer token of `who` (none when `who` is null). */
  arm(method: string, pathOrUrl: string, body?: unknown, who?: Who | null, headers?: Record<string, string>): Promise<SimpleResponse>;
  /** Creates a resource group (raw PUT). */
  group(name: string, location?: string, subscriptionId?: string): Promise<void>;
  close(): Promise<void>;
}

export interface ArmTestOptions {
  pageSize?: number;
  syncWaitMs?: number;
  limits?: Partial<SnapdiskConfig['limits']>;
}

/** Fast polling for SDK pollers: the server's Retry-After takes over while running. */
export const POLL = { updateIntervalInMs: 10 };

export async function startArm(options: ArmTestOptions = {}): Promise<ArmTest> {
  const dataDir = await mkdtemp(join(tmpdir(), 'snapdisk-arm-'));
  const config = defaultConfig();
  config.limits = { ...config.limits, ...(options.limits ?? {}) };
  const server = await startSnapdisk({
    dataDir,
    httpsPort: 0,
    httpPort: 0,
    config,
    durableCatalog: false,
    arm: { ...(options.pageSize ? { pageSize: options.pageSize } : {}), ...(options.syncWaitMs !== undefined ? { syncWaitMs: options.syncWaitMs } : {}) },
  });
  const creds = server.credentials;
  const base = `https://127.0.0.1:${server.httpsPort}`;
  const tlsOptions = { ca: server.caCert };
  const secretOf = (who: Who): [string, string] =>
    who === 'development' ? [creds.clientId, creds.clientSecret] : [creds.restrictedClientId, creds.restrictedClientSecret];
  const token = (who: Who = 'development'): string => {
    const principal = who === 'development' ? server.identity.principals.development : server.identity.principals.restricted;
    return server.identity.tokens.issue(principal, 'https://management.azure.com/', `${base}/${creds.tenantId}/v2.0`).token;
  };
  const arm: ArmTest['arm'] = (method, pathOrUrl, body, who = 'development', headers = {}) => {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${base}${pathOrUrl}${pathOrUrl.includes('?') ? '' : '?api-version=2025-01-02'}`;
    const auth: Record<string, string> = who === null ? {} : { authorization: `Bearer ${token(who)}` };
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const type: Record<string, string> = text === undefined ? {} : { 'content-type': 'application/json' };
    return simpleRequest(url, { method, headers: { ...auth, ...type, ...headers }, ...(text !== undefined ? { body: text } : {}), ca: server.caCert });
  };
  return {
    server,
    sub: creds.subscriptionId,
    sub2: creds.secondarySubscriptionId,
    base,
    token,
    arm,
    compute(subscriptionId = creds.subscriptionId, who: Who = 'development') {
      const [id, secret] = secretOf(who);
      const credential = new ClientSecretCredential(creds.tenantId, id, secret, { authorityHost: base, disableInstanceDiscovery: true, tlsOptions });
      return new ComputeManagementClient(credential, subscriptionId, { endpoint: base, tlsOptions, retryOptions: { maxRetries: 0 } });
    },
    async group(name, location = 'eastus', subscriptionId = creds.subscriptionId) {
      const res = await arm('PUT', `/subscriptions/${subscriptionId}/resourcegroups/${name}?api-version=2021-04-01`, { location });
      if (res.status !== 201 && res.status !== 200) throw new Error(`group ${name}: ${res.status} ${res.text}`);
    },
    async close() {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Seconds-resolution check that a value is an ISO timestamp close to now. */
export function isRecentIso(value: unknown): boolean {
  return typeof value === 'string' && Math.abs(Date.parse(value) - Date.now()) < 10 * 60_000;
}

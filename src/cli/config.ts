/**
 * @module cli/config
 * The client's settings, kept in a config directory like az's `AZURE_CONFIG_DIR`:
 * `$SNAPDISK_CONFIG_DIR`, default `~/.snapdisk-cli`.
 *
 *   config.json   { "login": {endpoint, tenantId, clientId, clientSecret, caCertPath?},
 *                   "subscriptions": { "<endpoint>|<clientId>": "<subscription id>" } }
 *   tokens.json   { "<endpoint>|<clientId>": { "accessToken": "...", "expiresOn": <epoch s> } }
 *
 * Both files are written with mode 0600 (they hold a client secret and bearer tokens), through a
 * temporary file and a rename so a crash never leaves half a file.
 */

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError } from './errors.js';

export interface LoginProfile {
  /** Resource Manager URL with a trailing slash: `https://host:port/`. */
  endpoint: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Extra CA certificate (PEM file) to trust for this endpoint. */
  caCertPath?: string;
}

export interface CliSettings {
  login?: LoginProfile;
  /** The subscription chosen with `account set`, per connection key. */
  subscriptions?: Record<string, string>;
}

export interface CachedToken {
  accessToken: string;
  /** Epoch seconds. */
  expiresOn: number;
}

/** `$SNAPDISK_CONFIG_DIR`, else `~/.snapdisk-cli`. */
export function configDir(env: NodeJS.ProcessEnv): string {
  const dir = env.SNAPDISK_CONFIG_DIR;
  return dir !== undefined && dir !== '' ? resolve(dir) : join(env.HOME || homedir(), '.snapdisk-cli');
}

function readJson<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(`The settings file ${path} is not valid JSON.`, { code: 'BadConfig', hint: 'Fix it, or delete it and log in again.' });
  }
}

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export class ConfigStore {
  constructor(readonly dir: string) {}

  private path(name: string): string {
    return join(this.dir, name);
  }

  load(): CliSettings {
    return readJson<CliSettings>(this.path('config.json')) ?? {};
  }

  save(settings: CliSettings): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeJson(this.path('config.json'), settings);
  }

  token(key: string): CachedToken | undefined {
    return readJson<Record<string, CachedToken>>(this.path('tokens.json'))?.[key];
  }

  saveToken(key: string, token: CachedToken | undefined): void {
    try {
      const all = readJson<Record<string, CachedToken>>(this.path('tokens.json')) ?? {};
      if (token) all[key] = token;
      else delete all[key];
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeJson(this.path('tokens.json'), all);
    } catch {
      // the cache is an optimisation: a read-only home must not fail the command
    }
  }

  clearTokens(): void {
    try {
      writeJson(this.path('tokens.json'), {});
    } catch {
      // nothing cached
    }
  }
}

/**
 * @module cli/arm
 * A small Azure Resource Manager client over `HttpClient`: bearer tokens, JSON bodies, CloudError
 * bodies as `CliError` (server code and message, plus a hint), `nextLink` paging, and
 * long-running operations the way azure-core does them:
 *
 *   PUT/PATCH/DELETE/POST ─▶ 200/204 done
 *                         └▶ 201/202 + Azure-AsyncOperation ─▶ poll it until Succeeded/Failed/Canceled
 *                                                           ─▶ final GET on Location (else the resource)
 *                         └▶ 202 + Location only (ARM style) ─▶ poll Location until it stops answering 202
 *
 * The first poll is immediate (snapdisk finishes most work before it answers); later ones wait
 * the server's `Retry-After`.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from './errors.js';
import type { HttpClient, HttpResponse } from './http.js';
import { responseHeader } from './http.js';
import type { TokenProvider } from './connection.js';

/** api-versions az 2.45 uses; snapdisk accepts any. */
export const API = {
  disks: '2022-07-02',
  snapshots: '2022-03-02',
  groups: '2021-04-01',
  subscriptions: '2022-12-01',
  usage: '2023-05-01',
} as const;

export interface CloudErrorBody {
  error?: { code?: string; message?: string; target?: string; details?: Array<{ code?: string; message?: string; target?: string }> };
}

export interface LroOptions {
  /** Return after the first response (az's --no-wait). */
  noWait?: boolean;
  signal?: AbortSignal;
  /** Called with each operation status while polling. */
  onPoll?: (status: string) => void;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled', 'cancelled']);

function parseJson(res: HttpResponse): unknown {
  if (res.body.length === 0) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The option that sets a property the server blamed (`target` of a CloudError). */
const TARGET_OPTIONS: ReadonlyArray<[RegExp, string]> = [
  [/diskSizeGB$/i, '--size-gb'],
  [/uploadSizeBytes$/i, '--upload-size-bytes'],
  [/logicalSectorSize$/i, '--logical-sector-size'],
  [/sourceResourceId$|sourceUri$/i, '--source'],
  [/createOption$/i, '--source/--copy-start'],
  [/incremental$/i, '--incremental'],
  [/^sku(\.name)?$/i, '--sku'],
  [/^zones$/i, '--zone'],
  [/^location$/i, '--location/-l'],
  [/^tags/i, '--tags'],
  [/durationInSeconds$/i, '--duration-in-seconds'],
  [/^access$/i, '--access-level'],
  [/fileFormat$/i, '--file-format'],
  [/maxShares$/i, '--max-shares'],
  [/diskIOPSReadWrite$/i, '--disk-iops-read-write'],
  [/diskMBpsReadWrite$/i, '--disk-mbps-read-write'],
  [/hyperVGeneration$/i, '--hyper-v-generation'],
  [/osType$/i, '--os-type'],
  [/networkAccessPolicy$/i, '--network-access-policy'],
  [/publicNetworkAccess$/i, '--public-network-access'],
  [/resourceGroupName$/i, '--resource-group/-g (--name/-n of the group commands)'],
  [/^name$|resourceName$/i, '--name/-n'],
];

/** The server's limits (config.json `limits`) as its messages name them, and what to do about each. */
const LIMITS: ReadonlyArray<[string, string]> = [
  ['incrementalSnapshotsPerDiskPer5Minutes', 'Wait a few minutes before the next snapshot of this disk.'],
  ['incrementalSnapshotsPerDisk', 'Delete older snapshots of the disk: `snapdisk snapshot delete --ids ...`.'],
  ['activeSasPerSnapshotFamily', 'Revoke access to snapshots you no longer read: `snapdisk snapshot revoke-access -g GROUP -n NAME`.'],
  ['pendingSnapshotsPerDiskDuringBackgroundCopy', 'Wait for a pending snapshot: `snapdisk snapshot wait --custom "completionPercent==`100`" ...`.'],
  ['concurrentDiskCreationsPerSnapshot', 'Wait until the disks being created from this snapshot are done (`snapdisk disk wait --created ...`).'],
  ['maxSasDurationSeconds', 'Ask for a shorter --duration-in-seconds.'],
  ['copyStartPerSubscriptionPerRegion', 'Wait for running cross-region copies to finish (`snapdisk snapshot wait --custom "completionPercent==`100`" ...`).'],
];

/** A hint for a server error, by code (the server's messages already say much of it). */
export function hintFor(code: string, message: string, status: number, retryAfter: string | undefined, target?: string): string | undefined {
  if (code === 'ResourceGroupNotFound') return 'Create it with `snapdisk group create -n NAME -l LOCATION`, or check -g.';
  if (code === 'ResourceNotFound') return 'Check the name and the resource group: `snapdisk disk list -g GROUP -o table` / `snapdisk snapshot list -g GROUP -o table`.';
  if (code === 'SubscriptionNotFound') return 'List the subscriptions you can use with `snapdisk account list -o table`.';
  if (code === 'AuthorizationFailed') return 'This principal may not use that subscription: `snapdisk account list` shows the ones it may.';
  if (/Authentication|InvalidAuthenticationToken|ExpiredAuthenticationToken/.test(code)) return 'Log in again (`snapdisk login ...`), or `snapdisk logout` to use the local development server.';
  const limit = LIMITS.find(([name]) => new RegExp(`\\b${name}\\b`).test(message));
  const limitText = limit !== undefined ? ` The limit is ${limit[0]}: limits.${limit[0]} in the server's config.json.` : '';
  if (status === 429) return `The server allows only so many of these requests; retry${retryAfter ? ` after ${retryAfter} s` : ' later'}.${limitText}`;
  if (code === 'InvalidParameter' || code === 'InvalidRequestContent') {
    if (target === undefined) return 'Check the values of the options; `--help` lists what each accepts.';
    const option = TARGET_OPTIONS.find(([re]) => re.test(target))?.[1];
    return option !== undefined ? `The server rejected ${target}: check ${option}.` : `The server rejected ${target}: check the option that sets it (see --help).`;
  }
  if (limit !== undefined) return `${limit[1]}${limitText}`;
  if (code === 'OperationNotAllowed') {
    return 'The server does not allow this on the resource as it is now (the message says why); `snapdisk disk show` / `snapdisk snapshot show` give its diskState and provisioningState.';
  }
  if (code === 'BadRequest') return 'The server could not use the request: check the options against `--help`, and run with --debug to see what was sent.';
  if (code === 'PropertyChangeNotAllowed') return `${target !== undefined ? `${target} cannot` : 'That property cannot'} change on an existing resource: create one under another --name, or delete this one first.`;
  if (code === 'ResourceGroupBeingDeleted') return 'Wait until `snapdisk group exists -n NAME` prints false, then create the group again.';
  if (code === 'Conflict') return 'Another operation on this resource is in progress or it changed meanwhile: wait for it (`snapdisk disk wait` / `snapdisk snapshot wait`), then retry.';
  return undefined;
}

/** A CloudError response as a CliError. */
export function armError(res: HttpResponse, what: string): CliError {
  const body = parseJson(res) as CloudErrorBody | undefined;
  const code = body?.error?.code ?? (res.status === 404 ? 'NotFound' : `HttpError${res.status}`);
  const detail = body?.error?.details?.[0]?.code;
  const message = body?.error?.message ?? (res.body.length > 0 ? res.body.toString('utf8').slice(0, 500) : `${what} failed with HTTP status ${res.status}.`);
  const target = body?.error?.target || body?.error?.details?.[0]?.target || undefined;
  const hint = hintFor(detail === 'TooManyRequests' ? 'TooManyRequests' : code, message, res.status, responseHeader(res.headers, 'retry-after'), target);
  return new CliError(message, {
    code,
    status: res.status,
    ...(target !== undefined ? { target } : {}),
    ...(hint !== undefined ? { hint } : {}),
  });
}

export class ArmClient {
  constructor(
    private readonly http: HttpClient,
    private readonly tokens: TokenProvider,
    /** `https://host:port/` */
    readonly endpoint: string,
  ) {}

  /** `path` (starting with `/`) plus `?api-version=`, or an absolute URL as is. */
  url(pathOrUrl: string, apiVersion?: string): string {
    if (/^https?:\/\//i.test(pathOrUrl)) return pathOrUrl;
    const base = this.endpoint.replace(/\/+$/, '');
    const sep = pathOrUrl.includes('?') ? '&' : '?';
    return `${base}${pathOrUrl}${apiVersion !== undefined ? `${sep}api-version=${apiVersion}` : ''}`;
  }

  /** One request with a bearer token (retried once with a fresh token after a 401). */
  async send(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.token();
      const text = body === undefined ? undefined : JSON.stringify(body);
      const res = await this.http.request({
        method,
        url,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          'user-agent': 'snapdisk-cli',
          ...(text !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(text !== undefined ? { body: text } : {}),
        ...(signal ? { signal } : {}),
      });
      if (res.status === 401 && attempt === 0) {
        this.tokens.invalidate();
        continue;
      }
      return res;
    }
  }

  /** GET returning the JSON body; CloudErrors throw. */
  async get<T = Record<string, unknown>>(path: string, apiVersion: string): Promise<T> {
    const res = await this.send('GET', this.url(path, apiVersion));
    if (res.status >= 400) throw armError(res, `GET ${path}`);
    return parseJson(res) as T;
  }

  /** Every item of a list, following `nextLink`. */
  async list<T = Record<string, unknown>>(path: string, apiVersion?: string): Promise<T[]> {
    const out: T[] = [];
    let url: string | undefined = this.url(path, apiVersion);
    while (url) {
      const res = await this.send('GET', url);
      if (res.status >= 400) throw armError(res, `GET ${path}`);
      const page = parseJson(res) as { value?: T[]; nextLink?: string } | undefined;
      out.push(...(page?.value ?? []));
      url = page?.nextLink || undefined;
    }
    return out;
  }

  /**
   * A write that may be long-running. Resolves with the final JSON body (the resource for
   * PUT/PATCH, the operation's output for POST, undefined for DELETE), or the first response's
   * body with `noWait`.
   */
  async lro(method: string, path: string, apiVersion: string, body?: unknown, opts: LroOptions = {}): Promise<unknown> {
    const url = this.url(path, apiVersion);
    const first = await this.send(method, url, body, opts.signal);
    if (first.status >= 400) throw armError(first, `${method} ${path}`);
    const async = responseHeader(first.headers, 'azure-asyncoperation');
    const location = responseHeader(first.headers, 'location');
    if (opts.noWait || (first.status !== 201 && first.status !== 202) || (!async && !location)) {
      return parseJson(first);
    }
    if (async) {
      const status = await this.pollStatus(async, opts);
      if (location) return this.finalFromLocation(location, opts);
      if (method === 'PUT' || method === 'PATCH') return this.get(path, apiVersion);
      return (status as { properties?: { output?: unknown } }).properties?.output;
    }
    return this.finalFromLocation(location ?? url, opts);
  }

  private async pollStatus(url: string, opts: LroOptions): Promise<unknown> {
    for (let i = 0; ; i++) {
      const res = await this.send('GET', url, undefined, opts.signal);
      if (res.status >= 400) throw armError(res, 'operation status');
      const body = (parseJson(res) ?? {}) as { status?: string; error?: { code?: string; message?: string; target?: string } };
      const status = body.status ?? 'InProgress';
      opts.onPoll?.(status);
      if (TERMINAL.has(status.toLowerCase())) {
        if (status.toLowerCase() !== 'succeeded') {
          const hint = hintFor(body.error?.code ?? '', body.error?.message ?? '', 0, undefined, body.error?.target);
          throw new CliError(body.error?.message ?? `The operation ${status.toLowerCase()}.`, {
            code: body.error?.code ?? status,
            status: 200,
            ...(hint !== undefined ? { hint } : {}),
          });
        }
        return body;
      }
      await this.wait(res, i, opts.signal);
    }
  }

  private async finalFromLocation(url: string, opts: LroOptions): Promise<unknown> {
    for (let i = 0; ; i++) {
      const res = await this.send('GET', url, undefined, opts.signal);
      if (res.status >= 400) throw armError(res, 'operation result');
      if (res.status !== 202) return parseJson(res);
      await this.wait(res, i, opts.signal);
    }
  }

  private async wait(res: HttpResponse, i: number, signal?: AbortSignal): Promise<void> {
    const ra = Number(responseHeader(res.headers, 'retry-after'));
    const seconds = Number.isFinite(ra) && ra >= 0 ? Math.min(ra, 30) : 1;
    // the server's hint, but never a busy loop
    await sleep(Math.max(seconds * 1000, i === 0 ? 50 : 200), undefined, signal ? { signal } : undefined);
  }
}

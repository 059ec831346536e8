/**
 * @module chunks/azure/azure-blob-store
 * BlobStore on an Azure Blob Storage container (one zone), as block blobs. Keys follow
 * `chunks/layout.ts` under an optional folder prefix, as in the S3 and filesystem stores.
 *
 *   put     Put Blob (one request, block blob) with If-None-Match: * — create-if-absent. Azure
 *           answers an existing blob with 409 BlobAlreadyExists (not S3's 412): fine when the
 *           size matches (the contract's idempotent put), else an error.
 *   read    ranged Get Blob; 404 → ChunkNotFound; 416 or a short body → IntegrityError.
 *   stat    Get Blob Properties; 404 → null.     delete  Delete Blob if it exists.
 *   list    List Blobs (flat) pages, lexicographic order.
 *
 * Design notes:
 * - No retries here: the SDK's retry policy is set to one try (`maxTries: 1`); each request gets an
 *   abort signal after `requestTimeoutMs` + body size / `minBytesPerSecond`; transient failures
 *   become `Unavailable` for the `wrap/retry` decorator.
 * - Credentials: a shared key (`accountName` + `accountKey`), or a SAS already in `url`.
 * - Azurite (the test server) needs `--skipApiVersionCheck`: @azure/storage-blob 12.32.0 sends a
 *   newer `x-ms-version` than Azurite 3.35 knows.
 */

import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient, RestError } from '@azure/storage-blob';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';
import { checkKey, checkPrefix, collect, describeFailure } from '../wrap/remote.js';

export interface AzureBlobStoreOptions {
  /** Blob service URL: `https://ACCOUNT.blob.core.windows.net` (a `?sv=…` SAS may follow). */
  url: string;
  container: string;
  /** Folder inside the container for this zone, ending in `/` (default: the container root). */
  prefix?: string;
  /** Shared-key credentials; omit when `url` carries a SAS. */
  accountName?: string;
  accountKey?: string;
  /** Deadline of one request (default 30 s), plus the transfer allowance below. */
  requestTimeoutMs?: number;
  /** Slowest transfer rate tolerated: a request of N bytes gets N / rate more time (default 1 MiB/s). */
  minBytesPerSecond?: number;
  /** Blobs per List Blobs page (default 5000, the service maximum). */
  listPageSize?: number;
  /** Create the container at `init()` when it does not exist (default false). */
  createContainer?: boolean;
  /** Name in messages (default `azure://container/prefix`). */
  name?: string;
}

export class AzureBlobStore implements BlobStore {
  readonly name: string;
  readonly container: ContainerClient;
  private readonly prefix: string;

  constructor(private readonly options: AzureBlobStoreOptions) {
    this.prefix = checkPrefix(options.prefix ?? '');
    this.name = options.name ?? `azure://${options.container}/${this.prefix}`;
    const credential =
      options.accountName && options.accountKey ? new StorageSharedKeyCredential(options.accountName, options.accountKey) : undefined;
    const service = new BlobServiceClient(options.url, credential, {
      // one try; the SDK's own per-try timeout only as an outer cap, deadlines come from abort signals
      retryOptions: { maxTries: 1, tryTimeoutInMs: 3_600_000 },
      keepAliveOptions: { enable: true },
    });
    this.container = service.getContainerClient(options.container);
  }

  /** Checks that the container is reachable (creating it when asked to); a clear error otherwise. */
  async init(): Promise<this> {
    try {
      if (await this.container.exists()) return this;
    } catch (err) {
      throw this.fail(err, 'open container');
    }
    if (!this.options.createContainer) {
      throw new SnapdiskError('InternalError', `container ${this.options.container} does not exist in ${this.options.url.split('?')[0]}`, {
        hint: 'Create the container first, or set "createContainer": true.',
      });
    }
    try {
      await this.container.createIfNotExists();
    } catch (err) {
      throw this.fail(err, 'create container');
    }
    return this;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const blob = this.container.getBlockBlobClient(this.key(key));
    const body = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      await blob.upload(body, body.length, { conditions: { ifNoneMatch: '*' }, abortSignal: this.deadline(body.length) });
    } catch (err) {
      const status = statusOf(err);
      if (status !== 409 && status !== 412) throw this.fail(err, `put ${key}`);
      const existing = await this.stat(key);
      if (existing && existing.size === data.length) return;
      throw new SnapdiskError(
        'IntegrityError',
        `object ${key} in ${this.name} already exists with ${existing?.size ?? 'unknown'} bytes, not ${data.length}`,
      );
    }
  }

  async read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    if (length === 0) {
      const info = await this.stat(key);
      if (!info) throw this.missing(key);
      if (offset > info.size) throw this.pastEnd(key, offset, length, info.size);
      return Buffer.alloc(0);
    }
    let body: Buffer;
    try {
      const res = await this.container.getBlobClient(this.key(key)).download(offset, length, { abortSignal: this.deadline(length) });
      body = await collect(res.readableStreamBody, into && into.length >= length ? into : undefined);
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) throw this.missing(key, err);
      if (status === 416) throw this.pastEnd(key, offset, length, undefined, err);
      throw this.fail(err, `read ${key}`);
    }
    if (body.length !== length) throw this.pastEnd(key, offset, length, offset + body.length);
    return body;
  }

  async stat(key: string): Promise<BlobInfo | null> {
    try {
      const p = await this.container.getBlobClient(this.key(key)).getProperties({ abortSignal: this.deadline() });
      return { key, size: Number(p.contentLength ?? 0), modified: p.lastModified ?? new Date(0) };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw this.fail(err, `stat ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.container.getBlobClient(this.key(key)).deleteIfExists({ abortSignal: this.deadline() });
    } catch (err) {
      throw this.fail(err, `delete ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      // one iterator per page, so that each page request gets its own deadline
      const pages = this.container
        .listBlobsFlat({ prefix: this.prefix + prefix, abortSignal: this.deadline() })
        .byPage({ maxPageSize: this.options.listPageSize ?? 5000, ...(token ? { continuationToken: token } : {}) });
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.fail(err, `list ${prefix}`);
      }
      if (page.done) return;
      for (const b of page.value.segment.blobItems) {
        yield {
          key: b.name.slice(this.prefix.length),
          size: Number(b.properties.contentLength ?? 0),
          modified: b.properties.lastModified ?? new Date(0),
        };
      }
      token = page.value.continuationToken || undefined;
    } while (token);
  }

  async close(): Promise<void> {
    // the SDK's pooled keep-alive sockets close themselves when idle
  }

  private key(key: string): string {
    return this.prefix + checkKey(key);
  }

  private deadline(bytes = 0): AbortSignal {
    const rate = this.options.minBytesPerSecond ?? 1024 * 1024;
    return AbortSignal.timeout((this.options.requestTimeoutMs ?? 30_000) + Math.ceil((bytes / rate) * 1000));
  }

  private missing(key: string, cause?: unknown): SnapdiskError {
    return new SnapdiskError('ChunkNotFound', `object ${key} is missing from ${this.name}`, cause ? { cause } : {});
  }

  private pastEnd(key: string, offset: number, length: number, size?: number, cause?: unknown): SnapdiskError {
    const sizeText = size === undefined ? '' : ` (it ends at ${size})`;
    return new SnapdiskError('IntegrityError', `object ${key} in ${this.name} ends before ${offset + length}${sizeText}`, cause ? { cause } : {});
  }

  private fail(err: unknown, what: string): SnapdiskError {
    return describeFailure(err, `${what} in ${this.name}`, statusOf(err), codeOf(err));
  }
}

function statusOf(err: unknown): number | undefined {
  return err instanceof RestError ? err.statusCode : undefined;
}

function codeOf(err: unknown): string {
  if (err instanceof RestError) return err.code ?? '';
  return (err as { name?: string } | null)?.name ?? '';
}

/**
 * @module chunks/s3/s3-blob-store
 * BlobStore on an S3 bucket (one zone): Ceph radosgw, AWS S3, or anything that honours
 * `If-None-Match: *` on PUT. Keys follow `chunks/layout.ts` under an optional prefix, so a zone can
 * be a bucket of its own or a folder of a shared bucket, and a copied directory is a valid bucket.
 *
 *   put     PUT with If-None-Match: * (create-if-absent; atomic on the server). 412 means the key
 *           exists: fine when its size matches (the contract's idempotent put), else an error.
 *   read    ranged GET (bytes=a-b); 404 → ChunkNotFound; a short or 416 range → IntegrityError.
 *   stat    HEAD; 404 → null.          delete  DELETE (204 also when absent).
 *   list    ListObjectsV2 pages (UTF-8 binary key order, which is the order the contract wants).
 *
 * Design notes:
 * - No retries here (`maxAttempts: 1`): transient failures (5xx, 429/SlowDown, socket errors,
 *   timeouts) become `Unavailable` and the `wrap/retry` decorator decides. Per-request deadlines:
 *   `connectTimeoutMs` for the TCP connect, `requestTimeoutMs` of socket silence, and an abort
 *   signal for the whole request (`requestTimeoutMs` + body size / `minBytesPerSecond`), so a stuck
 *   server never hangs a snapshot copy and a 32 MiB pack on a slow link still gets its time.
 * - Checksums only when required (`WHEN_REQUIRED`): Ceph 16 rejects the SDK's default aws-chunked
 *   trailing checksum on stream bodies (411); pack bytes are verified by SHA-256 on every read.
 * - Path-style addressing by default (`http://host:port/bucket/key`), as radosgw without
 *   wildcard DNS needs.
 */

import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';
import { checkKey, checkPrefix, collect, describeFailure } from '../wrap/remote.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Omit for AWS; e.g. `http://127.0.0.1:7480` for radosgw. */
  endpoint?: string;
  /** Signing region (default `us-east-1`, which radosgw accepts). */
  region?: string;
  /** Folder inside the bucket for this zone, ending in `/` (default: the bucket root). */
  prefix?: string;
  /** Static keys; without them the SDK's default chain (env, profile, instance role) applies. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style URLs (default true; set false for virtual-hosted AWS buckets). */
  forcePathStyle?: boolean;
  /** Deadline of one request, connect to last byte (default 30 s), plus the transfer allowance below. */
  requestTimeoutMs?: number;
  /** Slowest transfer rate tolerated: a request of N bytes gets N / rate more time (default 1 MiB/s). */
  minBytesPerSecond?: number;
  /** Deadline of the TCP/TLS connect (default 5 s). */
  connectTimeoutMs?: number;
  /** Concurrent sockets to the endpoint (default 64). */
  maxSockets?: number;
  /** Keys per ListObjectsV2 page (default 1000, the service maximum). */
  listPageSize?: number;
  /** Create the bucket at `init()` when it does not exist (default false). */
  createBucket?: boolean;
  /** Name in messages (default `s3://bucket/prefix`). */
  name?: string;
}

export class S3BlobStore implements BlobStore {
  readonly name: string;
  readonly client: S3Client;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = checkPrefix(options.prefix ?? '');
    this.name = options.name ?? `s3://${options.bucket}/${this.prefix}`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? true,
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        requestTimeout: this.requestTimeoutMs, // socket inactivity; the abort signal bounds the whole request
        httpAgent: new HttpAgent(agentOptions),
        httpsAgent: new HttpsAgent(agentOptions),
      },
    });
  }

  /** Checks that the bucket is reachable (creating it when asked to); a clear error otherwise. */
  async init(): Promise<this> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), this.deadline());
    } catch (err) {
      if (statusOf(err) === 404 && this.options.createBucket) {
        try {
          await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }), this.deadline());
        } catch (createErr) {
          // another node created it meanwhile
          if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(codeOf(createErr))) throw this.fail(createErr, 'create bucket');
        }
        return this;
      }
      throw this.fail(err, 'open bucket', statusOf(err) === 404 ? 'Create the bucket first, or set "createBucket": true.' : undefined);
    }
    return this;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const k = this.key(key);
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: k, Body: data, ContentLength: data.length, IfNoneMatch: '*' }),
        this.deadline(data.length),
      );
    } catch (err) {
      if (statusOf(err) !== 412) throw this.fail(err, `put ${key}`);
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
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), Range: `bytes=${offset}-${offset + length - 1}` }),
        this.deadline(length),
      );
      body = await collect(res.Body as AsyncIterable<Uint8Array> | undefined, into && into.length >= length ? into : undefined);
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
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }), this.deadline());
      return { key, size: Number(res.ContentLength ?? 0), modified: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw this.fail(err, `stat ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }), this.deadline());
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw this.fail(err, `delete ${key}`);
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(this.options.listPageSize ? { MaxKeys: this.options.listPageSize } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
          this.deadline(),
        );
      } catch (err) {
        throw this.fail(err, `list ${prefix}`);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(this.prefix.length), size: Number(o.Size ?? 0), modified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private key(key: string): string {
    return this.prefix + checkKey(key);
  }

  /** Per-request deadline, connect to last byte, longer for a large body. */
  private deadline(bytes = 0): { abortSignal: AbortSignal } {
    const rate = this.options.minBytesPerSecond ?? 1024 * 1024;
    return { abortSignal: AbortSignal.timeout(this.requestTimeoutMs + Math.ceil((bytes / rate) * 1000)) };
  }

  private missing(key: string, cause?: unknown): SnapdiskError {
    return new SnapdiskError('ChunkNotFound', `object ${key} is missing from ${this.name}`, cause ? { cause } : {});
  }

  private pastEnd(key: string, offset: number, length: number, size?: number, cause?: unknown): SnapdiskError {
    const sizeText = size === undefined ? '' : ` (it ends at ${size})`;
    return new SnapdiskError('IntegrityError', `object ${key} in ${this.name} ends before ${offset + length}${sizeText}`, cause ? { cause } : {});
  }

  private fail(err: unknown, what: string, hint?: string): SnapdiskError {
    return describeFailure(err, `${what} in ${this.name}`, statusOf(err), codeOf(err), hint);
  }
}

function statusOf(err: unknown): number | undefined {
  const meta = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return meta?.httpStatusCode;
}

function codeOf(err: unknown): string {
  return (err as { name?: string; Code?: string } | null)?.Code ?? (err as { name?: string } | null)?.name ?? '';
}

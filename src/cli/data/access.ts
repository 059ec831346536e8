/**
 * @module cli/data/access
 * SAS grants for the data commands (download, upload, diff, export-diff): grant, use, revoke.
 *
 * A revoke (`endGetAccess`) ends every SAS of the resource, so the commands revoke only what
 * they made: when the resource already had an active SAS (someone else is reading it), theirs
 * stays and ours simply expires. Revokes run even after a failure or Ctrl-C.
 */

import type { CommandContext } from '../command.js';
import { BlobClient } from './blob.js';
import { getResource, KINDS, resourcePath } from '../resources.js';
import type { Target, WireResource } from '../resources.js';

/** Default SAS lifetime of data commands: long enough for big transfers, revoked at the end. */
export const DEFAULT_DURATION = 86_400;

/** `SNAPDISK_PAGE_LIST_SIZE`: page-list page size (tests exercise paging with small pages). */
function pageSize(env: NodeJS.ProcessEnv): number {
  const n = Number(env.SNAPDISK_PAGE_LIST_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 10_000) : 10_000;
}

export interface Access {
  url: string;
  blob: BlobClient;
  resource: WireResource;
  /** Ends the grant (unless an older SAS was already active). */
  release(): Promise<void>;
}

export interface GrantOptions {
  access?: 'Read' | 'Write';
  fileFormat?: 'VHD' | 'VHDX';
  durationInSeconds?: number;
  /** The resource, when the caller already read it. */
  resource?: WireResource;
}

export async function grant(ctx: CommandContext, t: Target, opts: GrantOptions = {}): Promise<Access> {
  const resource = opts.resource ?? (await getResource(ctx, t));
  const state = resource.properties?.diskState;
  const access = opts.access ?? 'Read';
  const preexisting = access === 'Read' ? state === 'ActiveSAS' : false;
  const body = { access, durationInSeconds: opts.durationInSeconds ?? DEFAULT_DURATION, ...(opts.fileFormat ? { fileFormat: opts.fileFormat } : {}) };
  const out = (await ctx.arm().lro('POST', `${resourcePath(t)}/beginGetAccess`, KINDS[t.kind].api, body, { signal: ctx.signal })) as { accessSAS?: string } | undefined;
  if (!out?.accessSAS) throw new Error('beginGetAccess returned no accessSAS');
  ctx.log.info(`Granted ${access} access to ${t.name}${preexisting ? ' (it already had an active SAS, which will stay)' : ''}.`);
  let released = false;
  return {
    url: out.accessSAS,
    blob: new BlobClient(ctx.http(), out.accessSAS, ctx.signal, pageSize(ctx.env)),
    resource,
    async release() {
      if (released) return;
      released = true;
      if (preexisting) return;
      // not with ctx.signal: the revoke must happen after a Ctrl-C too
      await ctx.arm().lro('POST', `${resourcePath(t)}/endGetAccess`, KINDS[t.kind].api);
      ctx.log.info(`Revoked access to ${t.name}.`);
    },
  };
}

/** Runs `fn` with read grants on `targets`, releasing them afterwards (in reverse order). */
export async function withRead<T>(ctx: CommandContext, targets: ReadonlyArray<{ target: Target; resource?: WireResource; fileFormat?: 'VHD' | 'VHDX' }>, fn: (access: Access[]) => Promise<T>, durationInSeconds?: number): Promise<T> {
  const granted: Access[] = [];
  try {
    for (const t of targets) {
      granted.push(
        await grant(ctx, t.target, {
          ...(t.resource ? { resource: t.resource } : {}),
          ...(t.fileFormat ? { fileFormat: t.fileFormat } : {}),
          ...(durationInSeconds !== undefined ? { durationInSeconds } : {}),
        }),
      );
    }
    return await fn(granted);
  } finally {
    for (const a of granted.reverse()) {
      try {
        await a.release();
      } catch (err) {
        ctx.log.warn(`Could not revoke access: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * @module catalog/postgres/job-claims
 * Claiming background jobs when several nodes share one catalog, with the columns the `jobs` table
 * already has (no migration needed):
 *
 *   claim   UPDATE jobs SET state='running', attempts=attempts+1, updated_at=now
 *           WHERE id IN (SELECT id FROM jobs WHERE state='queued'
 *                                              OR (state='running' AND updated_at < staleBefore)
 *                        ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED)
 *           RETURNING *
 *   fence   the returned `attempts` is the claim's fencing token: every later touch or finish is
 *           `… WHERE id = ? AND attempts = ?`, so a node whose claim was taken over (it stalled
 *           past `staleBefore`, another node re-claimed and bumped `attempts`) changes nothing and
 *           learns it lost the job (`false`).
 *   liveness a running job's `updated_at` is its heartbeat: `touchClaimedJob` at every checkpoint
 *           (the engine already checkpoints each batch); a node that dies stops touching, and after
 *           the stale interval any node's next claim picks the job up and resumes it from its
 *           checkpointed payload.
 *
 * `SKIP LOCKED` makes concurrent claimers on different nodes take disjoint rows without waiting
 * on each other. The SQL is dialect-neutral except that clause, which SQLite (one process, one
 * writer) neither has nor needs; so these functions can move into SqlCatalog unchanged.
 */

import type { Job, JobKind } from '../../core/model.js';
import type { SqlClient, SqlValue } from '../sql-client.js';

export interface ClaimedJob extends Job {
  /** Fencing token: pass it to touch/finish; equals `attempts` at the claim. */
  fence: number;
}

export interface ClaimOptions {
  /** At most this many jobs (default 1). */
  limit?: number;
  /** Running jobs not touched since this instant are taken over (their node is presumed dead). */
  staleBefore: Date;
  at: Date;
  /** Only these kinds (default: every kind). */
  kinds?: ReadonlyArray<JobKind>;
}

interface JobRow {
  id: number;
  kind: string;
  target: string;
  state: string;
  payload: string;
  attempts: number;
  error: string | null;
  created_at: string;
  updated_at: string;
}

function toClaimed(r: JobRow): ClaimedJob {
  return {
    id: Number(r.id),
    kind: r.kind as JobKind,
    target: r.target,
    state: r.state as Job['state'],
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    attempts: Number(r.attempts),
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    fence: Number(r.attempts),
  };
}

export async function claimJobs(db: SqlClient, options: ClaimOptions): Promise<ClaimedJob[]> {
  const params: SqlValue[] = [options.at.toISOString(), options.staleBefore.toISOString()];
  let kindClause = '';
  if (options.kinds && options.kinds.length > 0) {
    kindClause = ` AND kind IN (${options.kinds.map(() => '?').join(', ')})`;
    params.push(...options.kinds);
  }
  params.push(options.limit ?? 1);
  const lock = db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  const rows = await db.all<JobRow>(
    `UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?
     WHERE id IN (SELECT id FROM jobs
                  WHERE (state = 'queued' OR (state = 'running' AND updated_at < ?))${kindClause}
                  ORDER BY id LIMIT ?${lock})
     RETURNING *`,
    params,
  );
  return rows.map(toClaimed).sort((a, b) => a.id - b.id);
}

/** Checkpoint + heartbeat; false when the claim was lost (another node re-claimed the job). */
export async function touchClaimedJob(db: SqlClient, id: number, fence: number, payload: Record<string, unknown>, at: Date): Promise<boolean> {
  const r = await db.run("UPDATE jobs SET payload = ?, updated_at = ? WHERE id = ? AND attempts = ? AND state = 'running'", [
    JSON.stringify(payload),
    at.toISOString(),
    id,
    fence,
  ]);
  return r.changes === 1;
}

/** Ends a claimed job; false when the claim was lost (the job belongs to another node now). */
export async function finishClaimedJob(
  db: SqlClient,
  id: number,
  fence: number,
  state: 'done' | 'failed',
  error: string | null,
  at: Date,
): Promise<boolean> {
  const r = await db.run(
    "UPDATE jobs SET state = ?, error = ?, open_key = NULL, updated_at = ? WHERE id = ? AND attempts = ? AND state = 'running'",
    [state, error, at.toISOString(), id, fence],
  );
  return r.changes === 1;
}

/**
 * @module catalog/postgres/errors
 * Classifies PostgreSQL and connection failures into the project's error codes, once, so that the
 * retry decorators and the surfaces see `Unavailable` for "try again" (connection lost, server
 * shutting down, serialization failure, deadlock) and `UniqueViolation` (`Conflict`) for a unique
 * violation. Other errors (a bug in SQL, another constraint) pass through unchanged, as they do
 * from SQLite.
 */

import { SnapdiskError } from '../../core/errors.js';
import { UniqueViolation } from '../../core/ports.js';

/** SQLSTATEs after which the same statement may succeed when sent again. */
const TRANSIENT_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
]);

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

const TRANSIENT_MESSAGES = [/Connection terminated/i, /timeout exceeded when trying to connect/i, /Query read timeout/i, /Client has encountered a connection error/i];

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

export function isTransientPgError(err: unknown): boolean {
  const code = codeOf(err);
  if (code && (TRANSIENT_STATES.has(code) || code.startsWith('08') || TRANSIENT_NODE_CODES.has(code))) return true;
  if (err instanceof AggregateError) return err.errors.some(isTransientPgError);
  const message = err instanceof Error ? err.message : '';
  return TRANSIENT_MESSAGES.some((re) => re.test(message));
}

/** Wraps a driver error; `where` names the server (password masked) for the message. */
export function mapPgError(err: unknown, where: string): unknown {
  if (err instanceof SnapdiskError) return err;
  const message = err instanceof Error ? err.message || codeOf(err) || err.name : String(err);
  if (isTransientPgError(err)) {
    return new SnapdiskError('Unavailable', `catalog (PostgreSQL at ${where}): ${message}`, {
      cause: err,
      hint: 'The request may succeed when tried again; check that PostgreSQL is running and reachable.',
    });
  }
  if (codeOf(err) === '23505') {
    const constraint = (err as { constraint?: unknown }).constraint;
    return new UniqueViolation(`catalog (PostgreSQL): ${message}`, typeof constraint === 'string' && NAME_CONSTRAINTS.has(constraint), err);
  }
  return err;
}

/** The unique constraints holding live resource names (migrations.ts), as PostgreSQL names them. */
const NAME_CONSTRAINTS = new Set(['disks_subscription_id_rg_key_name_key_key', 'snapshots_live_name']);

/** `postgres://user:secret@host/db` → `postgres://user@host/db` for messages and logs. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString().replace(/^(\w+:\/\/[^@/]*):@/, '$1@');
  } catch {
    return url.replace(/:[^:@/]*@/, '@');
  }
}

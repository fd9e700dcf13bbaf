/**
 * Errors are values the caller can act on: every error lockstep raises on purpose is a
 * LockstepError with a stable code. `retryable` tells executors and queues whether trying
 * again can help; `retryAfterMs` carries a server's Retry-After when it sent one.
 */
export type ErrorCode =
  | 'validation' // bad input: config, mappings, API bodies, HR rows
  | 'config' // the runtime configuration is unusable
  | 'not_found'
  | 'conflict' // uniqueness / version (ETag) conflicts
  | 'auth' // credentials refused by a lock system or source
  | 'rate_limited' // 429 and friends
  | 'unavailable' // 5xx, connection refused, outage
  | 'timeout'
  | 'held' // a run held by the mass-revocation guard
  | 'precondition' // a state that forbids the operation (e.g. approving a run that is not held)
  | 'internal';

export interface LockstepErrorOptions {
  /** Dotted path of the offending field, e.g. `rules[3].when` or `row 17, column hireDate`. */
  field?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  status?: number;
  details?: unknown;
  cause?: unknown;
}

export class LockstepError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly status?: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, opts: LockstepErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LockstepError';
    this.code = code;
    this.field = opts.field;
    this.retryable = opts.retryable ?? isTransientCode(code);
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.field ? { field: this.field } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

/** The codes that are worth another try unless the error says otherwise: the default of `retryable`. */
export function isTransientCode(code: string): boolean {
  return code === 'rate_limited' || code === 'unavailable' || code === 'timeout';
}

export function isLockstepError(e: unknown): e is LockstepError {
  return e instanceof LockstepError;
}

/** Wraps anything thrown into a LockstepError without losing the original. */
export function toLockstepError(e: unknown): LockstepError {
  if (e instanceof LockstepError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const sqlState = transientSqlState(e);
  // a deadlock or serialization failure is the store asking for another try, never a verdict on the job
  if (sqlState) return new LockstepError('unavailable', `the store asked for a retry (SQLSTATE ${sqlState}): ${message}`, { cause: e, retryable: true });
  return new LockstepError('internal', message, { cause: e, retryable: false });
}

/**
 * PostgreSQL's SQLSTATEs that say "try the transaction again": serialization failure (40001),
 * deadlock detected (40P01), lock not available (55P03), the server going away or starting
 * (57P01-57P03, class 08 connection exceptions) and running out of resources for now (53300
 * too many connections). Anything else thrown by the store is a defect, not a transient fault.
 */
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '53300']);

export function transientSqlState(e: unknown): string | null {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return null;
  return TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') ? code : null;
}

import { isLockstepError, LockstepError, type ErrorCode } from '../../domain/errors.js';
import { URN } from './schemas.js';

/** RFC 7644 §3.12 scimType values. */
export type ScimType =
  'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget' | 'invalidValue' | 'invalidVers' | 'sensitive';

function codeFor(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 409 || status === 412) return 'conflict';
  if (status >= 500) return 'internal';
  return 'validation';
}

/**
 * A failure the SCIM client must see as an RFC 7644 §3.12 error. It is a LockstepError, so
 * anything above the router (logs, metrics) treats it like every other error in lockstep.
 */
export class ScimError extends LockstepError {
  readonly scimType?: ScimType;

  constructor(status: number, detail: string, scimType?: ScimType, field?: string) {
    super(codeFor(status), detail, { status, field, retryable: false });
    this.name = 'ScimError';
    this.scimType = scimType;
  }

  get httpStatus(): number {
    return this.status ?? 500;
  }

  body(): ScimErrorBody {
    return errorBody(this.httpStatus, this.message, this.scimType);
  }
}

export interface ScimErrorBody {
  schemas: [typeof URN.error];
  status: string;
  scimType?: ScimType;
  detail: string;
}

export function errorBody(status: number, detail: string, scimType?: ScimType): ScimErrorBody {
  return { schemas: [URN.error], ...(scimType ? { scimType } : {}), detail, status: String(status) };
}

export const badRequest = (scimType: ScimType, detail: string, field?: string) => new ScimError(400, detail, scimType, field);
export const notFound = (detail: string) => new ScimError(404, detail);
export const conflict = (detail: string, field?: string) => new ScimError(409, detail, 'uniqueness', field);
export const mutability = (detail: string, field?: string) => new ScimError(400, detail, 'mutability', field);

/**
 * PostgreSQL errors caused by a value rather than by the server: a character it cannot store,
 * an index entry too large, a number out of range. The edge checks (domain/input.ts, limits.ts,
 * the schema) refuse these first and name the attribute; this is the backstop, so that a value
 * they did not foresee is still the client's 400, not a 500.
 */
const PG_VALUE_ERRORS = new Set(['22P05', '22021', '22003', '22P02', '22007', '22008', '22001', '54000']);

/**
 * The RFC 7644 §3.12 error for anything a request can make the router throw, or null for a
 * failure of lockstep itself (answered 500 and logged). Body-parser and router errors carry
 * an HTTP status (http-errors): a 4xx one is the client's, with its own message.
 */
export function scimErrorOf(err: unknown, maxBodyBytes: number): ScimError | null {
  if (err instanceof ScimError) return err;
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { type?: unknown; status?: unknown; code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (e.type === 'entity.too.large') return new ScimError(413, `the request body is larger than ${maxBodyBytes} bytes`);
  if (e.type === 'entity.parse.failed') return badRequest('invalidSyntax', `the request body is not valid JSON: ${message}`, 'body');
  if (e.type === 'charset.unsupported' || e.type === 'encoding.unsupported') return new ScimError(415, message, undefined, 'Content-Type');
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) {
    // zlib: a Content-Encoding of gzip/deflate/br over a body that is not so encoded
    return badRequest('invalidSyntax', `the request body does not decode as its Content-Encoding says: ${message}`, 'Content-Encoding');
  }
  if (isLockstepError(err) && err.code === 'validation') return badRequest('invalidValue', err.message, err.field);
  if (typeof e.code === 'string' && PG_VALUE_ERRORS.has(e.code)) return badRequest('invalidValue', `a value in the request cannot be stored: ${message}`);
  if (err instanceof RangeError && /call stack/i.test(message)) return badRequest('invalidValue', 'the request body is nested too deeply', 'body');
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return new ScimError(e.status, message);
  return null;
}

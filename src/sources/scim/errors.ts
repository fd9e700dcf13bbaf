import { LockstepError, type ErrorCode } from '../../domain/errors.js';
import { URN } from './schemas.js';

/** RFC 7644 §3.12 scimType values. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

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

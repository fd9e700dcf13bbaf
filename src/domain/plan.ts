import { createHash } from 'node:crypto';
import type { AccountInput, CredentialStatus, ProtectionClass, Reason, Validity } from './access.js';
import { isTransientCode } from './errors.js';
import type { OperationKind, PlanSummary } from './plan-summary.js';

export { PLAN_SYMBOL, summarize, type OperationKind, type PlanSummary } from './plan-summary.js';

/** Why an operation is in the plan, in words an auditor can read and codes a tool can group. */
export type OperationCause =
  | 'entitled' // a rule grants it
  | 'not-entitled' // no rule grants it any more (mover)
  | 'exception' // an access exception denies it (a manual decision, an access review's revoke)
  | 'leaver' // identity inactive, deleted or past its leave date
  | 'validity' // validity window changed or ended
  | 'expired' // validity ended and the system cannot store it: lockstep enforces it
  | 'unused-credential'
  | 'orphan' // account with no identity, per orphan policy
  | 'lost-credential'
  | 'joiner' // account created / reactivated for a person who is entitled
  | 'relink'; // account found by correlation key, link recorded

export interface OperationReason {
  cause: OperationCause;
  /** One line for plan output and the audit log. */
  text: string;
  /** The entitlement reasons (rules, roles, matched values) behind a grant or validity change. */
  reasons?: Reason[];
  /** Policy that decided (e.g. `lifecycle.leaver: suspend`, `class 4 unusedCredentialDays: 30`). */
  policy?: string;
}

export interface OperationGroup {
  /** Mapping id of the access group. */
  id: string;
  /** Reference in the lock system. */
  ref: string;
  name: string;
  protectionClass: ProtectionClass;
}

export interface Operation {
  /** Stable key within a plan; the same change planned twice gets the same key. */
  key: string;
  kind: OperationKind;
  system: string;
  identityId: string | null;
  externalId: string | null;
  userName: string | null;
  /** Null only for create_account. */
  accountId: string | null;
  group?: OperationGroup;
  validity?: Validity;
  previousValidity?: Validity;
  credentialId?: string;
  credentialState?: CredentialStatus;
  account?: AccountInput;
  reason: OperationReason;
  /** Takes access away (revoke, suspend, delete, credential suspension): guarded and prioritised. */
  revocation: boolean;
  /**
   * A revocation in a data-on-card system (capabilities.offline): when its offline locks have
   * learned it at the latest (the last expiry of the holder's keys). Until then a key updated
   * before it still opens what it learned.
   */
  learnedBy?: string;
  /**
   * How the person's attributes were fitted to what this lock system can hold (a display name
   * cut to its limit, an empty one replaced by the userName): src/drivers/fit.ts. Absent: sent as given.
   */
  fitted?: string[];
}

/**
 * A live identity whose correlation key (externalId) other live identities also hold: it gets
 * no access and is linked to no account by that key until it is the key's only holder.
 */
export interface CorrelationConflict {
  identityId: string;
  userName: string;
  externalId: string;
  heldBy: Array<{ id: string; userName: string; source: string }>;
}

/**
 * Access someone holds that breaks an invariant of the mappings (policy/invariants.ts): reported,
 * never revoked on its own. A maxHolders violation is about a group, not a person (identity null).
 */
export interface InvariantViolation {
  invariant: string;
  identityId: string | null;
  userName: string | null;
  accessGroupIds: string[];
  message: string;
}

export interface Plan {
  createdAt: string;
  scope: 'full' | 'identities';
  identities: number;
  operations: Operation[];
  summary: PlanSummary;
  /** Things an operator should see that are not operations: orphans only reported, unreachable systems... */
  warnings: string[];
  /** Identities in scope refused access because their externalId is not theirs alone (absent: none). */
  conflicts?: CorrelationConflict[];
  /** The earliest instant at which some identity in scope needs another look (validity start/end, leave date...). */
  nextCheckAt: string | null;
  /** Access the lock systems hold that breaks an invariant of the mappings (absent: none, or no invariants). */
  violations?: InvariantViolation[];
}

export type RunStatus = 'planned' | 'held' | 'approved' | 'applying' | 'applied' | 'partial' | 'failed' | 'cancelled';

/** Why an operation did not land, as the executor saw it: enough for a queue to decide on another try. */
export interface OperationError {
  code: string;
  message: string;
  /** Whether trying again can help (the LockstepError's `retryable`). Absent in results recorded before it was kept. */
  retryable?: boolean;
  /** How long the lock system asked to be left alone (its Retry-After), when it said. */
  retryAfterMs?: number;
}

export interface OperationResult {
  key: string;
  status: 'applied' | 'failed' | 'skipped';
  error?: OperationError;
  attempts: number;
  at: string;
}

/**
 * Whether a later try of this operation can help: a failure whose error was retryable (a
 * timeout, a 5xx, a 429, a cardholder held open for editing...). Results recorded before
 * `retryable` was kept fall back to the error code.
 */
export function isRetryableResult(r: Pick<OperationResult, 'status' | 'error'>): boolean {
  if (r.status !== 'failed' || !r.error) return false;
  return r.error.retryable ?? isTransientCode(r.error.code);
}

/**
 * A fingerprint of what a plan would change (the operations, their targets and values; not the
 * reasons' wording): `apply --expect` refuses a plan whose fingerprint differs from the one shown.
 */
export function planDigest(plan: Pick<Plan, 'operations'>): string {
  const h = createHash('sha256');
  // validity by its day: a window a class caps is counted from the instant it is planned, so
  // `plan` and the `apply --expect` after it would otherwise never agree on a new grant's end
  const day = (v: string | null | undefined) => (v ? v.slice(0, 10) : '');
  const lines = plan.operations.map((o) =>
    [
      o.key,
      o.kind,
      o.system,
      o.identityId ?? '',
      o.accountId ?? '',
      o.group?.ref ?? '',
      day(o.validity?.from),
      day(o.validity?.until),
      o.credentialId ?? '',
      o.credentialState ?? '',
    ].join('\u0001'),
  );
  lines.sort();
  for (const l of lines) h.update(l).update('\n');
  return h.digest('hex').slice(0, 16);
}

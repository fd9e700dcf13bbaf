/**
 * Governance records that change what policy grants one person: access exceptions (a recorded
 * "deny this group to this person until then") and, from access requests, time-bound grants.
 * The store keeps them; policy evaluation honours them (policy/exceptions.ts); reconcile and
 * the API create them.
 */

/** Where an exception came from: a person's decision, or an access review's revoke. */
export type ExceptionSource = 'manual' | 'review';

/** "Deny access group G to person P until D, because R." */
export interface AccessException {
  id: string;
  identityId: string;
  /** Mapping id of the access group. */
  accessGroupId: string;
  /** ISO instant: the exception ends then and the person is granted the group again if policy still says so. */
  until: string;
  reason: string;
  source: ExceptionSource;
  /** The review (and item) a review's revoke came from; null for a manual exception. */
  sourceRef: string | null;
  createdBy: string;
  createdAt: string;
  removedAt: string | null;
  removedBy: string | null;
  removedReason: string | null;
}

/** An exception in force at `now`: not removed, not yet ended. */
export function exceptionInForce(e: Pick<AccessException, 'removedAt' | 'until'>, now: Date): boolean {
  return e.removedAt === null && Date.parse(e.until) > now.getTime();
}

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

/** One approval an access request needs: the group's owner (or any approver, where none is declared), or the sponsor. */
export interface ApprovalStep {
  kind: 'owner' | 'approver' | 'sponsor';
  /** Who may give it: the owner or sponsor (userName or email); null: anyone with the approver role. */
  who: string | null;
  /** The access groups this step approves (owner steps). */
  groups: string[];
  approvedBy: string | null;
  approvedAt: string | null;
  comment: string | null;
}

export type RequestStatus = 'pending' | 'approved' | 'denied';

/** A request for an access group or a role bundle's groups, for a time window. */
export interface AccessRequest {
  id: string;
  identityId: string;
  kind: 'accessGroup' | 'role';
  /** The access group id or role bundle id asked for. */
  target: string;
  /** The access groups it grants once approved. */
  groups: string[];
  validFrom: string;
  validUntil: string;
  justification: string;
  status: RequestStatus;
  steps: ApprovalStep[];
  requestedBy: string;
  createdAt: string;
  decidedAt: string | null;
  decidedBy: string | null;
  decisionComment: string | null;
}

/** What policy evaluation needs of an approved request: a time-bound grant. */
export type RequestGrant = Pick<AccessRequest, 'id' | 'groups' | 'validFrom' | 'validUntil' | 'decidedBy' | 'justification' | 'kind' | 'target'>;

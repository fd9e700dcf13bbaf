/**
 * Governance records that change what policy grants one person: access exceptions (a recorded
 * "deny this group to this person until then") and, from access requests, time-bound grants.
 * The store keeps them; policy evaluation honours them (policy/exception-denials.ts); reconcile and
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

/** A calendar duration (ISO 8601, with years and months: `P3M`, `P1Y`, `P14D`, `PT1H`): what review schedules use. */
export const CALENDAR_DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

/** `at` plus a calendar duration (months and years by the calendar, UTC); NaN when `d` is not one. */
export function addCalendar(at: number, d: string): number {
  const m = CALENDAR_DURATION.exec(d);
  if (!m) return Number.NaN;
  const n = (i: number) => Number(m[i] ?? 0);
  const t = new Date(at);
  if (n(1) || n(2)) t.setUTCMonth(t.getUTCMonth() + n(1) * 12 + n(2));
  return t.getTime() + (((n(3) * 7 + n(4)) * 24 + n(5)) * 60 + n(6)) * 60_000 + n(7) * 1000;
}

export type ReviewerKind = 'owner' | 'manager' | 'sponsor';
export type ReviewDecision = 'keep' | 'revoke';

/** One campaign of a declared review: started on schedule or by hand, closed at its deadline. */
export interface ReviewCampaign {
  id: string;
  reviewId: string;
  status: 'open' | 'closed';
  startedAt: string;
  startedBy: string;
  deadline: string;
  nextReminderAt: string | null;
  /** Until when a revoke's exception lasts (the next campaign, or the declared duration). */
  revokeUntil: string;
  undecided: ReviewDecision;
  closedAt: string | null;
}

/** One person holding one group in the campaign's scope, with their reviewer and the decision. */
export interface ReviewItem {
  id: string;
  campaignId: string;
  identityId: string;
  userName: string;
  accessGroupId: string;
  reviewerKind: ReviewerKind | null;
  /** Who decides (userName or email); null: any approver. */
  reviewer: string | null;
  decision: ReviewDecision | null;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
  /** reviewer: a person decided; deadline: the declared outcome for undecided items. */
  decidedVia: 'reviewer' | 'deadline' | null;
  exceptionId: string | null;
  /** Invariants the membership breaks as the last plans found it (issue 27): such items come first. */
  violations?: string[];
}

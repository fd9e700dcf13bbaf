/**
 * Access reviews (issue 15): campaigns of the reviews the mappings declare. A campaign's items
 * are the people policy entitles to a group in its scope, each with a reviewer (the first of
 * the declared kinds the item has: the group's owner, the person's manager or sponsor; none:
 * any approver). A reviewer keeps or revokes; a revoke is an access exception (governance/
 * exceptions.ts) with the review as its reason, until the next campaign or the declared
 * duration, so the revocation goes through the guard and the budget like any other. At the
 * deadline undecided items get the declared outcome. Everything is in the audit log.
 */
import { LockstepError } from '../domain/errors.js';
import { addCalendar, type ReviewCampaign, type ReviewDecision, type ReviewItem, type ReviewerKind } from '../domain/governance.js';
import type { Identity } from '../domain/identity.js';
import { evaluate } from '../policy/evaluate.js';
import type { ReviewSpec } from '../policy/schema.js';
import { iterateIdentities } from '../store/identities.js';
import { loadAnchors } from '../store/links.js';
import { listViolations } from '../store/invariants.js';
import { governanceInForce } from '../store/requests.js';
import {
  closeCampaign,
  getCampaign,
  getItem,
  insertCampaign,
  lastCampaigns,
  listCampaigns,
  listItems,
  recordDecisions,
  recordReminder,
  type NewItem,
} from '../store/reviews.js';
import { createAccessException } from './exceptions.js';
import { GovernanceForbidden, matches, type Caller } from './requests.js';
import { toCsv } from './report.js';
import { loadSponsorStates } from '../reconcile/sponsors.js';
import type { EngineContext } from '../reconcile/types.js';

function specOf(ctx: EngineContext, reviewId: string): ReviewSpec {
  const spec = ctx.policy.mappings.reviews.find((r) => r.id === reviewId);
  if (!spec)
    throw new LockstepError(
      'not_found',
      `no review ${JSON.stringify(reviewId)} in the mappings (reviews: ${ctx.policy.mappings.reviews.map((r) => r.id).join(', ') || 'none'})`,
      { field: 'id' },
    );
  return spec;
}

/** Memberships that break an invariant, as the last plans found them: `identity|group` → invariant ids. */
async function violatingMemberships(ctx: EngineContext): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (ctx.policy.invariants.list.length === 0) return out;
  for (const v of await listViolations(ctx.db)) {
    if (v.identityId === null) continue;
    for (const g of v.accessGroupIds) {
      const k = `${v.identityId}|${g}`;
      out.set(k, [...(out.get(k) ?? []), v.invariant]);
    }
  }
  return out;
}

function scopeGroups(ctx: EngineContext, spec: ReviewSpec): Set<string> {
  const out = new Set<string>();
  for (const id of spec.scope.accessGroups ?? []) {
    if (!ctx.policy.accessGroups.has(id))
      throw new LockstepError('validation', `review ${spec.id}: scope.accessGroups names ${JSON.stringify(id)}, which is not an access group of the mappings`, {
        field: 'scope.accessGroups',
      });
    out.add(id);
  }
  if (spec.scope.protectionClass !== undefined)
    for (const g of ctx.policy.accessGroups.values()) if (g.protectionClass === spec.scope.protectionClass) out.add(g.id);
  return out;
}

function reviewerOf(ctx: EngineContext, spec: ReviewSpec, identity: Identity, groupId: string): { kind: ReviewerKind | null; who: string | null } {
  for (const kind of spec.reviewers) {
    const who =
      kind === 'owner' ? ctx.policy.mappings.accessGroups.find((g) => g.id === groupId)?.owner : kind === 'manager' ? identity.manager : identity.sponsor;
    if (typeof who === 'string' && who.trim() !== '') return { kind, who: who.trim() };
  }
  return { kind: null, who: null };
}

/** Starts a campaign of a declared review now: one item per person entitled to a group in its scope. */
export async function startReview(ctx: EngineContext, reviewId: string, actor: string): Promise<{ campaign: ReviewCampaign; items: ReviewItem[] }> {
  const spec = specOf(ctx, reviewId);
  const groups = scopeGroups(ctx, spec);
  const now = ctx.now();
  const items: NewItem[] = [];
  // violations are evidence: items whose membership breaks an invariant say so and come first;
  // with scope.violations every such membership is an item, whatever its group
  const violating = await violatingMemberships(ctx);
  const withViolations = spec.scope.violations === true;
  for await (const page of iterateIdentities(ctx.db, 5000, { includeDeleted: false })) {
    const ids = page.map((i) => i.id);
    const [anchors, sponsors, governance] = await Promise.all([
      loadAnchors(ctx.db, ids),
      loadSponsorStates(ctx, page, now),
      governanceInForce(ctx.db, ids, now),
    ]);
    for (const identity of page) {
      const e = evaluate(identity, ctx.policy, {
        now,
        anchors: anchors.get(identity.id) ?? {},
        sponsor: sponsors.get(identity.id),
        exceptions: governance.exceptions.get(identity.id),
        grants: governance.grants.get(identity.id),
      });
      for (const ent of e.entitlements) {
        const broken = violating.get(`${identity.id}|${ent.accessGroup.id}`);
        if (!groups.has(ent.accessGroup.id) && !(withViolations && broken)) continue;
        const r = reviewerOf(ctx, spec, identity, ent.accessGroup.id);
        items.push({
          identityId: identity.id,
          userName: identity.userName,
          accessGroupId: ent.accessGroup.id,
          reviewerKind: r.kind,
          reviewer: r.who,
          ...(broken ? { violations: broken } : {}),
        });
      }
      // held in a lock system although an invariant refuses it (granted outside lockstep): still the person's to review
      for (const d of e.denied) {
        const broken = d.invariant === undefined ? undefined : violating.get(`${identity.id}|${d.accessGroupId}`);
        if (
          !broken ||
          !(withViolations || groups.has(d.accessGroupId)) ||
          items.some((i) => i.identityId === identity.id && i.accessGroupId === d.accessGroupId)
        )
          continue;
        const r = reviewerOf(ctx, spec, identity, d.accessGroupId);
        items.push({
          identityId: identity.id,
          userName: identity.userName,
          accessGroupId: d.accessGroupId,
          reviewerKind: r.kind,
          reviewer: r.who,
          violations: broken,
        });
      }
    }
  }
  const at = now.getTime();
  const deadline = addCalendar(at, spec.deadline);
  const remind = spec.remindEvery ? addCalendar(at, spec.remindEvery) : Number.NaN;
  const revokeUntil = addCalendar(at, spec.revokeFor ?? spec.every ?? 'P90D');
  const campaign = await insertCampaign(
    ctx.db,
    {
      reviewId: spec.id,
      startedAt: now.toISOString(),
      startedBy: actor,
      deadline: new Date(deadline).toISOString(),
      nextReminderAt: remind < deadline ? new Date(remind).toISOString() : null,
      revokeUntil: new Date(revokeUntil).toISOString(),
      undecided: spec.undecided,
    },
    items,
  );
  return { campaign, items: await listItems(ctx.db, campaign.id) };
}

async function openCampaign(ctx: EngineContext, id: string): Promise<ReviewCampaign> {
  const c = await getCampaign(ctx.db, id);
  if (!c) throw new LockstepError('not_found', `no review campaign ${id}`, { field: 'id' });
  if (c.status !== 'open') throw new LockstepError('precondition', `review campaign ${id} closed at ${c.closedAt}`, { field: 'id' });
  return c;
}

/** A revoke: the exception (the review as its reason) the item's decision points at. */
async function revokeException(ctx: EngineContext, c: ReviewCampaign, item: ReviewItem, by: string, why: string): Promise<string | null> {
  if (Date.parse(c.revokeUntil) <= ctx.now().getTime()) return null;
  const { exception } = await createAccessException(ctx, {
    who: item.identityId,
    accessGroupId: item.accessGroupId,
    until: c.revokeUntil,
    reason: `access review ${c.reviewId} (campaign ${c.id}): ${why}`,
    actor: by,
    source: 'review',
    sourceRef: `${c.id}/${item.id}`,
  });
  return exception.id;
}

/** A reviewer's keep or revoke (with a comment; required to revoke). The caller reconciles the person after a revoke. */
export async function decideReviewItem(
  ctx: EngineContext,
  campaignId: string,
  itemId: string,
  caller: Caller,
  decision: ReviewDecision,
  comment: string | null,
): Promise<ReviewItem> {
  const c = await openCampaign(ctx, campaignId);
  const item = await getItem(ctx.db, campaignId, itemId);
  if (!item) throw new LockstepError('not_found', `no item ${itemId} in review campaign ${campaignId}`, { field: 'item' });
  if (item.decision !== null)
    throw new LockstepError('precondition', `item ${itemId} was decided already (${item.decision} by ${item.decidedBy})`, { field: 'item' });
  if (matches(caller, item.userName)) throw new GovernanceForbidden(`four-eyes: ${item.userName} cannot review their own access`, 'item');
  const mayDecide = item.reviewer === null ? caller.roles.includes('approver') : matches(caller, item.reviewer);
  if (!mayDecide)
    throw new GovernanceForbidden(
      `item ${itemId} is for ${item.reviewerKind ? `${item.reviewerKind} ` : ''}${item.reviewer ?? 'an approver'} to review; ${caller.actor} is not`,
      'item',
    );
  const text = comment?.trim() || null;
  if (decision === 'revoke' && text === null) throw new LockstepError('validation', 'comment must say why the access is revoked', { field: 'comment' });
  const at = ctx.now().toISOString();
  const exceptionId = decision === 'revoke' ? await revokeException(ctx, c, item, caller.actor, `revoked by ${caller.actor}: ${text}`) : null;
  const [done] = await recordDecisions(ctx.db, c.id, [
    {
      itemId: item.id,
      decision,
      by: caller.actor,
      at,
      comment: text,
      via: 'reviewer',
      exceptionId,
      audit: {
        actor: caller.actor,
        action: 'review.decided',
        subject: item.identityId,
        at,
        data: { reviewId: c.reviewId, campaignId: c.id, itemId: item.id, accessGroupId: item.accessGroupId, decision, comment: text, exceptionId },
      },
    },
  ]);
  if (!done) throw new LockstepError('precondition', `item ${itemId} was decided meanwhile`, { field: 'item' });
  return done;
}

export interface ReviewTick {
  started: string[];
  reminded: string[];
  closed: string[];
  /** People whose access a deadline's revoke outcome took: reconciled together (one run, through the guard). */
  revoked: string[];
}

/**
 * What the schedule does (the maintenance timer in `serve`, `lockstep review tick`): closes
 * campaigns past their deadline (undecided items get the declared outcome), sends reminders
 * that are due (audit `review.reminder`), and starts campaigns whose `every` has come round.
 */
export async function tickReviews(ctx: EngineContext, reconcile: (identityIds: string[]) => Promise<unknown>): Promise<ReviewTick> {
  const out: ReviewTick = { started: [], reminded: [], closed: [], revoked: [] };
  const now = ctx.now();
  const at = now.toISOString();
  for (const c of await listCampaigns(ctx.db, { status: 'open' })) {
    const items = await listItems(ctx.db, c.id);
    const open = items.filter((i) => i.decision === null);
    if (Date.parse(c.deadline) <= now.getTime()) {
      const decisions = [];
      for (const item of open) {
        const exceptionId =
          c.undecided === 'revoke'
            ? await revokeException(ctx, c, item, 'system:review-deadline', `undecided at the deadline ${c.deadline}: revoked (undecided: revoke)`)
            : null;
        if (exceptionId) out.revoked.push(item.identityId);
        decisions.push({
          itemId: item.id,
          decision: c.undecided,
          by: 'system:review-deadline',
          at,
          comment: `undecided at the deadline (undecided: ${c.undecided})`,
          via: 'deadline' as const,
          exceptionId,
          audit: {
            actor: 'system:review-deadline',
            action: 'review.decided',
            subject: item.identityId,
            at,
            data: {
              reviewId: c.reviewId,
              campaignId: c.id,
              itemId: item.id,
              accessGroupId: item.accessGroupId,
              decision: c.undecided,
              via: 'deadline',
              exceptionId,
            },
          },
        });
      }
      await recordDecisions(ctx.db, c.id, decisions);
      const all = await listItems(ctx.db, c.id);
      await closeCampaign(ctx.db, c.id, {
        at,
        actor: 'system:review-deadline',
        audit: {
          items: all.length,
          kept: all.filter((i) => i.decision === 'keep').length,
          revoked: all.filter((i) => i.decision === 'revoke').length,
          undecidedAtDeadline: open.length,
        },
      });
      out.closed.push(c.id);
    } else if (c.nextReminderAt !== null && Date.parse(c.nextReminderAt) <= now.getTime() && open.length > 0) {
      const spec = ctx.policy.mappings.reviews.find((r) => r.id === c.reviewId);
      const next = spec?.remindEvery ? addCalendar(now.getTime(), spec.remindEvery) : Number.NaN;
      const reviewers: Record<string, number> = {};
      for (const i of open) reviewers[i.reviewer ?? '(any approver)'] = (reviewers[i.reviewer ?? '(any approver)'] ?? 0) + 1;
      await recordReminder(ctx.db, c.id, {
        at,
        next: next < Date.parse(c.deadline) ? new Date(next).toISOString() : null,
        audit: { reviewId: c.reviewId, deadline: c.deadline, open: open.length, reviewers },
      });
      out.reminded.push(c.id);
    }
  }
  const last = await lastCampaigns(ctx.db);
  for (const spec of ctx.policy.mappings.reviews) {
    if (!spec.every) continue;
    const l = last.get(spec.id);
    if (l && l.status === 'open' && !out.closed.includes(l.id)) continue;
    if (l && addCalendar(Date.parse(l.startedAt), spec.every) > now.getTime()) continue;
    const { campaign } = await startReview(ctx, spec.id, 'system:schedule');
    out.started.push(campaign.id);
  }
  if (out.revoked.length) await reconcile([...new Set(out.revoked)]);
  return out;
}

export interface ReviewReport {
  campaign: ReviewCampaign;
  summary: { items: number; kept: number; revoked: number; undecided: number; byDeadline: number };
  items: ReviewItem[];
}

/** The evidence: who reviewed what, when, with which outcome. */
export async function reviewReport(ctx: EngineContext, campaignId: string): Promise<ReviewReport> {
  const campaign = await getCampaign(ctx.db, campaignId);
  if (!campaign) throw new LockstepError('not_found', `no review campaign ${campaignId}`, { field: 'id' });
  const items = await listItems(ctx.db, campaign.id);
  return {
    campaign,
    summary: {
      items: items.length,
      kept: items.filter((i) => i.decision === 'keep').length,
      revoked: items.filter((i) => i.decision === 'revoke').length,
      undecided: items.filter((i) => i.decision === null).length,
      byDeadline: items.filter((i) => i.decidedVia === 'deadline').length,
    },
    items,
  };
}

const REPORT_COLUMNS: Array<keyof ReviewItem> = [
  'id',
  'userName',
  'identityId',
  'accessGroupId',
  'reviewerKind',
  'reviewer',
  'decision',
  'decidedBy',
  'decidedAt',
  'decidedVia',
  'comment',
  'exceptionId',
];

export function reviewReportCsv(r: ReviewReport): string {
  return toCsv(r.items, REPORT_COLUMNS);
}

export { listCampaigns as listReviewCampaigns };

import { randomUUID } from 'node:crypto';
import type { ReviewCampaign, ReviewDecision, ReviewItem, ReviewerKind } from '../domain/governance.js';
import { LockstepError } from '../domain/errors.js';
import { appendAudit, type AuditEntryInput } from './audit.js';
import type { Db, Queryable } from './db.js';
import { isUuid } from './identities.js';

type T = Date | string;
const isoOf = (v: T): string => new Date(v).toISOString();
const isoOrNull = (v: T | null): string | null => (v === null ? null : isoOf(v));

interface CampaignRow {
  id: string;
  review_id: string;
  status: ReviewCampaign['status'];
  started_at: T;
  started_by: string;
  deadline: T;
  next_reminder_at: T | null;
  revoke_until: T;
  undecided: ReviewDecision;
  closed_at: T | null;
}

interface ItemRow {
  id: string;
  campaign_id: string;
  identity_id: string;
  user_name: string;
  access_group_id: string;
  reviewer_kind: ReviewerKind | null;
  reviewer: string | null;
  decision: ReviewDecision | null;
  decided_by: string | null;
  decided_at: T | null;
  comment: string | null;
  decided_via: ReviewItem['decidedVia'];
  exception_id: string | null;
  violations?: string[] | null;
}

const campaignOf = (r: CampaignRow): ReviewCampaign => ({
  id: r.id,
  reviewId: r.review_id,
  status: r.status,
  startedAt: isoOf(r.started_at),
  startedBy: r.started_by,
  deadline: isoOf(r.deadline),
  nextReminderAt: isoOrNull(r.next_reminder_at),
  revokeUntil: isoOf(r.revoke_until),
  undecided: r.undecided,
  closedAt: isoOrNull(r.closed_at),
});

const itemOf = (r: ItemRow): ReviewItem => ({
  id: r.id,
  campaignId: r.campaign_id,
  identityId: r.identity_id,
  userName: r.user_name,
  accessGroupId: r.access_group_id,
  reviewerKind: r.reviewer_kind,
  reviewer: r.reviewer,
  decision: r.decision,
  decidedBy: r.decided_by,
  decidedAt: isoOrNull(r.decided_at),
  comment: r.comment,
  decidedVia: r.decided_via,
  exceptionId: r.exception_id,
  violations: r.violations ?? [],
});

export type NewItem = Pick<ReviewItem, 'identityId' | 'userName' | 'accessGroupId' | 'reviewerKind' | 'reviewer'> & { violations?: string[] };

/** Starts a campaign with its items and its audit entry (`review.started`); refused while one of the same review is open. */
export async function insertCampaign(db: Db, c: Omit<ReviewCampaign, 'id' | 'status' | 'closedAt'>, items: NewItem[]): Promise<ReviewCampaign> {
  return db.transaction(async (tx) => {
    const { rows: open } = await tx.query<{ id: string }>("SELECT id FROM review_campaigns WHERE review_id = $1 AND status = 'open' FOR UPDATE", [c.reviewId]);
    if (open.length) throw new LockstepError('precondition', `review ${c.reviewId} has a campaign open already (${open[0].id})`, { field: 'id' });
    const { rows } = await tx.query<CampaignRow>(
      `INSERT INTO review_campaigns (id, review_id, started_at, started_by, deadline, next_reminder_at, revoke_until, undecided)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
      [randomUUID(), c.reviewId, c.startedAt, c.startedBy, c.deadline, c.nextReminderAt, c.revokeUntil, c.undecided],
    );
    const campaign = campaignOf(rows[0]);
    if (items.length) {
      await tx.query(
        `INSERT INTO review_items (id, campaign_id, identity_id, user_name, access_group_id, reviewer_kind, reviewer, violations)
         SELECT u.id, $1, u.identity_id, u.user_name, u.access_group_id, u.reviewer_kind, u.reviewer, coalesce(string_to_array(nullif(u.violations, ''), ','), '{}')
           FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u(id, identity_id, user_name, access_group_id, reviewer_kind, reviewer, violations)`,
        [
          campaign.id,
          items.map(() => randomUUID()),
          items.map((i) => i.identityId),
          items.map((i) => i.userName),
          items.map((i) => i.accessGroupId),
          items.map((i) => i.reviewerKind),
          items.map((i) => i.reviewer),
          items.map((i) => (i.violations ?? []).join(',')),
        ],
      );
    }
    await appendAudit(tx, [
      {
        actor: c.startedBy,
        action: 'review.started',
        subject: campaign.id,
        at: c.startedAt,
        data: { reviewId: c.reviewId, campaignId: campaign.id, items: items.length, deadline: c.deadline, undecided: c.undecided },
      },
    ]);
    return campaign;
  });
}

export async function getCampaign(q: Queryable, id: string): Promise<ReviewCampaign | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<CampaignRow>('SELECT * FROM review_campaigns WHERE id = $1', [id]);
  return rows[0] ? campaignOf(rows[0]) : null;
}

export async function listCampaigns(
  q: Queryable,
  opts: { reviewId?: string; status?: ReviewCampaign['status']; limit?: number } = {},
): Promise<ReviewCampaign[]> {
  const { rows } = await q.query<CampaignRow>(
    'SELECT * FROM review_campaigns WHERE ($1::text IS NULL OR review_id = $1) AND ($2::text IS NULL OR status = $2) ORDER BY started_at DESC, id LIMIT $3',
    [opts.reviewId ?? null, opts.status ?? null, opts.limit ?? 1000],
  );
  return rows.map(campaignOf);
}

/** The last campaign of each review, by review id. */
export async function lastCampaigns(q: Queryable): Promise<Map<string, ReviewCampaign>> {
  const { rows } = await q.query<CampaignRow>('SELECT DISTINCT ON (review_id) * FROM review_campaigns ORDER BY review_id, started_at DESC');
  return new Map(rows.map((r) => [r.review_id, campaignOf(r)]));
}

export async function listItems(q: Queryable, campaignId: string): Promise<ReviewItem[]> {
  if (!isUuid(campaignId)) return [];
  const { rows } = await q.query<ItemRow>(
    'SELECT * FROM review_items WHERE campaign_id = $1 ORDER BY cardinality(violations) = 0, user_name, access_group_id, id',
    [campaignId],
  );
  return rows.map(itemOf);
}

export async function getItem(q: Queryable, campaignId: string, itemId: string): Promise<ReviewItem | null> {
  if (!isUuid(campaignId) || !isUuid(itemId)) return null;
  const { rows } = await q.query<ItemRow>('SELECT * FROM review_items WHERE campaign_id = $1 AND id = $2', [campaignId, itemId]);
  return rows[0] ? itemOf(rows[0]) : null;
}

/** Records decisions on undecided items (of an open campaign) with their audit entries; items decided meanwhile are left alone. */
export async function recordDecisions(
  db: Db,
  campaignId: string,
  decisions: Array<{
    itemId: string;
    decision: ReviewDecision;
    by: string;
    at: string;
    comment: string | null;
    via: 'reviewer' | 'deadline';
    exceptionId: string | null;
    audit: AuditEntryInput;
  }>,
): Promise<ReviewItem[]> {
  if (decisions.length === 0) return [];
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<ItemRow>(
      `UPDATE review_items i SET decision = u.decision, decided_by = u.by, decided_at = u.at, comment = u.comment, decided_via = u.via, exception_id = u.exception_id
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::uuid[]) AS u(id, decision, by, at, comment, via, exception_id)
        WHERE i.id = u.id AND i.campaign_id = $1 AND i.decision IS NULL
          AND EXISTS (SELECT 1 FROM review_campaigns c WHERE c.id = $1 AND c.status = 'open')
        RETURNING i.*`,
      [
        campaignId,
        decisions.map((d) => d.itemId),
        decisions.map((d) => d.decision),
        decisions.map((d) => d.by),
        decisions.map((d) => d.at),
        decisions.map((d) => d.comment),
        decisions.map((d) => d.via),
        decisions.map((d) => d.exceptionId),
      ],
    );
    const done = new Set(rows.map((r) => r.id));
    await appendAudit(
      tx,
      decisions.filter((d) => done.has(d.itemId)).map((d) => d.audit),
    );
    return rows.map(itemOf);
  });
}

export async function closeCampaign(db: Db, id: string, r: { at: string; actor: string; audit: Record<string, unknown> }): Promise<ReviewCampaign> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<CampaignRow>(
      "UPDATE review_campaigns SET status = 'closed', closed_at = $2, next_reminder_at = NULL WHERE id = $1 AND status = 'open' RETURNING *",
      [id, r.at],
    );
    if (!rows.length) throw new LockstepError('precondition', `review campaign ${id} is not open`, { field: 'id' });
    const c = campaignOf(rows[0]);
    await appendAudit(tx, [{ actor: r.actor, action: 'review.closed', subject: c.id, at: r.at, data: { reviewId: c.reviewId, campaignId: c.id, ...r.audit } }]);
    return c;
  });
}

export async function recordReminder(db: Db, id: string, r: { at: string; next: string | null; audit: Record<string, unknown> }): Promise<void> {
  await db.transaction(async (tx) => {
    const { rowCount } = await tx.query("UPDATE review_campaigns SET next_reminder_at = $2 WHERE id = $1 AND status = 'open' AND next_reminder_at <= $3", [
      id,
      r.next,
      r.at,
    ]);
    if (rowCount) await appendAudit(tx, [{ actor: 'system', action: 'review.reminder', subject: id, at: r.at, data: { campaignId: id, ...r.audit } }]);
  });
}

import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { decideReviewItem, explainIdentity, reviewReport, reviewReportCsv, startReview, tickReviews, type Caller } from '../../../src/governance/index.js';
import { iterateAudit } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

/** The reconcile mappings with an owner on the whitespace and two reviews of it. */
const REVIEWED =
  MAPPINGS.replace('name: Server whitespace, protectionClass: 4 }', 'name: Server whitespace, protectionClass: 4, owner: hall.owner }') +
  `reviews:
  - id: class4-quarterly
    scope: { protectionClass: 4 }
    every: P3M
    reviewers: [owner, manager]
    deadline: P14D
    remindEvery: P3D
    undecided: revoke
  - id: power-by-manager
    scope: { accessGroups: [power] }
    reviewers: [manager]
    deadline: P7D
    revokeFor: P30D
`;
const apply = { trigger: 'test', actor: 'test', apply: true };
const approver = (name: string): Caller => ({ actor: `token:${name}`, names: [name], roles: ['approver'] });

describe.each(storeKinds)('access reviews on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, REVIEWED, {}, (x) => (e = x));
  const groupsOf = (key: string) => Object.keys(membershipsOf(e.sim, key)).sort();
  const reconcileIds = (ids: string[]) => runReconcile(e.ctx, { kind: 'identities', ids }, { ...apply, actor: 'system:review' });

  it('starts a campaign of everyone holding a group in scope; a revoke is an exception with the review as its reason; the report is the evidence', async () => {
    const { identity: a } = await hrPerson(e, 'E1', { groups: ['DC Operations'], manager: 'boss' });
    await hrPerson(e, 'E2', { groups: ['DC Operations'], manager: 'boss' });
    await hrPerson(e, 'E3');
    await runReconcile(e.ctx, { kind: 'full' }, apply);

    const { campaign, items } = await startReview(e.ctx, 'power-by-manager', 'cli:lead');
    expect(campaign).toMatchObject({
      reviewId: 'power-by-manager',
      status: 'open',
      deadline: '2026-06-08T08:00:00.000Z',
      revokeUntil: '2026-07-01T08:00:00.000Z',
      undecided: 'keep',
    });
    expect(items.map((i) => `${i.userName} ${i.accessGroupId} ${i.reviewerKind} ${i.reviewer}`)).toEqual([
      'e1@example.com power manager boss',
      'e2@example.com power manager boss',
    ]);
    await expect(startReview(e.ctx, 'power-by-manager', 'cli:lead')).rejects.toMatchObject({ code: 'precondition' });

    const [i1, i2] = items as [(typeof items)[0], (typeof items)[0]];
    await expect(decideReviewItem(e.ctx, campaign.id, i1.id, approver('someone'), 'keep', null)).rejects.toMatchObject({ details: { rule: 'four-eyes' } });
    await expect(decideReviewItem(e.ctx, campaign.id, i1.id, approver('boss'), 'revoke', '')).rejects.toMatchObject({ field: 'comment' });
    const revoked = await decideReviewItem(e.ctx, campaign.id, i1.id, approver('boss'), 'revoke', 'moved to the NOC');
    expect(revoked).toMatchObject({ decision: 'revoke', decidedBy: 'token:boss', decidedVia: 'reviewer' });
    expect(revoked.exceptionId).toBeTruthy();
    await decideReviewItem(e.ctx, campaign.id, i2.id, approver('boss'), 'keep', 'still on shift');
    await expect(decideReviewItem(e.ctx, campaign.id, i2.id, approver('boss'), 'revoke', 'x')).rejects.toMatchObject({ code: 'precondition' });

    await reconcileIds([a.id]);
    expect(groupsOf('E1')).not.toContain('AG-POWER');
    expect(groupsOf('E2')).toContain('AG-POWER');
    const x = await explainIdentity(e.ctx, 'e1@example.com');
    expect(x.evaluation.denied[0]).toMatchObject({
      accessGroupId: 'power',
      exception: { source: 'review', sourceRef: `${campaign.id}/${i1.id}`, until: '2026-07-01T08:00:00.000Z' },
    });
    expect(x.evaluation.denied[0].reason).toContain('access review power-by-manager');

    const report = await reviewReport(e.ctx, campaign.id);
    expect(report.summary).toEqual({ items: 2, kept: 1, revoked: 1, undecided: 0, byDeadline: 0 });
    const csv = reviewReportCsv(report).split('\n');
    expect(csv[0]).toBe('id,userName,identityId,accessGroupId,reviewerKind,reviewer,decision,decidedBy,decidedAt,decidedVia,comment,exceptionId');
    expect(csv[1]).toContain('e1@example.com');
    expect(csv[1]).toContain(',revoke,token:boss,');

    const audit: string[] = [];
    for await (const en of iterateAudit(e.ctx.db))
      if (en.action.startsWith('review.') || en.action.startsWith('exception.')) audit.push(`${en.action} ${en.actor}`);
    expect(audit).toEqual(['review.started cli:lead', 'exception.created token:boss', 'review.decided token:boss', 'review.decided token:boss']);
  });

  it('starts on schedule, reminds, and at the deadline gives undecided items the declared outcome through the guard', async () => {
    for (const k of ['E1', 'E2', 'E3', 'E4']) await hrPerson(e, k, { groups: ['DC Operations'] });
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    const first = await tickReviews(e.ctx, reconcileIds);
    expect(first.started).toHaveLength(1);
    const campaignId = first.started[0];
    const { items } = await reviewReport(e.ctx, campaignId);
    expect(items.map((i) => `${i.userName} ${i.accessGroupId} ${i.reviewer}`)).toEqual([
      'e1@example.com whitespace hall.owner',
      'e2@example.com whitespace hall.owner',
      'e3@example.com whitespace hall.owner',
      'e4@example.com whitespace hall.owner',
    ]);
    await decideReviewItem(e.ctx, campaignId, items[0].id, approver('hall.owner'), 'keep', null);

    // nothing more to do the same day; a reminder three days on
    expect(await tickReviews(e.ctx, reconcileIds)).toEqual({ started: [], reminded: [], closed: [], revoked: [] });
    e.setNow('2026-06-04T08:00:00Z');
    expect((await tickReviews(e.ctx, reconcileIds)).reminded).toEqual([campaignId]);

    // at the deadline the three undecided lose the whitespace: one run of three revocations, which the guard holds
    e.setNow('2026-06-15T08:00:01Z');
    const closing = await tickReviews(e.ctx, reconcileIds);
    expect(closing.closed).toEqual([campaignId]);
    expect(closing.revoked.sort()).toEqual(
      items
        .slice(1)
        .map((i) => i.identityId)
        .sort(),
    );
    const report = await reviewReport(e.ctx, campaignId);
    expect(report.campaign.status).toBe('closed');
    expect(report.summary).toEqual({ items: 4, kept: 1, revoked: 3, undecided: 0, byDeadline: 3 });
    expect(groupsOf('E2')).toContain('AG-WS');
    const held = await runReconcile(e.ctx, { kind: 'identities', ids: items.slice(1).map((i) => i.identityId) }, apply);
    expect(held.held).toBe(true);

    // the next campaign is due three months after the first began
    e.setNow('2026-09-01T08:00:00Z');
    expect((await tickReviews(e.ctx, reconcileIds)).started).toHaveLength(1);
    const actions: string[] = [];
    for await (const en of iterateAudit(e.ctx.db)) if (en.action.startsWith('review.')) actions.push(en.action);
    expect(actions.filter((a) => a === 'review.started')).toHaveLength(2);
    expect(actions).toContain('review.reminder');
    expect(actions).toContain('review.closed');
  });
});

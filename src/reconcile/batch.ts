import { appendAudit } from '../store/audit.js';
import { holdInBudgetRun, revocationSubjects, spendRevocationBudget, withBudgetLock } from '../store/budget.js';
import { buildRunPlan } from './plan.js';
import type { EngineContext } from './types.js';

export interface BatchAdmission {
  /** Identities whose jobs may run now: nobody in the batch loses access, or the batch is within the budget. */
  admit: string[];
  /** Identities the held run now holds (everyone in the batch who would lose access); their jobs must not be queued. */
  held: string[];
  /** The held run they wait in. */
  runId: string | null;
  reason: string | null;
}

/**
 * A batch source (an HR export, an Entra delta pull) knows its whole batch before anyone is
 * reconciled, so it is judged as one change: the batch is planned, and its revocations are
 * checked against the revocation budget together. Within the budget they are spent at once (the
 * batch's people are in the window before their jobs run, so the jobs go through as one admitted
 * change); over it, everyone in the batch who would lose access waits in the held run, and
 * nobody of them loses anything until it is approved. People who only gain access are admitted
 * either way: a joiner does not wait for somebody else's approval.
 *
 * One-at-a-time sources (SCIM) stay under the budget as each job spends it.
 */
export async function admitBatch(ctx: EngineContext, ids: string[], opts: { actor: string; trigger: string }): Promise<BatchAdmission> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return { admit: [], held: [], runId: null, reason: null };
  const now = ctx.now();
  const { plan } = await buildRunPlan(ctx, { kind: 'identities', ids: unique });
  const subjects = revocationSubjects(plan.operations);
  if (subjects.length === 0) return { admit: unique, held: [], runId: null, reason: null };
  const g = ctx.policy.lifecycle.guard;
  const limits = { ...g, windowMs: g.windowMinutes * 60_000 };
  return withBudgetLock(ctx.db, async (q) => {
    const spent = await spendRevocationBudget(q, limits, now, subjects, null, false);
    if (spent.recorded) return { admit: unique, held: [], runId: null, reason: null };
    const reason = `${opts.trigger}: a batch of ${unique.length} changed people, ${new Set(subjects.map((s) => s.subject)).size} of whom would lose access; ${spent.verdict.reason}`;
    const h = await holdInBudgetRun(q, { plan, subjects, reason, now });
    const heldIds = new Set(subjects.map((s) => s.subject));
    await appendAudit(q, [
      {
        actor: opts.actor,
        action: 'run.held',
        subject: h.runId,
        runId: h.runId,
        data: { reason, people: h.added, heldPeople: h.people, trigger: opts.trigger, batch: unique.length, summary: plan.summary },
      },
    ]);
    ctx.logger.warn(
      { run: h.runId, batch: unique.length, held: heldIds.size, trigger: opts.trigger },
      `BATCH HELD: ${reason}. Review it with GET /api/v1/runs/${h.runId} and approve with \`lockstep approve ${h.runId}\``,
    );
    return { admit: unique.filter((id) => !heldIds.has(id)), held: unique.filter((id) => heldIds.has(id)), runId: h.runId, reason };
  });
}

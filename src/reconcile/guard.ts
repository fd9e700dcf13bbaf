import type { Plan } from '../domain/plan.js';
import type { GuardPolicy } from '../policy/schema.js';
import { appendAudit } from '../store/audit.js';
import {
  heldAmong,
  holdInBudgetRun,
  revocationSubjects,
  spendRevocationBudget,
  withBudgetLock,
  type BudgetLimits,
  type BudgetVerdict,
} from '../store/budget.js';
import { createRun, updateRun, type Run } from '../store/runs.js';
import type { EngineContext, RunOptions, Scope } from './types.js';

/**
 * The guard's decisions: whether a plan is held for approval, on its own share of its scope
 * (checkGuard, pure) or on the revocation budget spent across runs (spendBudget), and the hold
 * itself, loud.
 */

export interface GuardVerdict {
  hold: boolean;
  /** People (identities or orphan accounts) who would lose access. */
  affected: number;
  scope: number;
  reason: string | null;
}

/**
 * Accidental-deletion prevention (cf. Entra provisioning): a run that would take access from
 * more than the configured share or number of people is held for approval. Small runs (fewer
 * than minRevocationsToHold people) are never held, so one leaver is never delayed.
 */
export function checkGuard(plan: Plan, scopeSize: number, g: GuardPolicy): GuardVerdict {
  const subjects = new Set<string>();
  for (const op of plan.operations) if (op.revocation) subjects.add(op.identityId ?? `${op.system}:${op.accountId}`);
  const affected = subjects.size;
  const pct = scopeSize > 0 ? (affected / scopeSize) * 100 : 100;
  if (affected < g.minRevocationsToHold) return { hold: false, affected, scope: scopeSize, reason: null };
  if (affected > g.maxRevocationsAbsolute || pct > g.maxRevocationsPercent) {
    return {
      hold: true,
      affected,
      scope: scopeSize,
      reason: `this run would take access from ${affected} of ${scopeSize} people (${pct.toFixed(1)}%), above the guard (${g.maxRevocationsPercent}% or ${g.maxRevocationsAbsolute} people): held until approved`,
    };
  }
  return { hold: false, affected, scope: scopeSize, reason: null };
}

/** The guard's limits as the revocation budget reads them. */
export function budgetLimits(ctx: EngineContext): BudgetLimits {
  const g = ctx.policy.lifecycle.guard;
  return { ...g, windowMs: g.windowMinutes * 60_000 };
}

export type Held = { runId: string; reason: string; verdict: GuardVerdict | BudgetVerdict };

/**
 * Holds a run of its own (a full run or an orphan scan the guard stopped): it lists every
 * operation, so the approver sees everyone it affects.
 */
export async function holdOwnRun(ctx: EngineContext, scope: Scope, plan: Plan, verdict: GuardVerdict | BudgetVerdict, opts: RunOptions): Promise<Run> {
  const runScope = scope.kind === 'full' ? 'full' : 'identities';
  const run = await createRun(ctx.db, { id: opts.runId, kind: 'apply', trigger: opts.trigger, status: 'held', scope: runScope, plan });
  const held = await updateRun(ctx.db, run.id, { error: verdict.reason, summary: { ...plan.summary, guard: verdict } });
  await appendAudit(ctx.db, [
    {
      actor: opts.actor,
      action: 'run.held',
      subject: run.id,
      runId: run.id,
      data: { reason: verdict.reason, affected: verdict.affected, scope: verdict.scope, summary: plan.summary, heldScope: scope },
    },
  ]);
  return held;
}

export function loudHold(ctx: EngineContext, h: Held): void {
  ctx.logger.warn(
    { run: h.runId, affected: h.verdict.affected, scope: h.verdict.scope },
    `RUN HELD: ${h.reason}. Review it with GET /api/v1/runs/${h.runId} and approve with \`lockstep approve ${h.runId}\``,
  );
}

/**
 * Spends the revocation budget for a plan about to be applied, or holds it. Identity-scoped
 * plans over the budget join the one run the budget holds (every held person in one run,
 * approvable in one step); a full run or orphan scan over it is held as a run of its own.
 * Approved runs spend the budget without being held (their entries are not counted).
 */
export async function spendBudget(ctx: EngineContext, scope: Scope, plan: Plan, runId: string, opts: RunOptions, now: Date): Promise<Held | null> {
  const subjects = revocationSubjects(plan.operations);
  if (subjects.length === 0) return null;
  const limits = budgetLimits(ctx);
  // someone who waits in a held run keeps their access until it is approved or rejected, whatever
  // asks for them meanwhile and however far the window has moved: they join it again
  if (scope.kind === 'identities' && !opts.approved) {
    const waiting = await heldAmong(ctx.db, [...new Set(subjects.map((s) => s.subject))]);
    if (waiting.length) {
      const reason = `${waiting.length === 1 ? 'this person waits' : `${waiting.length} of these people wait`} in held run ${waiting[0].runId} for approval: nothing of theirs is revoked until it is approved or rejected`;
      return withBudgetLock(ctx.db, async (q) => {
        const h = await holdInBudgetRun(q, { plan, subjects, reason, now, runId: waiting[0].runId });
        if (h.added.length)
          await appendAudit(q, [
            {
              actor: opts.actor,
              action: 'run.held',
              subject: h.runId,
              runId: h.runId,
              data: { reason, people: h.added, heldPeople: h.people, trigger: opts.trigger, summary: plan.summary },
            },
          ]);
        return { runId: h.runId, reason, verdict: { hold: true, affected: waiting.length, population: 0, scope: 'overall', added: h.added.length, reason } };
      });
    }
  }
  // the common case, a leaver within the budget: checked and spent in one round trip
  const spent = await spendRevocationBudget(ctx.db, limits, now, subjects, runId, !!opts.approved);
  if (spent.recorded) return null;
  if (scope.kind !== 'identities') return { runId: '', reason: spent.verdict.reason!, verdict: spent.verdict };
  // over the budget: join the one held run, under the budget's lock (two holders cannot both open one)
  return withBudgetLock(ctx.db, async (q) => {
    // spent by others meanwhile, or approved since: the lock holder's verdict counts
    const again = await spendRevocationBudget(q, limits, now, subjects, runId, false);
    if (again.recorded) return null;
    const v = again.verdict;
    const h = await holdInBudgetRun(q, { plan, subjects, reason: v.reason!, now });
    if (h.added.length) {
      await appendAudit(q, [
        {
          actor: opts.actor,
          action: 'run.held',
          subject: h.runId,
          runId: h.runId,
          data: { reason: v.reason, people: h.added, heldPeople: h.people, trigger: opts.trigger, summary: plan.summary },
        },
      ]);
    }
    return { runId: h.runId, reason: v.reason!, verdict: v };
  });
}

import { randomUUID } from 'node:crypto';
import { LockstepError } from '../domain/errors.js';
import type { Operation, OperationResult, RunStatus } from '../domain/plan.js';
import { appendAudit } from '../store/audit.js';
import { syncAnchorsMany } from '../store/links.js';
import { createRun, findRun, insertFinishedRun, setRunProgress, transitionRun, updateRun, type Run } from '../store/runs.js';
import { applyOperations } from './executor.js';
import { checkGuard } from './guard.js';
import { buildRunPlan, type AnchorChange, type RunPlan } from './plan.js';
import type { EngineContext, RunOptions, RunOutcome, Scope } from './types.js';

/**
 * Remembers when each current entitlement began, so class maxima count from the first grant.
 * The plan lists the identities whose anchors no longer match their entitlements.
 */
async function storeAnchors(ctx: EngineContext, changes: AnchorChange[], now: Date): Promise<void> {
  const changed: Array<{ identityId: string; entitled: Record<string, string> }> = [];
  for (const c of changes) {
    // a window that has not begun yet (pre-hire) counts from its start, as the evaluator did
    const since: Record<string, string> = {};
    for (const e of c.entitled) {
      since[e.accessGroupId] = e.validFrom && Date.parse(e.validFrom) > now.getTime() ? e.validFrom : now.toISOString();
    }
    changed.push({ identityId: c.identityId, entitled: since });
  }
  await syncAnchorsMany(ctx.db, changed);
}

function finalStatus(results: OperationResult[]): RunStatus {
  if (results.length === 0) return 'applied';
  const failed = results.filter((r) => r.status !== 'applied').length;
  if (failed === 0) return 'applied';
  return failed === results.length ? 'failed' : 'partial';
}

/**
 * One reconciliation: plan the scope, hold it if the guard says so, otherwise apply it and
 * record the run. Level-triggered: it reads the world afresh every time, so running it twice,
 * or after a lost event, converges to the same state.
 */
export async function runReconcile(ctx: EngineContext, scope: Scope, opts: RunOptions): Promise<RunOutcome> {
  const now = ctx.now();
  const built = await buildRunPlan(ctx, scope);
  const { plan } = built;
  ctx.hooks?.onPlan?.(plan);
  const runScope = scope.kind === 'full' ? 'full' : 'identities';

  if (!opts.apply) {
    const run = await createRun(ctx.db, { kind: 'plan', trigger: opts.trigger, status: 'planned', scope: runScope, plan });
    await updateRun(ctx.db, run.id, { status: 'planned', finished: true });
    return { run, plan, results: [], held: false, failedRevocations: [], failed: [], nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
  }

  const verdict = checkGuard(plan, built.scopeSize, ctx.policy.lifecycle.guard);
  if (verdict.hold && !opts.approved) {
    const run = await createRun(ctx.db, { kind: 'apply', trigger: opts.trigger, status: 'held', scope: runScope, plan });
    const held = await updateRun(ctx.db, run.id, { error: verdict.reason, summary: { ...plan.summary, guard: verdict } });
    await appendAudit(ctx.db, [
      { actor: opts.actor, action: 'run.held', subject: run.id, runId: run.id, data: { reason: verdict.reason, affected: verdict.affected, scope: verdict.scope, summary: plan.summary, heldScope: scope } },
    ]);
    ctx.logger.warn({ run: run.id, affected: verdict.affected, scope: verdict.scope }, `RUN HELD: ${verdict.reason}. Review with \`lockstep plan\` and approve with \`lockstep approve ${run.id}\``);
    return { run: held, plan, results: [], held: true, failedRevocations: [], failed: [], nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
  }

  if (plan.operations.length === 0 && scope.kind === 'identities') {
    await storeAnchors(ctx, built.anchorChanges, now);
    return { run: null, plan, results: [], held: false, failedRevocations: [], failed: [], nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
  }

  if (scope.kind === 'identities' && plan.operations.length <= RECORD_AFTER_MAX_OPS) {
    // A joiner, mover or leaver: a few operations, over in moments. Its record is written once,
    // when it has finished; its audit entries carry the run id from the start.
    const run: Run = {
      id: randomUUID(),
      kind: 'apply',
      trigger: opts.trigger,
      status: 'applying',
      scope: runScope,
      plan,
      results: [],
      summary: plan.summary as unknown as Record<string, unknown>,
      progress: { done: 0, total: plan.operations.length },
      error: null,
      createdAt: now.toISOString(),
      startedAt: new Date().toISOString(),
      finishedAt: null,
      approvedBy: null,
      approvedAt: null,
    };
    return executeRun(ctx, run, plan.operations, built, opts, now, 'insert');
  }
  const run = await createRun(ctx.db, { kind: 'apply', trigger: opts.trigger, status: 'applying', scope: runScope, plan });
  return executeRun(ctx, run, plan.operations, built, opts, now);
}

/** Identity-scoped runs with at most this many operations record themselves once, at the end. */
const RECORD_AFTER_MAX_OPS = 50;

async function executeRun(
  ctx: EngineContext,
  run: Run,
  ops: Operation[],
  built: RunPlan,
  opts: RunOptions,
  now: Date,
  record: 'update' | 'insert' = 'update',
): Promise<RunOutcome> {
  let lastProgress = 0;
  const results = await applyOperations(ctx, ops, {
    runId: run.id,
    actor: opts.actor,
    onProgress: (done, total) => {
      opts.onProgress?.(done, total);
      // a progress write every 500 operations is plenty for a dashboard
      if (done - lastProgress >= 500) {
        lastProgress = done;
        void setRunProgress(ctx.db, run.id, { done, total }).catch(() => undefined);
      }
    },
  });
  await storeAnchors(ctx, built.anchorChanges, now);
  const failed = ops.filter((_, i) => results[i]!.status !== 'applied');
  const failedRevocations = failed.filter((o) => o.revocation);
  const status = finalStatus(results);
  const plan = run.plan!;
  const outcome = {
    status,
    results,
    progress: { done: results.length, total: results.length },
    summary: { ...plan.summary, applied: results.length - failed.length, failed: failed.length, failedRevocations: failedRevocations.length },
    error: failed.length ? `${failed.length} operation(s) failed${failedRevocations.length ? `, ${failedRevocations.length} of them revocations (they will be retried)` : ''}` : null,
  };
  const finished =
    record === 'insert'
      ? await insertFinishedRun(ctx.db, { ...run, ...outcome, startedAt: run.startedAt! })
      : await updateRun(ctx.db, run.id, { ...outcome, finished: true });
  return { run: finished, plan, results, held: false, failedRevocations, failed, nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
}

/**
 * Approves a held run. The world may have moved since it was held, so the scope is planned
 * afresh; the new plan is applied only if it takes access from no one the approver did not
 * see. Otherwise it is held again as a new run, and the reason says so.
 */
export async function approveRun(ctx: EngineContext, idOrPrefix: string, approver: string): Promise<RunOutcome> {
  const held = await findRun(ctx.db, idOrPrefix);
  if (!held) throw new LockstepError('not_found', `no run matches "${idOrPrefix}" (give the run id or a unique prefix of it)`, { field: 'run' });
  if (held.status !== 'held') throw new LockstepError('precondition', `run ${held.id} is ${held.status}, not held: there is nothing to approve`, { field: 'run' });
  const approved = await transitionRun(ctx.db, held.id, ['held'], 'approved', approver);
  if (!approved) throw new LockstepError('conflict', `run ${held.id} was approved or cancelled by someone else just now`, { field: 'run' });
  await appendAudit(ctx.db, [{ actor: approver, action: 'run.approved', subject: held.id, runId: held.id, data: { summary: held.plan?.summary ?? null } }]);

  const heldOps = held.plan?.operations ?? [];
  const seen = new Set(heldOps.filter((o) => o.revocation).map((o) => o.key));
  const scope: Scope = held.scope === 'full' ? { kind: 'full' } : { kind: 'identities', ids: [...new Set(heldOps.map((o) => o.identityId).filter((x): x is string => !!x))] };
  const now = ctx.now();
  const built = await buildRunPlan(ctx, scope);
  const unseen = built.plan.operations.filter((o) => o.revocation && !seen.has(o.key));
  if (unseen.length > 0 && checkGuard({ ...built.plan, operations: unseen }, built.scopeSize, { ...ctx.policy.lifecycle.guard, minRevocationsToHold: 1 }).hold) {
    await updateRun(ctx.db, held.id, { status: 'cancelled', error: `superseded: the world changed after approval (${unseen.length} new revocations)`, finished: true });
    return runReconcile(ctx, scope, { trigger: `re-plan of ${held.id}`, actor: approver, apply: true });
  }
  const run = await updateRun(ctx.db, held.id, { status: 'applying', plan: built.plan });
  return executeRun(ctx, run, built.plan.operations, built, { trigger: held.trigger, actor: approver, apply: true, approved: true }, now);
}

import { randomUUID } from 'node:crypto';
import { LockstepError } from '../domain/errors.js';
import { planDigest, type Operation, type OperationResult, type Plan, type RunStatus } from '../domain/plan.js';
import { appendAudit, iterateAudit, type AuditEntryInput } from '../store/audit.js';
import { recordViolations } from '../store/invariants.js';
import { recordCredentialHolds, syncAnchorsMany, type AnchorItems } from '../store/links.js';
import { settlementOf, settleWithAnchors } from '../store/queue-state.js';
import { createRun, findRun, getRun, insertFinishedRun, setRunProgress, transitionRun, updateRun, type Run } from '../store/runs.js';
import { approveBudgetWindow, BUDGET_TRIGGER, heldAmong, heldSubjects } from '../store/budget.js';
import { applyOperations, type ApplyOptions } from './execute.js';
import { budgetLimits, checkGuard, holdOwnRun, loudHold, spendBudget } from './guard.js';
import { buildRunPlan, type AnchorChange, type ScopePlan } from './plan.js';
import type { EngineContext, Leases, RunOptions, RunOutcome, Scope } from './types.js';

/**
 * Remembers when each current entitlement began, so class maxima count from the first grant.
 * The plan lists the identities whose anchors no longer match their entitlements.
 */
function anchorItems(changes: AnchorChange[], now: Date): AnchorItems {
  const changed: AnchorItems = [];
  for (const c of changes) {
    // a window that has not begun yet (pre-hire) counts from its start, as the evaluator did
    const since: Record<string, string> = {};
    for (const e of c.entitled) {
      since[e.accessGroupId] = e.validFrom && Date.parse(e.validFrom) > now.getTime() ? e.validFrom : now.toISOString();
    }
    changed.push({ identityId: c.identityId, entitled: since });
  }
  return changed;
}

async function storeAnchors(ctx: EngineContext, changes: AnchorChange[], now: Date): Promise<void> {
  await syncAnchorsMany(ctx.db, anchorItems(changes, now));
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
  await noteViolations(ctx, scope, plan, opts.actor, now);
  const runScope = scope.kind === 'full' ? 'full' : 'identities';
  const digest = planDigest(plan);
  const nothing = { results: [], failedRevocations: [], failed: [], nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity, digest };

  if (!opts.apply) {
    const run = await createRun(ctx.db, { id: opts.runId, kind: 'plan', trigger: opts.trigger, status: 'planned', scope: runScope, plan });
    await updateRun(ctx.db, run.id, { status: 'planned', finished: true });
    return { run, plan, held: false, ...nothing };
  }

  if (opts.expectDigest && opts.expectDigest !== digest) {
    throw new LockstepError(
      'conflict',
      `the world moved since the plan was shown: it was ${opts.expectDigest}, it is now ${digest} (${plan.operations.length} operation(s)); nothing was applied. Run plan again and review it`,
      { field: 'expect', details: { expected: opts.expectDigest, actual: digest } },
    );
  }

  // a full run or orphan scan is also held on its own share of the scope (one look at the whole estate)
  if (!opts.approved && scope.kind !== 'identities') {
    const verdict = checkGuard(plan, built.scopeSize, ctx.policy.lifecycle.guard);
    if (verdict.hold) {
      const held = await holdOwnRun(ctx, scope, plan, verdict, opts);
      loudHold(ctx, { runId: held.id, reason: verdict.reason!, verdict });
      return { run: held, plan, held: true, ...nothing };
    }
  }

  if (plan.operations.length === 0 && scope.kind === 'identities') {
    const done = { results: [], held: false, failedRevocations: [], nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
    const settle = opts.settle ? settlementOf(opts.settle, done) : undefined;
    if (settle) await settleWithAnchors(ctx.db, anchorItems(built.anchorChanges, now), settle);
    else await storeAnchors(ctx, built.anchorChanges, now);
    return { run: null, plan, held: false, ...nothing, ...(settle ? { settled: true } : {}) };
  }

  const runId = opts.runId ?? randomUUID();
  const over = await spendBudget(ctx, scope, plan, runId, opts, now);
  if (over) {
    const run = over.runId ? await getRun(ctx.db, over.runId) : await holdOwnRun(ctx, scope, plan, over.verdict, opts);
    loudHold(ctx, { ...over, runId: run!.id });
    return { run, plan, held: true, ...nothing };
  }

  if (scope.kind === 'identities' && plan.operations.length <= RECORD_AFTER_MAX_OPS) {
    // A joiner, mover or leaver: a few operations, over in moments. Its record is written once,
    // when it has finished; its audit entries carry the run id from the start.
    const run: Run = {
      id: runId,
      kind: 'apply',
      trigger: opts.trigger,
      status: 'applying',
      scope: runScope,
      plan,
      results: [],
      summary: plan.summary,
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
  const run = await createRun(ctx.db, { id: runId, kind: 'apply', trigger: opts.trigger, status: 'applying', scope: runScope, plan });
  return executeRun(ctx, run, plan.operations, built, opts, now);
}

/**
 * The invariant violations this plan found in held access, as the store remembers them: new ones
 * audited as `violation.found` (a notification), gone ones as `violation.resolved`. Reporting
 * never stands in the way of a run: a failure to record is logged and the run goes on.
 */
async function noteViolations(ctx: EngineContext, scope: Scope, plan: Plan, actor: string, now: Date): Promise<void> {
  if (ctx.policy.invariants.list.length === 0 || scope.kind === 'orphans') return;
  try {
    const { found } = await recordViolations(
      ctx.db,
      plan.violations ?? [],
      scope.kind === 'full' ? { kind: 'full' } : { kind: 'identities', ids: scope.ids },
      now,
      actor,
    );
    for (const v of found)
      ctx.logger.warn(
        { invariant: v.invariant, identity: v.identityId, accessGroups: v.accessGroupIds },
        `INVARIANT VIOLATED: ${v.userName ?? ''} ${v.message}`.trim(),
      );
  } catch (e) {
    ctx.logger.warn({ err: (e as Error).message }, 'invariant violations could not be recorded; the next plan tries again');
  }
}

const NO_HELD: ReadonlyMap<string, string> = new Map();

/** The identities among these operations' that wait in a held run, with that run's id. */
async function heldIdentities(ctx: EngineContext, ops: Operation[]): Promise<ReadonlyMap<string, string>> {
  const ids = [...new Set(ops.filter((o) => o.revocation && o.identityId).map((o) => o.identityId!))];
  if (ids.length === 0) return NO_HELD;
  return new Map((await heldAmong(ctx.db, ids)).map((h) => [h.subject, h.runId]));
}

/** Results in the order of `ops`: the applied ones', and `skipped` for the held people's. */
function mergeHeld(ops: Operation[], applied: Operation[], results: OperationResult[], held: ReadonlyMap<string, string>): OperationResult[] {
  const byKey = new Map(applied.map((o, i) => [o.key, results[i]]));
  const at = new Date().toISOString();
  return ops.map((o) => {
    const r = byKey.get(o.key);
    if (r) return r;
    const runId = held.get(o.identityId ?? '') ?? '';
    return {
      key: o.key,
      status: 'skipped',
      attempts: 0,
      at,
      error: { code: 'held', message: `${o.userName ?? o.identityId} waits in held run ${runId} for approval: left to it`, retryable: false },
    };
  });
}

/** Identity-scoped runs with at most this many operations record themselves once, at the end. */
const RECORD_AFTER_MAX_OPS = 50;

async function executeRun(
  ctx: EngineContext,
  run: Run,
  ops: Operation[],
  built: ScopePlan,
  opts: RunOptions,
  now: Date,
  record: 'update' | 'insert' = 'update',
): Promise<RunOutcome> {
  let lastProgress = 0;
  const onProgress = (done: number, total: number) => {
    opts.onProgress?.(done, total);
    // a progress write every 500 operations is plenty for a dashboard
    if (done - lastProgress >= 500) {
      lastProgress = done;
      void setRunProgress(ctx.db, run.id, { done, total }).catch(() => undefined);
    }
  };
  const deferred: string[] = [];
  // a run recorded once at the end writes its operations' audit entries with its record
  const audit: AuditEntryInput[] | undefined = record === 'insert' && !opts.leases ? [] : undefined;
  // A full run leaves alone the people who wait in a held run (the budget's, a batch's): nothing
  // of theirs is applied until it is approved or rejected, however this run's share came out.
  const heldBack = run.scope === 'full' && !opts.approved ? await heldIdentities(ctx, ops) : NO_HELD;
  const toApply = heldBack.size ? ops.filter((o) => !(o.identityId && heldBack.has(o.identityId))) : ops;
  const applied = opts.leases
    ? await applyUnderLeases(
        ctx,
        toApply,
        opts.leases,
        { runId: run.id, actor: opts.actor, onProgress, ...(opts.retries ? { retries: opts.retries } : {}) },
        deferred,
        opts.leasePartition,
      )
    : await applyOperations(ctx, toApply, {
        runId: run.id,
        actor: opts.actor,
        onProgress,
        ...(opts.retries ? { retries: opts.retries } : {}),
        ...(audit ? { auditInto: audit } : {}),
      });
  const results = heldBack.size ? mergeHeld(ops, toApply, applied, heldBack) : applied;
  // an identity's small run writes its anchors (and, queued, its settling) with its record
  const oneStatement = record === 'insert';
  try {
    if (!oneStatement) await storeAnchors(ctx, built.anchorChanges, now);
    await storeCredentialHolds(ctx, ops, results);
  } catch (e) {
    // what was done at the lock systems is in the audit log whatever fails after it
    if (audit?.length) await appendAudit(ctx.db, audit.splice(0));
    throw e;
  }
  const failed = ops.filter((_, i) => results[i].status === 'failed');
  const failedRevocations = failed.filter((o) => o.revocation);
  const status = finalStatus(results);
  const plan = run.plan!;
  const outcome = {
    status,
    results,
    progress: { done: results.length, total: results.length },
    summary: { ...plan.summary, applied: results.length - failed.length, failed: failed.length, failedRevocations: failedRevocations.length },
    error: failed.length
      ? `${failed.length} operation(s) failed${failedRevocations.length ? `, ${failedRevocations.length} of them revocations (they will be retried)` : ''}`
      : deferred.length
        ? `${deferred.length} identit(ies) were being reconciled by their own job: left to it`
        : null,
  };
  const done = { results, held: false, failedRevocations, failed, nextCheckAt: plan.nextCheckAt, nextCheckAtByIdentity: built.nextCheckAtByIdentity };
  const settle = oneStatement && opts.settle ? settlementOf(opts.settle, done) : null;
  let finished: Run;
  try {
    finished = oneStatement
      ? await insertFinishedRun(ctx.db, { ...run, ...outcome, startedAt: run.startedAt! }, audit, { anchors: anchorItems(built.anchorChanges, now), settle })
      : await updateRun(ctx.db, run.id, { ...outcome, finished: true });
  } catch (e) {
    if (audit?.length) await appendAudit(ctx.db, audit.splice(0));
    throw e;
  }
  return { run: finished, plan, ...done, digest: planDigest(plan), deferred, ...(settle ? { settled: true } : {}) };
}

/**
 * Credentials this run suspended for a leaver (systems without account suspension) are held, so
 * that lockstep sets them, and only them, active again when the person is entitled again; those
 * it set active again are released. Nothing to write in almost every run.
 */
async function storeCredentialHolds(ctx: EngineContext, ops: Operation[], results: OperationResult[]): Promise<void> {
  // the engine's clock (a test deployment's offset included), which the unused-credential rule reads
  const at = ctx.now().toISOString();
  const held: Parameters<typeof recordCredentialHolds>[1] = [];
  const released: Parameters<typeof recordCredentialHolds>[2] = [];
  ops.forEach((op, i) => {
    const r = results[i];
    if (op.kind !== 'set_credential_state' || r.status !== 'applied' || !op.credentialId) return;
    if (op.credentialState === 'suspended' && op.reason.cause === 'leaver' && op.accountId)
      held.push({ system: op.system, credentialId: op.credentialId, accountId: op.accountId, cause: 'leaver', at });
    else if (op.credentialState === 'active') released.push({ system: op.system, credentialId: op.credentialId, at });
  });
  if (held.length || released.length) await recordCredentialHolds(ctx.db, held, released);
}

/** Identities whose operations a full run applies under one set of leases (queue.bucketSize in the service). */
const LEASE_PARTITION = 500;

/**
 * A full run's operations, applied a partition of identities at a time, each under the
 * identities' leases: a person whose own job is running right now (a change that is at least
 * as fresh as this plan) is left to it, and their operations are `skipped` here. Orphans'
 * operations belong to no identity and need no lease. Results keep the order of `ops`.
 */
async function applyUnderLeases(
  ctx: EngineContext,
  ops: Operation[],
  leases: Leases,
  opts: ApplyOptions,
  deferred: string[],
  size = LEASE_PARTITION,
): Promise<OperationResult[]> {
  const byIdentity = new Map<string, number[]>();
  const orphans: number[] = [];
  ops.forEach((op, i) => {
    if (!op.identityId) orphans.push(i);
    else {
      const list = byIdentity.get(op.identityId);
      if (list) list.push(i);
      else byIdentity.set(op.identityId, [i]);
    }
  });
  const results = new Array<OperationResult>(ops.length);
  const total = ops.length;
  let done = 0;
  const apply = async (idx: number[]) => {
    const base = done;
    const rs = await applyOperations(
      ctx,
      idx.map((i) => ops[i]),
      { ...opts, onProgress: (d) => opts.onProgress?.(base + d, total) },
    );
    idx.forEach((i, k) => (results[i] = rs[k]!));
    done += idx.length;
  };
  const ids = [...byIdentity.keys()];
  for (let p = 0; p < ids.length; p += size) {
    const part = ids.slice(p, p + size);
    const lease = await leases.acquire(part);
    try {
      const busy = new Set(lease.busy);
      const at = new Date().toISOString();
      for (const id of lease.busy) {
        deferred.push(id);
        for (const i of byIdentity.get(id)!)
          results[i] = {
            key: ops[i].key,
            status: 'skipped',
            error: { code: 'busy', message: 'the identity was being reconciled by its own job; left to it' },
            attempts: 0,
            at,
          };
        done += byIdentity.get(id)!.length;
      }
      await apply(part.filter((id) => !busy.has(id)).flatMap((id) => byIdentity.get(id)!));
    } finally {
      await lease.release();
    }
  }
  if (orphans.length) await apply(orphans);
  return results;
}

/**
 * The person an actor string names, for four-eyes: `oidc:<name> (<sub>)` is `oidc:<sub>` (a
 * renamed person is the same person); `token:<name>`, `cli:<user>` and the rest as they are.
 */
export function actorPrincipal(actor: string): string {
  const m = /^oidc:.* \(([^()]+)\)$/s.exec(actor);
  return m ? `oidc:${m[1]}` : actor;
}

/**
 * Who started or caused a held run: the actor of each of its `run.held` entries (the caller of
 * a full run, the re-planning approver), and the API caller behind a queued apply or a source
 * pull, whose job's trigger reads `queue:api:<actor>` or `queue:source:<name>:leaver by api:<actor>`. Service actors (`worker`, `scheduler`, `scim`) are there too;
 * they are nobody who approves.
 */
export async function runCausers(ctx: EngineContext, runId: string): Promise<string[]> {
  const out = new Set<string>();
  for await (const e of iterateAudit(ctx.db, { subject: runId })) {
    if (e.action !== 'run.held') continue;
    out.add(e.actor);
    const trigger = (e.data as { trigger?: unknown }).trigger;
    const m = typeof trigger === 'string' ? /^queue:(?:.* by )?api:(.+)$/s.exec(trigger) : null;
    if (m) out.add(m[1]);
  }
  return [...out];
}

/**
 * Approves a held run. Four-eyes: whoever started or caused it (runCausers) cannot approve it
 * (they may reject it). The world may have moved since it was held, so the scope is planned
 * afresh; the new plan is applied only if it takes access from no one the approver did not
 * see. Otherwise it is held again as a new run, and the reason says so.
 */
export async function approveRun(ctx: EngineContext, idOrPrefix: string, approver: string): Promise<RunOutcome> {
  const held = await findRun(ctx.db, idOrPrefix);
  if (!held) throw new LockstepError('not_found', `no run matches "${idOrPrefix}" (give the run id or a unique prefix of it)`, { field: 'run' });
  if (held.status !== 'held')
    throw new LockstepError('precondition', `run ${held.id} is ${held.status}, not held: there is nothing to approve`, { field: 'run' });
  const causedBy = await runCausers(ctx, held.id);
  if (causedBy.some((a) => actorPrincipal(a) === actorPrincipal(approver))) {
    throw new LockstepError(
      'precondition',
      `four-eyes: ${approver} started or caused run ${held.id}, so someone else must approve it (rejecting it yourself is allowed)`,
      {
        field: 'run',
        details: { rule: 'four-eyes', causedBy },
      },
    );
  }
  const approved = await transitionRun(ctx.db, held.id, ['held'], 'approved', approver);
  if (!approved) throw new LockstepError('conflict', `run ${held.id} was approved or cancelled by someone else just now`, { field: 'run' });
  await appendAudit(ctx.db, [{ actor: approver, action: 'run.approved', subject: held.id, runId: held.id, data: { summary: held.plan?.summary ?? null } }]);

  const heldOps = held.plan?.operations ?? [];
  const seen = new Set(heldOps.filter((o) => o.revocation).map((o) => o.key));
  const budgetHold = held.trigger === BUDGET_TRIGGER;
  const ids = budgetHold ? await heldSubjects(ctx.db, held.id) : [...new Set(heldOps.map((o) => o.identityId).filter((x): x is string => !!x))];
  const scope: Scope = held.scope === 'full' ? { kind: 'full' } : { kind: 'identities', ids };
  const now = ctx.now();
  const built = await buildRunPlan(ctx, scope);
  const unseen = built.plan.operations.filter((o) => o.revocation && !seen.has(o.key));
  if (
    unseen.length > 0 &&
    checkGuard({ ...built.plan, operations: unseen }, built.scopeSize, { ...ctx.policy.lifecycle.guard, minRevocationsToHold: 1 }).hold
  ) {
    await updateRun(ctx.db, held.id, {
      status: 'cancelled',
      error: `superseded: the world changed after approval (${unseen.length} new revocations)`,
      finished: true,
    });
    return runReconcile(ctx, scope, { trigger: `re-plan of ${held.id}`, actor: approver, apply: true });
  }
  // the approver accepted this mass change, with what of it already went through: the window starts afresh
  if (budgetHold) await approveBudgetWindow(ctx.db, new Date(now.getTime() - budgetLimits(ctx).windowMs));
  const run = await updateRun(ctx.db, held.id, { status: 'applying', plan: built.plan });
  const opts: RunOptions = { trigger: held.trigger, actor: approver, apply: true, approved: true };
  await spendBudget(ctx, scope, built.plan, run.id, opts, now);
  return executeRun(ctx, run, built.plan.operations, built, opts, now);
}

/**
 * Rejects a held run: nothing of it is applied, and the rejection is in the audit log with its
 * reason. The people it held are planned again on their next look (an event, the full run) and
 * held again while the cause is still there: fix the source (the export, the mapping), then let
 * the next run converge.
 */
export async function rejectRun(ctx: EngineContext, idOrPrefix: string, actor: string, reason: string | null): Promise<Run> {
  const held = await findRun(ctx.db, idOrPrefix);
  if (!held) throw new LockstepError('not_found', `no run matches "${idOrPrefix}" (give the run id or a unique prefix of it)`, { field: 'run' });
  if (held.status !== 'held')
    throw new LockstepError('precondition', `run ${held.id} is ${held.status}, not held: there is nothing to reject`, { field: 'run' });
  const moved = await transitionRun(ctx.db, held.id, ['held'], 'cancelled');
  if (!moved) throw new LockstepError('conflict', `run ${held.id} was approved or rejected by someone else just now`, { field: 'run' });
  const text = `rejected by ${actor}${reason ? `: ${reason}` : ''}`;
  const run = await updateRun(ctx.db, held.id, { error: text, finished: true });
  await appendAudit(ctx.db, [{ actor, action: 'run.rejected', subject: held.id, runId: held.id, data: { reason, summary: held.plan?.summary ?? null } }]);
  ctx.logger.warn({ run: held.id, actor }, `held run ${held.id} ${text}; nothing of it was applied`);
  return run;
}

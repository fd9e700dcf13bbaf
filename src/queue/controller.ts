import { LockstepError, toLockstepError } from '../domain/errors.js';
import { isRetryableResult, type Operation, type OperationResult } from '../domain/plan.js';
import {
  clearOverdue,
  clearOverdueMany,
  overdueOps,
  recordChecks,
  recordOverdue,
  settlementOf,
  type Lane,
  type SettleRequest,
  type SettleSpec,
} from '../store/queue-state.js';
import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { Leases, RunOptions, RunOutcome, Scope } from '../reconcile/types.js';

/**
 * The queue's controller around reconcile (Kubernetes controller-runtime's controller around
 * `Reconcile(ctx, req) (Result, error)`): the queue only says *which* identity to look at;
 * reconcile (src/reconcile) reads the world, converges it and returns what it did and when the
 * identity next needs a look, and never touches the queue. This side decides, in one place per
 * scope (afterIdentity, afterFull), what follows: the overdue record kept or cleared, what was
 * pending settled, the next look scheduled, sponsees and failed revocations requeued. A thrown
 * LockstepError says whether trying again can help (`retryable`); the transport (BullMQ in the
 * service, a loop in the CLI) decides how.
 */

/** What a reconcile returns that the controller reads (RunOutcome is one; tests may give less). */
export type ReconcileOutcome = Pick<RunOutcome, 'results' | 'held' | 'failedRevocations' | 'failed' | 'nextCheckAt'> &
  Partial<Pick<RunOutcome, 'nextCheckAtByIdentity' | 'deferred' | 'plan' | 'settled'>> & { run: { id: string } | null };

/** The engine's reconcile (runReconcile bound to an EngineContext); the queue's tests give their own. */
export type ReconcileFn = (scope: Scope, opts: RunOptions) => Promise<ReconcileOutcome>;

export interface Controller {
  db: Db;
  now(): Date;
  logger: Pick<Logger, 'warn'>;
  reconcile: ReconcileFn;
  /** Lock systems (their orphan revocations are cleared when a full run lands them). */
  systems: string[];
  /** Identities a full run applies under one set of leases. */
  partitionSize?: number;
  leases: Leases;
  /** Asks for a look at these identities (people a sponsor sponsors, failed revocations, people a full run left to their own job). */
  requeue(ids: string[], lane: Lane, reason: string): Promise<void>;
  /** People whose sponsor is this identity (their sponsored access depends on it). */
  sponseesOf?(identityId: string): Promise<string[]>;
  /** The service's queue state around a reconcile (Redis and the store); the CLI and tests have none. */
  queue?: QueueState;
  /**
   * `queue`: a transient failure is not waited out here (under the identity's lease) but handed
   * back, retryable, for the transport to run again with its backoff. Default `inline`.
   */
  retries?: 'inline' | 'queue';
}

/** What the service's queue keeps around a reconcile, besides requeueing. */
export interface QueueState {
  /**
   * One identity reconciled: records its next check, settles what was pending up to
   * `pendingUpTo`, and with `clearOverdue` clears its overdue revocation, in one round trip.
   * Also asks the run to write it with its record (RunOptions.settle).
   */
  settle(spec: SettleSpec): Promise<void>;
  /** A reconciliation that started after these identities' enqueues finished: they are no longer pending. */
  clearPending?(identityIds: string[], upTo: Date): Promise<void>;
  /** Asks for orphan revocations in a system to be retried until they land. */
  retryOrphans(system: string): Promise<void>;
  /** Schedules a look at these instants (controller-runtime's RequeueAfter; delayed `due` jobs). */
  schedule(times: Array<string | null | undefined>): Promise<void>;
}

export interface ReconcileRequest {
  identityId: string;
  /** `revocation`: the change takes access away (a leaver, an expiry); it must land. */
  lane: Lane;
  /** What made someone ask (`scim`, `source:hr`, `expiry`, `full-run`...). */
  reason: string;
  /** When it was asked (ms); changes asked for up to then are settled once this reconcile is. */
  enqueuedAt?: number;
}

/** What reconciling one identity came to, for the transport (controller-runtime's Result). */
export interface IdentityResult {
  /** Another job holds the identity's lease: ask again after requeueAfterMs. Nothing was done. */
  busy: boolean;
  /** The guard held the identity's revocations; they wait in the held run for approval. */
  held: boolean;
  runId: string | null;
  applied: number;
  /** When the identity next needs a look by time alone (null: not by time). */
  nextCheckAt: string | null;
  /** Milliseconds from now until then (controller-runtime's RequeueAfter). */
  requeueAfterMs: number | null;
}

const identityKey = (id: string) => `identity:${id}`;
const LEASE_WAIT_MS = 250;

function firstError(outcome: ReconcileOutcome, ops: Operation[]): string {
  const keys = new Set(ops.map((o) => o.key));
  const failed = outcome.results.filter((r) => r.status === 'failed' && r.error);
  return (failed.find((r) => keys.has(r.key)) ?? failed[0])?.error?.message ?? 'revocation did not land';
}

/** Sources that change a person (as opposed to time, a full run or a retry) may change what their sponsees may hold. */
function changedAtSource(reason: string): boolean {
  return !['expiry', 'full-run', 'retry-revocation', 'sponsor'].includes(reason);
}

/**
 * Who a job acts for, as the audit log names them: the signed-in person or token behind an API
 * call that queued it (`api:<actor>`, or a source pull's `… by api:<actor>`), else `worker`.
 */
export function actorOfReason(reason: string): string {
  const m = /^(?:.* by )?api:(.+)$/s.exec(reason);
  return m ? m[1] : 'worker';
}

/**
 * Reconciles one identity: lease, plan, guard and budget, apply, and the state around it.
 * Throws a LockstepError when the identity is not converged: `retryable` when trying again
 * can help; revocations that did not land are recorded as overdue first.
 */
export async function reconcileIdentity(ctx: Controller, req: ReconcileRequest): Promise<IdentityResult> {
  const id = req.identityId;
  const lease = await ctx.leases.acquire([id]);
  if (lease.busy.length) {
    await lease.release();
    return { busy: true, held: false, runId: null, applied: 0, nextCheckAt: null, requeueAfterMs: LEASE_WAIT_MS };
  }
  // the reconcile reads the store after this: changes written a moment before it are covered too
  const startedAt = ctx.now().getTime();
  // What was asked for before this reconcile read the store (this job's own change, and changes
  // merged into it; a second of slack for clocks of other processes) is settled once it converged.
  const settle: SettleRequest = {
    identityId: id,
    pendingUpTo: req.enqueuedAt !== undefined ? new Date(Math.max(req.enqueuedAt, startedAt - 1000)) : null,
    overdueKey: identityKey(id),
  };
  let outcome: ReconcileOutcome;
  try {
    // in the service, the run writes the settling with its record (one statement) when it writes one
    outcome = await ctx.reconcile(
      { kind: 'identities', ids: [id] },
      {
        trigger: `queue:${req.reason}`,
        actor: actorOfReason(req.reason),
        apply: true,
        ...(ctx.queue ? { settle } : {}),
        ...(ctx.retries ? { retries: ctx.retries } : {}),
      },
    );
  } catch (e) {
    // (awaited here: a leaver's overdue record is written while the lease is still held)
    return await afterIdentity(ctx, req, settle, toLockstepError(e));
  } finally {
    await lease.release();
  }
  return afterIdentity(ctx, req, settle, outcome);
}

/**
 * What follows one identity's reconcile, decided here and nowhere else: a reconcile that threw
 * keeps a leaver overdue; otherwise its next check, what was pending and its overdue record are
 * settled (unless the run wrote them with its record), its next look is scheduled, its sponsees
 * are looked at again when it changed at source, failed revocations are recorded overdue and
 * handed back retryable (the transport tries again), as are other operations a retry can help.
 */
async function afterIdentity(ctx: Controller, req: ReconcileRequest, settle: SettleRequest, done: ReconcileOutcome | LockstepError): Promise<IdentityResult> {
  const id = req.identityId;
  if (done instanceof LockstepError) {
    // a leaver that cannot even be planned (the lock system is down) is an overdue revocation
    if (req.lane === 'revocation')
      await recordOverdue(ctx.db, { key: settle.overdueKey, kind: 'revocation', identityId: id, operations: [], error: done.message });
    throw done;
  }
  const outcome = done;
  const s = settlementOf(settle, outcome);
  const nextCheckAt = s.nextCheckAt;
  // the next check, the pending change and the overdue record in one round trip, unless the run wrote them
  if (ctx.queue) {
    if (!outcome.settled) await ctx.queue.settle(s);
  } else {
    await recordChecks(ctx.db, [{ identityId: id, nextCheckAt }], true);
    if (s.clearOverdue) await clearOverdue(ctx.db, s.clearOverdue);
  }
  if (ctx.sponseesOf && changedAtSource(req.reason)) {
    const sponsees = await ctx.sponseesOf(id);
    const revoking = outcome.failedRevocations.length > 0 || (outcome.plan?.operations.some((o) => o.revocation) ?? false);
    if (sponsees.length) await ctx.requeue(sponsees, revoking ? 'revocation' : 'normal', 'sponsor');
  }
  const result: IdentityResult = {
    busy: false,
    held: outcome.held,
    runId: outcome.run?.id ?? null,
    applied: outcome.results.filter((r) => r.status === 'applied').length,
    nextCheckAt,
    requeueAfterMs: nextCheckAt ? Math.max(0, Date.parse(nextCheckAt) - ctx.now().getTime()) : null,
  };
  if (outcome.held) {
    ctx.logger.warn({ identity: id, run: result.runId }, 'reconcile: revocations held by the mass-revocation guard; they wait for approval');
    await ctx.queue?.schedule([nextCheckAt]);
    return result;
  }
  if (outcome.failedRevocations.length) {
    const msg = firstError(outcome, outcome.failedRevocations);
    await recordOverdue(ctx.db, { key: settle.overdueKey, kind: 'revocation', identityId: id, operations: overdueOps(outcome.failedRevocations), error: msg });
    throw new LockstepError('unavailable', `${outcome.failedRevocations.length} revocation(s) for ${id} did not land: ${msg}`, { retryable: true });
  }
  const retryable = outcome.results.filter((r) => r.status === 'failed' && isRetryableResult(r));
  if (retryable.length) {
    const first = retryable[0].error!;
    throw new LockstepError('unavailable', `${retryable.length} operation(s) for ${id} failed and will be retried: ${first.message}`, {
      retryable: true,
      ...(retryAfterOf(retryable) !== undefined ? { retryAfterMs: retryAfterOf(retryable) } : {}),
    });
  }
  // converged: the next look by time alone (controller-runtime's RequeueAfter)
  await ctx.queue?.schedule([nextCheckAt]);
  return result;
}

function retryAfterOf(rs: OperationResult[]): number | undefined {
  const ms = rs.map((r) => r.error?.retryAfterMs).filter((x): x is number => typeof x === 'number');
  return ms.length ? Math.max(...ms) : undefined;
}

export interface FullRunRequest {
  runId?: string;
  trigger: string;
  actor: string;
  /** Apply only the plan with this digest (the one an operator was shown). */
  expectDigest?: string;
  onProgress?(done: number, total: number): void;
}

export interface FullRunResult {
  outcome: ReconcileOutcome;
  /** Identities left to their own job (it held their lease). */
  deferred: string[];
  /** Identities whose revocations did not land: requeued in the revocation lane, overdue meanwhile. */
  overdue: string[];
}

/**
 * A full reconciliation: the same plan `lockstep plan` shows (every identity diffed against
 * every lock system's accounts, read once, page by page; orphans from the same reading), held as
 * a whole when the guard or the budget says so, otherwise applied a partition of identities at
 * a time under their leases. Failed revocations go to the revocation lane, one job per person.
 */
export async function reconcileFull(ctx: Controller, req: FullRunRequest): Promise<FullRunResult> {
  const outcome = await ctx.reconcile(
    { kind: 'full' },
    {
      trigger: req.trigger,
      actor: req.actor,
      apply: true,
      leases: ctx.leases,
      ...(ctx.partitionSize ? { leasePartition: ctx.partitionSize } : {}),
      ...(req.runId ? { runId: req.runId } : {}),
      ...(req.expectDigest ? { expectDigest: req.expectDigest } : {}),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      ...(ctx.retries ? { retries: ctx.retries } : {}),
    },
  );
  return afterFull(ctx, outcome);
}

/**
 * What follows a full run, decided here and nowhere else: next checks recorded (but those of
 * people left to their own job) and scheduled, failed revocations recorded overdue and requeued
 * in the revocation lane (orphans' retried per system), overdue records of people and systems
 * whose revocations landed cleared, what was pending for the people it converged settled,
 * deferred people and other retryable failures requeued.
 */
async function afterFull(ctx: Controller, outcome: ReconcileOutcome): Promise<FullRunResult> {
  const deferred = outcome.deferred ?? [];
  const per = outcome.nextCheckAtByIdentity ?? {};
  const deferredSet = new Set(deferred);
  // the identity jobs own the next checks of the people they hold
  await recordChecks(
    ctx.db,
    Object.keys(per)
      .filter((i) => !deferredSet.has(i))
      .map((identityId) => ({ identityId, nextCheckAt: per[identityId] ?? null })),
    true,
  );
  if (outcome.held) {
    await ctx.queue?.schedule(Object.values(per));
    return { outcome, deferred, overdue: [] };
  }

  const failedBy = new Map<string, Operation[]>();
  const orphanSystems = new Map<string, Operation[]>();
  for (const op of outcome.failedRevocations) {
    if (op.identityId) failedBy.set(op.identityId, [...(failedBy.get(op.identityId) ?? []), op]);
    else orphanSystems.set(op.system, [...(orphanSystems.get(op.system) ?? []), op]);
  }
  for (const [identityId, ops] of failedBy) {
    await recordOverdue(ctx.db, { key: identityKey(identityId), kind: 'revocation', identityId, operations: overdueOps(ops), error: firstError(outcome, ops) });
  }
  for (const [system, ops] of orphanSystems) {
    await recordOverdue(ctx.db, { key: `orphans:${system}`, kind: 'orphan-revocation', system, operations: overdueOps(ops), error: firstError(outcome, ops) });
    await ctx.queue?.retryOrphans(system);
  }
  // people whose revocations landed in this run are no longer overdue
  const landed = Object.keys(per).filter((i) => !failedBy.has(i) && !deferredSet.has(i));
  await clearOverdueMany(ctx.db, landed.map(identityKey));
  for (const system of ctx.systems) if (!orphanSystems.has(system)) await clearOverdue(ctx.db, `orphans:${system}`);
  // changes asked for before this run read the store are settled for the people it converged
  if (outcome.plan) await ctx.queue?.clearPending?.(landed, new Date(outcome.plan.createdAt));
  if (failedBy.size) await ctx.requeue([...failedBy.keys()], 'revocation', 'retry-revocation');
  if (deferred.length) await ctx.requeue(deferred, 'normal', 'full-run');
  // other operations that failed for a reason a later try can help (a grant refused while the
  // system was busy): their people's own jobs try again, with the queue's backoff
  const resultOf = new Map(outcome.results.map((r) => [r.key, r]));
  const retryable = new Set(
    outcome.failed
      .filter((op) => !op.revocation && op.identityId && !failedBy.has(op.identityId) && isRetryableResult(resultOf.get(op.key) ?? { status: 'failed' }))
      .map((op) => op.identityId!),
  );
  if (retryable.size) await ctx.requeue([...retryable], 'normal', 'retry');
  await ctx.queue?.schedule(Object.values(per));
  return { outcome, deferred, overdue: [...failedBy.keys()] };
}

/** Leases within one process (the CLI, tests): enough where no other process reconciles. */
export function localLeases(): Leases {
  const held = new Set<string>();
  return {
    acquire: async (ids) => {
      const mine = ids.filter((i) => !held.has(i));
      const busy = ids.filter((i) => held.has(i));
      for (const i of mine) held.add(i);
      return {
        held: mine,
        busy,
        release: async () => {
          for (const i of mine) held.delete(i);
        },
      };
    },
  };
}

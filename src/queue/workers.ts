import { performance } from 'node:perf_hooks';
import { DelayedError, UnrecoverableError, Worker, type Job, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import { LockstepError, toLockstepError } from '../domain/errors.js';
import type { Operation, OperationResult } from '../domain/plan.js';
import type { RunOptions, Scope } from '../reconcile/types.js';
import type { Db, Queryable } from '../store/db.js';
import { observeJob, registerOverdueSource, registerQueueDepth, withEventTime } from '../metrics/index.js';
import { durableRedisOptions } from './connection.js';
import { startFullRun } from './fullrun.js';
import {
  QUEUE,
  bucketJobSchema,
  fullJobSchema,
  identityJobSchema,
  lostCredentialJobSchema,
  maintenanceJobSchemas,
  orphanJobSchema,
  parseJobData,
  type MaintenanceJobName,
  type QueueName,
} from './jobs.js';
import { LeaseManager } from './locks.js';
import { CAPPED_BACKOFF, UNTIL_IT_LANDS, type LockstepQueues, type LostCredentialInput } from './queues.js';
import {
  clearOverdue,
  dueChecks,
  finishFullRun,
  getFullRun,
  listOverdue,
  overdueOps,
  recordChecks,
  recordOverdue,
  recordPart,
  type OverdueRevocation,
} from '../store/queue-state.js';

/** What reconciling a scope returned; the engine's RunOutcome is one. */
export interface ReconcileResult {
  run: { id: string } | null;
  results: OperationResult[];
  held: boolean;
  failedRevocations: Operation[];
  failed: Operation[];
  nextCheckAt: string | null;
  /** Each identity's own next check, when the engine offers it (finer than nextCheckAt for a bucket). */
  nextCheckAtByIdentity?: Record<string, string | null>;
}

/**
 * What the workers call. The service binds them to one EngineContext (see engineHandlers);
 * tests may pass their own.
 */
export interface QueueHandlers {
  reconcile(scope: Scope, opts: RunOptions): Promise<ReconcileResult>;
  pullAccessEvents?(system: string): Promise<{ events: number }>;
  /** Sets the credential lost in its system; `applied: false` when the system did not take it. */
  markCredentialLost?(req: LostCredentialInput): Promise<{ applied: boolean; error?: string }>;
  /** Pulls one source (an Entra delta) by its name in lockstep.yaml. */
  pullSource?(name: string): Promise<void>;
}

export interface QueueLogger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface WorkerDeps {
  queues: LockstepQueues;
  db: Db;
  handlers: QueueHandlers;
  /** Lock systems (orphan scans of full runs). */
  systems: string[];
  /** Identities per bucket (config `queue.bucketSize`); used when a schedule starts a full run. */
  bucketSize?: number;
  /** Identity jobs in parallel in this process (config `queue.concurrency`). Default 4. */
  concurrency?: number;
  /** Full-run parts in parallel in this process. Default half of concurrency, at least 1. */
  fullConcurrency?: number;
  /** Timer jobs in parallel. Default 2. */
  maintenanceConcurrency?: number;
  /** Which queues this process works on. Default all three. */
  queuesToWork?: QueueName[];
  /** Capped exponential backoff between tries of a job. Default 1 s doubling up to 5 min. */
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
  /** BullMQ job lock; a job whose worker stops renewing it for this long is run again. Default 30 000. */
  lockDurationMs?: number;
  /** How often BullMQ looks for such stalled jobs. Default 30 000. */
  stalledIntervalMs?: number;
  /** Lease on an identity while it is reconciled (renewed while held). Default 30 000. */
  leaseTtlMs?: number;
  /** Delay before an identity job tries again when a bucket holds its identity. Default 250. */
  leaseWaitMs?: number;
  /** How often this process moves the outbox (enqueues made while Redis was down) into Redis. Default 5 000. */
  outboxFlushMs?: number;
  logger?: QueueLogger;
  now?: () => Date;
}

export interface WorkersHandle {
  workers: Worker[];
  /** Waits until every worker is connected and polling. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const silent: QueueLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Capped exponential backoff with jitter, so retries of many jobs do not move in lockstep. */
export function cappedBackoff(attemptsMade: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attemptsMade - 1, 30)));
  return Math.max(1, Math.round(exp * (0.8 + 0.2 * random())));
}

/** Revocations that have not landed, oldest first: the readiness check and the admin API show them. */
export async function overdueRevocations(db: Db): Promise<{ count: number; oldestSince: string | null; items: OverdueRevocation[] }> {
  const items = await listOverdue(db);
  return { count: items.length, oldestSince: items[0]?.since ?? null, items };
}

const identityKey = (id: string) => `identity:${id}`;

class Processors {
  private readonly log: QueueLogger;
  private readonly now: () => Date;
  private readonly base: number;
  private readonly max: number;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly leases: LeaseManager,
  ) {
    this.log = deps.logger ?? silent;
    this.now = deps.now ?? (() => new Date());
    this.base = deps.retry?.baseDelayMs ?? 1_000;
    this.max = deps.retry?.maxDelayMs ?? 300_000;
  }

  backoff = (attemptsMade: number): number => cappedBackoff(attemptsMade, this.base, this.max);

  /** Postpones the job without using up a try (a lease held elsewhere, a Retry-After). */
  private async postpone(job: Job, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + Math.max(1, Math.ceil(ms)), token);
    throw new DelayedError();
  }

  /** Rate limits move the job later without using up a try; other errors go to BullMQ's retry. */
  private async onEngineError(e: unknown, job: Job, token: string | undefined, mustLand: boolean): Promise<never> {
    const err = toLockstepError(e);
    if (err.code === 'rate_limited') return this.postpone(job, token, err.retryAfterMs ?? this.backoff(job.attemptsMade + 1));
    if (!err.retryable && !mustLand) throw new UnrecoverableError(`${err.code}: ${err.message}`);
    throw err;
  }

  /** Remembers when these identities next need a look. */
  private async recordNextChecks(q: Queryable, ids: string[], outcome: ReconcileResult, exact: boolean): Promise<void> {
    const per = outcome.nextCheckAtByIdentity;
    if (per) await recordChecks(q, ids.map((identityId) => ({ identityId, nextCheckAt: per[identityId] ?? null })), true);
    else await recordChecks(q, ids.map((identityId) => ({ identityId, nextCheckAt: outcome.nextCheckAt })), exact);
  }

  /** A timer for each next check in the future (requeue-after); one per instant, however many identities share it. */
  private async scheduleDue(outcome: ReconcileResult): Promise<void> {
    const per = outcome.nextCheckAtByIdentity;
    const times = per ? Object.values(per).filter((t): t is string => !!t) : outcome.nextCheckAt ? [outcome.nextCheckAt] : [];
    const now = Date.now();
    for (const at of new Set(times.map((t) => Date.parse(t)))) {
      // An instant already past is the sweep's: scheduling it here could spin.
      if (!Number.isFinite(at) || at <= now) continue;
      await this.deps.queues.maintenance.add('due', { at }, { jobId: `due-${at}`, delay: at - now, removeOnComplete: true, removeOnFail: true });
    }
  }

  identity: Processor = async (job, token) => {
    if (job.name === 'lost-credential') return this.lostCredential(job, token);
    const data = parseJobData(identityJobSchema, job.data, job);
    const mustLand = data.lane === 'revocation';
    const lease = await this.leases.acquire('identity', [data.identityId]);
    if (lease.busy.length) {
      await lease.release();
      return this.postpone(job, token, this.deps.leaseWaitMs ?? 250);
    }
    let outcome: ReconcileResult;
    try {
      outcome = await withEventTime(data.enqueuedAt, () =>
        this.deps.handlers.reconcile({ kind: 'identities', ids: [data.identityId] }, { trigger: `queue:${data.reason}`, actor: 'worker', apply: true }),
      );
    } catch (e) {
      await lease.release();
      // A leaver that cannot even be planned (the lock system is down) is an overdue revocation.
      if (mustLand) await recordOverdue(this.deps.db, { key: identityKey(data.identityId), kind: 'revocation', identityId: data.identityId, operations: [], error: toLockstepError(e).message });
      return this.onEngineError(e, job, token, mustLand);
    }
    await lease.release();
    await this.recordNextChecks(this.deps.db, [data.identityId], outcome, true);
    await this.scheduleDue(outcome);
    if (outcome.held) {
      this.log.warn({ identity: data.identityId, run: outcome.run?.id }, 'queue: run held by the mass-revocation guard; it waits for approval');
      return { run: outcome.run?.id ?? null, held: true };
    }
    if (outcome.failedRevocations.length) {
      const msg = outcome.results.find((r) => r.status === 'failed' && r.error)?.error?.message ?? 'revocation did not land';
      await recordOverdue(this.deps.db, { key: identityKey(data.identityId), kind: 'revocation', identityId: data.identityId, operations: overdueOps(outcome.failedRevocations), error: msg });
      throw new LockstepError('unavailable', `${outcome.failedRevocations.length} revocation(s) for ${data.identityId} did not land: ${msg}`);
    }
    await clearOverdue(this.deps.db, identityKey(data.identityId));
    const retryable = outcome.results.filter((r) => r.status === 'failed' && r.error && isRetryableCode(r.error.code));
    if (retryable.length) throw new LockstepError('unavailable', `${retryable.length} operation(s) for ${data.identityId} failed and will be retried: ${retryable[0]!.error!.message}`);
    return { run: outcome.run?.id ?? null, applied: outcome.results.filter((r) => r.status === 'applied').length };
  };

  private async lostCredential(job: Job, token: string | undefined): Promise<unknown> {
    const data = parseJobData(lostCredentialJobSchema, job.data, job);
    const key = `credential:${data.system}:${data.credentialId}`;
    if (!this.deps.handlers.markCredentialLost) throw new UnrecoverableError('this worker has no markCredentialLost handler');
    let r: { applied: boolean; error?: string };
    try {
      r = await withEventTime(data.enqueuedAt, () => this.deps.handlers.markCredentialLost!(data));
    } catch (e) {
      const err = toLockstepError(e);
      // Nothing to revoke: no such credential or system. The reporter hears it; no retry helps.
      if (err.code === 'not_found' || err.code === 'precondition' || err.code === 'validation') {
        await clearOverdue(this.deps.db, key);
        throw new UnrecoverableError(`${err.code}: ${err.message}`);
      }
      await recordOverdue(this.deps.db, { key, kind: 'lost-credential', system: data.system, operations: [], error: err.message });
      return this.onEngineError(err, job, token, true);
    }
    if (!r.applied) {
      await recordOverdue(this.deps.db, { key, kind: 'lost-credential', system: data.system, operations: [{ key, kind: 'set_credential_state', system: data.system, accountId: data.accountId ?? null, credentialId: data.credentialId }], error: r.error ?? null });
      throw new LockstepError('unavailable', `credential ${data.credentialId} in ${data.system} is not marked lost yet: ${r.error ?? 'the system did not take it'}`);
    }
    await clearOverdue(this.deps.db, key);
    return { applied: true };
  }

  full: Processor = async (job, token) => {
    switch (job.name) {
      case 'bucket':
        return this.bucket(job, token);
      case 'orphans':
      case 'orphans-retry':
        return this.orphans(job, token);
      case 'full':
        return this.closeFullRun(job);
      default:
        throw new UnrecoverableError(`unknown job ${job.name} in queue full`);
    }
  };

  private isLastTry(job: Job): boolean {
    return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  }

  private async bucket(job: Job, token: string | undefined): Promise<unknown> {
    const data = parseJobData(bucketJobSchema, job.data, job);
    // Identities an identity job is reconciling right now are left to it: the change that
    // made it run is at least as fresh as this run. They are re-enqueued so they get a look
    // after it (the identity queue keeps that one waiting job behind the active one).
    const lease = await this.leases.acquire('identity', data.ids);
    let outcome: ReconcileResult | null = null;
    try {
      if (lease.held.length) {
        outcome = await this.deps.handlers.reconcile(
          { kind: 'identities', ids: lease.held },
          { trigger: `full:${data.runId}`, actor: 'worker', apply: true, onProgress: (done, total) => void job.updateProgress({ done, total }).catch(() => undefined) },
        );
      }
    } catch (e) {
      await lease.release();
      if (this.isLastTry(job)) await this.recordFailedPart(data.runId, data.part, 'bucket', data.ids.length, e);
      return this.onEngineError(e, job, token, false);
    }
    await lease.release();
    if (lease.busy.length) await this.deps.queues.addIdentityJobs(lease.busy.map((identityId) => ({ identityId, lane: 'normal', reason: 'full-run', enqueuedAt: Date.now() })));
    if (outcome) {
      await this.handOverFailedRevocations(outcome);
      await this.scheduleDue(outcome);
    }
    // one transaction: each commit is an fsync, and a bucket job should cost one
    await this.deps.db.transaction(async (tx) => {
      if (outcome) {
        await this.recordNextChecks(tx, lease.held, outcome, false);
        if (!outcome.held) {
          const failedIds = new Set(outcome.failedRevocations.map((o) => o.identityId));
          const landed = lease.held.filter((id) => !failedIds.has(id)).map(identityKey);
          if (landed.length) await tx.query('DELETE FROM queue_overdue WHERE key = ANY($1::text[])', [landed]);
        }
      }
      await recordPart(tx, data.runId, {
        part: data.part,
        kind: 'bucket',
        identities: data.ids.length,
        applied: outcome ? outcome.results.filter((r) => r.status === 'applied').length : 0,
        failed: outcome ? outcome.failed.length : 0,
        failedRevocations: outcome ? outcome.failedRevocations.length : 0,
        held: outcome?.held ?? false,
        runIds: outcome?.run ? [outcome.run.id] : [],
        error: null,
      });
    });
    return { identities: lease.held.length, deferred: lease.busy.length };
  }

  /**
   * A bucket does not retry its failed revocations itself (that would redo a thousand
   * identities); each affected identity gets a job in the revocation lane, which retries
   * until it lands, and is overdue meanwhile.
   */
  private async handOverFailedRevocations(outcome: ReconcileResult): Promise<void> {
    const byIdentity = new Map<string, Operation[]>();
    for (const op of outcome.failedRevocations) {
      if (!op.identityId) continue;
      byIdentity.set(op.identityId, [...(byIdentity.get(op.identityId) ?? []), op]);
    }
    if (byIdentity.size === 0) return;
    for (const [identityId, ops] of byIdentity) {
      const err = outcome.results.find((r) => ops.some((o) => o.key === r.key) && r.error)?.error?.message ?? 'revocation did not land';
      await recordOverdue(this.deps.db, { key: identityKey(identityId), kind: 'revocation', identityId, operations: overdueOps(ops), error: err });
    }
    await this.deps.queues.addIdentityJobs([...byIdentity.keys()].map((identityId) => ({ identityId, lane: 'revocation', reason: 'retry-revocation', enqueuedAt: Date.now() })));
  }

  private async orphans(job: Job, token: string | undefined): Promise<unknown> {
    // `orphans` is a part of a full run; `orphans-retry` retries its revocations until they land.
    const data = parseJobData(orphanJobSchema.partial({ runId: true, part: true }), job.data, job);
    const key = `orphans:${data.system}`;
    const part = data.runId && data.part ? { runId: data.runId, part: data.part } : null;
    let outcome: ReconcileResult;
    try {
      outcome = await this.deps.handlers.reconcile({ kind: 'orphans', system: data.system }, { trigger: part ? `full:${part.runId}` : 'retry-revocation', actor: 'worker', apply: true });
    } catch (e) {
      if (part && this.isLastTry(job)) await this.recordFailedPart(part.runId, part.part, 'orphans', 0, e);
      return this.onEngineError(e, job, token, !part);
    }
    if (outcome.failedRevocations.length) {
      const msg = outcome.results.find((r) => r.status === 'failed' && r.error)?.error?.message ?? 'revocation did not land';
      await recordOverdue(this.deps.db, { key, kind: 'orphan-revocation', system: data.system, operations: overdueOps(outcome.failedRevocations), error: msg });
      if (!part) throw new LockstepError('unavailable', `${outcome.failedRevocations.length} orphan revocation(s) in ${data.system} did not land: ${msg}`);
      await this.deps.queues.full.add(
        'orphans-retry',
        { system: data.system },
        { deduplication: { id: key }, delay: this.backoff(1), attempts: UNTIL_IT_LANDS, backoff: { type: CAPPED_BACKOFF }, removeOnComplete: true, removeOnFail: { count: 1_000 } },
      );
    } else if (!outcome.held) {
      await clearOverdue(this.deps.db, key);
    }
    if (part) {
      await recordPart(this.deps.db, part.runId, {
        part: part.part,
        kind: 'orphans',
        identities: 0,
        applied: outcome.results.filter((r) => r.status === 'applied').length,
        failed: outcome.failed.length,
        failedRevocations: outcome.failedRevocations.length,
        held: outcome.held,
        runIds: outcome.run ? [outcome.run.id] : [],
        error: null,
      });
    }
    return { applied: outcome.results.filter((r) => r.status === 'applied').length };
  }

  private async recordFailedPart(runId: string, part: string, kind: 'bucket' | 'orphans', identities: number, e: unknown): Promise<void> {
    await recordPart(this.deps.db, runId, { part, kind, identities: 0, applied: 0, failed: 0, failedRevocations: 0, held: false, runIds: [], error: toLockstepError(e).message }).catch(
      (err: unknown) => this.log.error({ err: (err as Error).message, runId, part, identities }, 'queue: cannot record a failed part'),
    );
  }

  private async closeFullRun(job: Job): Promise<unknown> {
    const { runId } = parseJobData(fullJobSchema, job.data, job);
    const run = await getFullRun(this.deps.db, runId);
    if (!run) return { runId, missing: true };
    const p = run.progress.parts;
    const t = run.totals;
    const clean = p.done === p.total && t.failedParts === 0 && t.heldParts === 0 && t.failedRevocations === 0 && t.failed === 0;
    const problems = [
      p.done < p.total ? `${p.total - p.done} part(s) never finished` : '',
      t.failedParts ? `${t.failedParts} part(s) failed` : '',
      t.heldParts ? `${t.heldParts} part(s) held for approval` : '',
      t.failedRevocations ? `${t.failedRevocations} revocation(s) did not land (retried in the revocation lane)` : '',
      t.failed - t.failedRevocations > 0 ? `${t.failed - t.failedRevocations} other operation(s) failed` : '',
    ].filter(Boolean);
    await finishFullRun(this.deps.db, runId, clean ? 'applied' : 'partial', problems.length ? problems.join('; ') : null);
    return { runId, status: clean ? 'applied' : 'partial' };
  }

  maintenance: Processor = async (job) => {
    const name = job.name as MaintenanceJobName;
    const schema = maintenanceJobSchemas[name];
    if (!schema) throw new UnrecoverableError(`unknown job ${job.name} in queue maintenance`);
    switch (name) {
      case 'full-reconcile': {
        const r = await startFullRun(
          { queues: this.deps.queues, db: this.deps.db, systems: this.deps.systems, bucketSize: this.deps.bucketSize ?? 1000 },
          { trigger: 'schedule', actor: 'scheduler' },
        );
        return r;
      }
      case 'expiry-sweep':
      case 'due':
        return this.enqueueDue();
      case 'access-events': {
        const { system } = parseJobData(maintenanceJobSchemas['access-events'], job.data, job);
        if (!this.deps.handlers.pullAccessEvents) return { skipped: 'no handler' };
        return this.exclusive(`events:${system}`, () => this.deps.handlers.pullAccessEvents!(system));
      }
      case 'source-pull': {
        const { source } = parseJobData(maintenanceJobSchemas['source-pull'], job.data, job);
        if (!this.deps.handlers.pullSource) return { skipped: 'no handler' };
        return this.exclusive(`source:${source}`, () => this.deps.handlers.pullSource!(source));
      }
      case 'outbox-flush':
        return { flushed: await this.deps.queues.flushOutbox() };
    }
  };

  /** One pull of a system or source at a time across all processes; a pull still running is not doubled. */
  private async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T | { skipped: string }> {
    const lease = await this.leases.acquire('maintenance', [name]);
    if (lease.busy.length) return { skipped: 'already running' };
    try {
      return await fn();
    } finally {
      await lease.release();
    }
  }

  /** Identities whose next check has come go to the revocation lane (expiries must land on time). */
  private async enqueueDue(): Promise<{ enqueued: number }> {
    const due = await dueChecks(this.deps.db, this.now());
    if (due.length === 0) return { enqueued: 0 };
    await this.deps.queues.addIdentityJobs(due.map((d) => ({ identityId: d.identityId, lane: 'revocation', reason: 'expiry', enqueuedAt: Date.parse(d.nextCheckAt) })));
    return { enqueued: due.length };
  }
}

function isRetryableCode(code: string): boolean {
  return code === 'rate_limited' || code === 'unavailable' || code === 'timeout';
}

function timed(queue: QueueName, fn: Processor): Processor {
  return async (job, token, signal) => {
    const t0 = performance.now();
    try {
      const out: unknown = await fn(job, token, signal);
      observeJob(queue, job.name, 'completed', (performance.now() - t0) / 1000);
      return out;
    } catch (e) {
      observeJob(queue, job.name, e instanceof DelayedError ? 'delayed' : 'failed', (performance.now() - t0) / 1000);
      throw e;
    }
  };
}

/**
 * Starts the workers of this process: identity jobs (revocation lane first), full-run parts
 * and timers, each on its own BullMQ Worker with its own concurrency. Workers ride out Redis
 * restarts (they reconnect and carry on); jobs of a worker that dies are taken over by
 * another once their lock lapses.
 */
export function startWorkers(deps: WorkerDeps): WorkersHandle {
  const log = deps.logger ?? silent;
  const connection = durableRedisOptions(deps.queues.connection);
  const redis = new Redis(connection);
  redis.on('error', (err: Error) => log.warn({ err: err.message }, 'queue: lease connection error'));
  const leases = new LeaseManager(redis, deps.queues.prefix, deps.leaseTtlMs ?? 30_000);
  const p = new Processors(deps, leases);
  const concurrency = deps.concurrency ?? 4;
  const which = new Set<QueueName>(deps.queuesToWork ?? [QUEUE.identity, QUEUE.full, QUEUE.maintenance]);
  const common = {
    connection,
    prefix: deps.queues.prefix,
    lockDuration: deps.lockDurationMs ?? 30_000,
    stalledInterval: deps.stalledIntervalMs ?? 30_000,
    // a job whose worker died this often is probably what kills it; it then fails for good
    maxStalledCount: 5,
    settings: { backoffStrategy: (attemptsMade: number) => p.backoff(attemptsMade) },
  };
  const workers: Worker[] = [];
  const add = (name: QueueName, fn: Processor, n: number) => {
    if (!which.has(name)) return;
    const w = new Worker(name, timed(name, fn), { ...common, concurrency: n });
    w.on('error', (err) => log.warn({ err: err.message, queue: name }, 'queue: worker error'));
    w.on('failed', (job, err) => {
      if (!job) return;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
      (final ? log.error : log.warn).call(log, { queue: name, job: job.name, id: job.id, attempts: job.attemptsMade, err: err.message }, final ? 'queue: job failed for good' : 'queue: job failed, will retry');
    });
    workers.push(w);
  };
  add(QUEUE.identity, p.identity, concurrency);
  add(QUEUE.full, p.full, deps.fullConcurrency ?? Math.max(1, Math.floor(concurrency / 2)));
  add(QUEUE.maintenance, p.maintenance, deps.maintenanceConcurrency ?? 2);

  const unregister = [
    ...([QUEUE.identity, QUEUE.full, QUEUE.maintenance] as const).map((q) =>
      registerQueueDepth(q, () => deps.queues.queue(q).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'failed')),
    ),
    registerOverdueSource(async () => (await overdueRevocations(deps.db)).count),
  ];

  let flushing = false;
  const flushTimer = setInterval(() => {
    if (flushing || !deps.queues.db) return;
    flushing = true;
    deps.queues
      .flushOutbox()
      .then((n) => n && log.info({ identities: n }, 'queue: outbox flushed into Redis'))
      .catch(() => undefined)
      .finally(() => (flushing = false));
  }, deps.outboxFlushMs ?? 5_000);
  flushTimer.unref();

  let closing: Promise<void> | null = null;
  return {
    workers,
    ready: async () => {
      await Promise.all(workers.map((w) => w.waitUntilReady()));
    },
    close: () => {
      closing ??= (async () => {
        clearInterval(flushTimer);
        unregister.forEach((u) => u());
        await Promise.allSettled(workers.map((w) => w.close()));
        redis.disconnect();
      })();
      return closing;
    },
  };
}


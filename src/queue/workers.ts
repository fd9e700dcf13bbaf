import { performance } from 'node:perf_hooks';
import { DelayedError, UnrecoverableError, Worker, type Job, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import { LockstepError, toLockstepError } from '../domain/errors.js';
import { reconcileFull, reconcileIdentity, type Controller, type ReconcileOutcome } from './controller.js';
import type { RunOptions, Scope } from '../reconcile/types.js';
import type { Db } from '../store/db.js';
import {
  observeJob,
  registerHeldSource,
  registerIncidentSource,
  registerOverdueSource,
  registerQueueDepth,
  registerViolationSource,
  withEventTime,
} from '../metrics/index.js';
import { violationCounts } from '../store/invariants.js';
import { overdueIncidentSteps } from '../store/incidents.js';
import { heldRevocations } from '../store/budget.js';
import { durableRedisOptions } from './connection.js';
import { startFullRun } from './fullrun.js';
import {
  QUEUE,
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
  clearPending,
  dueChecks,
  settleIdentity,
  finishFullRun,
  getFullRun,
  listOverdue,
  overdueOps,
  recordOverdue,
  recordPart,
  type OverdueRevocation,
} from '../store/queue-state.js';

/**
 * What the workers call. The service binds them to one EngineContext (see engineHandlers);
 * tests may pass their own.
 */
export interface QueueHandlers {
  reconcile(scope: Scope, opts: RunOptions): Promise<ReconcileOutcome>;
  pullAccessEvents?(system: string): Promise<{ events: number }>;
  /** Sets the credential lost in its system; `applied: false` when the system did not take it. */
  markCredentialLost?(req: LostCredentialInput): Promise<{ applied: boolean; error?: string }>;
  /** Pulls one source (an Entra delta) by its name in lockstep.yaml. */
  pullSource?(name: string): Promise<unknown>;
  /** People whose sponsor is this identity: requeued when the sponsor changes at source. */
  sponseesOf?(identityId: string): Promise<string[]>;
  /** Writes a signed audit checkpoint to its sinks (timer `audit-checkpoint`). */
  auditCheckpoint?(): Promise<unknown>;
  /** Access reviews' schedule: deadlines, reminders, campaigns due (with the expiry sweep). */
  reviews?(): Promise<unknown>;
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
  /** Identities a full run applies under one set of leases (config `queue.bucketSize`). Default 1000. */
  bucketSize?: number;
  /** Identity jobs in parallel in this process (config `queue.concurrency`). Default 4. */
  concurrency?: number;
  /** Full runs and orphan retries in parallel in this process. Default half of concurrency, at least 1. */
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
  /**
   * How often this process moves the outbox (enqueues made while Redis was down) into Redis and
   * checks that Redis still holds the queue's state (else pending changes are enqueued again). Default 5 000.
   */
  outboxFlushMs?: number;
  /** A change still pending this long after its enqueue (its job lost) is enqueued again. Default 60 000. */
  pendingStaleMs?: number;
  /** Called when Redis was found to have lost the queue's state (the service re-creates its timers). */
  onQueueLost?(): Promise<void> | void;
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
    const queues = deps.queues;
    this.controller = {
      db: deps.db,
      now: this.now,
      logger: this.log,
      reconcile: (scope, opts) => deps.handlers.reconcile(scope, opts),
      systems: deps.systems,
      partitionSize: deps.bucketSize ?? 1000,
      leases: { acquire: (ids) => leases.acquire('identity', ids) },
      requeue: async (ids, lane, reason) => void (await queues.enqueueIdentities(ids, { priority: lane, reason })),
      ...(deps.handlers.sponseesOf ? { sponseesOf: deps.handlers.sponseesOf } : {}),
      queue: {
        settle: (s) => settleIdentity(deps.db, s.identityId, s.nextCheckAt, s.pendingUpTo, s.clearOverdue),
        ...(queues.db ? { clearPending: (ids: string[], upTo: Date) => clearPending(queues.db!, ids, upTo) } : {}),
        retryOrphans: async (system) => {
          const key = `orphans:${system}`;
          await queues.full.add(
            'orphans-retry',
            { system },
            {
              deduplication: { id: key },
              delay: this.backoff(1),
              attempts: UNTIL_IT_LANDS,
              backoff: { type: CAPPED_BACKOFF },
              removeOnComplete: true,
              removeOnFail: { count: 1_000 },
            },
          );
        },
        schedule: (times) => this.scheduleDue(times),
      },
      // BullMQ's backoff retries a transient failure; nothing sleeps under an identity's lease
      retries: 'queue',
    };
  }

  private readonly controller: Controller;

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

  /** A timer for each next check in the future (requeue-after); one per instant, however many identities share it. */
  private async scheduleDue(times: Array<string | null | undefined>): Promise<void> {
    const now = this.now().getTime();
    for (const at of new Set(times.filter((t): t is string => !!t).map((t) => Date.parse(t)))) {
      // An instant already past is the sweep's: scheduling it here could spin.
      if (!Number.isFinite(at) || at <= now) continue;
      await this.deps.queues.maintenance.add('due', { at }, { jobId: `due-${at}`, delay: at - now, removeOnComplete: true, removeOnFail: true });
    }
  }

  /** The transport of reconcileIdentity: BullMQ's retry, delay and lanes around the controller. */
  identity: Processor = async (job, token) => {
    if (job.name === 'lost-credential') return this.lostCredential(job, token);
    const data = parseJobData(identityJobSchema, job.data, job);
    const mustLand = data.lane === 'revocation';
    let r: Awaited<ReturnType<typeof reconcileIdentity>>;
    try {
      r = await withEventTime(data.enqueuedAt, () =>
        reconcileIdentity(this.controller, { identityId: data.identityId, lane: data.lane, reason: data.reason, enqueuedAt: data.enqueuedAt }),
      );
    } catch (e) {
      return this.onEngineError(e, job, token, mustLand);
    }
    if (r.busy) return this.postpone(job, token, this.deps.leaseWaitMs ?? r.requeueAfterMs ?? 250);
    if (r.held) return { run: r.runId, held: true };
    return { run: r.runId, applied: r.applied };
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
      await recordOverdue(this.deps.db, {
        key,
        kind: 'lost-credential',
        system: data.system,
        operations: [{ key, kind: 'set_credential_state', system: data.system, accountId: data.accountId ?? null, credentialId: data.credentialId }],
        error: r.error ?? null,
      });
      throw new LockstepError(
        'unavailable',
        `credential ${data.credentialId} in ${data.system} is not marked lost yet: ${r.error ?? 'the system did not take it'}`,
      );
    }
    await clearOverdue(this.deps.db, key);
    return { applied: true };
  }

  full: Processor = async (job, token) => {
    switch (job.name) {
      case 'full':
        return this.fullRun(job, token);
      case 'orphans-retry':
        return this.orphansRetry(job, token);
      default:
        throw new UnrecoverableError(`unknown job ${job.name} in queue full`);
    }
  };

  private isLastTry(job: Job): boolean {
    return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  }

  /**
   * A full run: the controller's reconcileFull (the plan `lockstep plan` shows, applied under
   * leases), recorded as the run's one part. A worker that dies mid-run leaves the job to
   * another, which plans afresh: what the first applied is no longer in the plan.
   */
  private async fullRun(job: Job, token: string | undefined): Promise<unknown> {
    const { runId } = parseJobData(fullJobSchema, job.data, job);
    const record = await getFullRun(this.deps.db, runId);
    if (!record) return { runId, missing: true };
    if (record.status !== 'running') return { runId, status: record.status };
    let r: Awaited<ReturnType<typeof reconcileFull>>;
    try {
      r = await reconcileFull(this.controller, {
        runId,
        trigger: `full:${record.trigger}`,
        actor: record.actor,
        onProgress: (done, total) => void job.updateProgress({ done, total }).catch(() => undefined),
      });
    } catch (e) {
      const err = toLockstepError(e);
      // the last try, or an error no retry helps: the record says the run failed (the next one tries again)
      if (this.isLastTry(job) || (!err.retryable && err.code !== 'rate_limited')) {
        await recordPart(this.deps.db, runId, {
          part: 'run',
          kind: 'run',
          identities: 0,
          applied: 0,
          failed: 0,
          failedRevocations: 0,
          held: false,
          runIds: [],
          error: err.message,
        });
        await finishFullRun(this.deps.db, runId, 'failed', err.message);
      }
      return this.onEngineError(e, job, token, false);
    }
    const o = r.outcome;
    const applied = o.results.filter((x) => x.status === 'applied').length;
    await recordPart(this.deps.db, runId, {
      part: 'run',
      kind: 'run',
      identities: Object.keys(o.nextCheckAtByIdentity ?? {}).length,
      applied,
      failed: o.failed.length,
      failedRevocations: o.failedRevocations.length,
      held: o.held,
      runIds: o.run ? [o.run.id] : [],
      error: null,
    });
    const problems = [
      o.held ? 'held for approval by the mass-revocation guard' : '',
      o.failedRevocations.length ? `${o.failedRevocations.length} revocation(s) did not land (retried in the revocation lane)` : '',
      o.failed.length - o.failedRevocations.length > 0 ? `${o.failed.length - o.failedRevocations.length} other operation(s) failed` : '',
      r.deferred.length ? `${r.deferred.length} identit(ies) left to their own job` : '',
    ].filter(Boolean);
    const clean = !o.held && o.failed.length === 0;
    await finishFullRun(this.deps.db, runId, clean ? 'applied' : 'partial', problems.length ? problems.join('; ') : null);
    return { runId, status: clean ? 'applied' : 'partial', applied };
  }

  /** Orphan revocations of a full run that did not land: retried until they do, overdue meanwhile. */
  private async orphansRetry(job: Job, token: string | undefined): Promise<unknown> {
    const data = parseJobData(orphanJobSchema, job.data, job);
    const key = `orphans:${data.system}`;
    let outcome: ReconcileOutcome;
    try {
      outcome = await this.deps.handlers.reconcile({ kind: 'orphans', system: data.system }, { trigger: 'retry-revocation', actor: 'worker', apply: true });
    } catch (e) {
      return this.onEngineError(e, job, token, true);
    }
    if (outcome.failedRevocations.length) {
      const msg = outcome.results.find((r) => r.status === 'failed' && r.error)?.error?.message ?? 'revocation did not land';
      await recordOverdue(this.deps.db, { key, kind: 'orphan-revocation', system: data.system, operations: overdueOps(outcome.failedRevocations), error: msg });
      throw new LockstepError('unavailable', `${outcome.failedRevocations.length} orphan revocation(s) in ${data.system} did not land: ${msg}`, {
        retryable: true,
      });
    }
    if (!outcome.held) await clearOverdue(this.deps.db, key);
    return { applied: outcome.results.filter((r) => r.status === 'applied').length };
  }

  maintenance: Processor = async (job) => {
    const name = job.name as MaintenanceJobName;
    const schema = maintenanceJobSchemas[name];
    if (!schema) throw new UnrecoverableError(`unknown job ${job.name} in queue maintenance`);
    switch (name) {
      case 'full-reconcile': {
        const r = await startFullRun({ queues: this.deps.queues, db: this.deps.db, systems: this.deps.systems }, { trigger: 'schedule', actor: 'scheduler' });
        // (a run still going is reused: the schedule must not pile them up)
        return r;
      }
      case 'expiry-sweep': {
        const due = await this.enqueueDue();
        // access reviews' deadlines, reminders and campaigns ride on the sweep's timer (one process
        // at a time); their failure must not fail the sweep, and the next sweep tries again
        if (this.deps.handlers.reviews) {
          try {
            await this.exclusive('reviews', () => this.deps.handlers.reviews!());
          } catch (e) {
            this.log.warn({ err: (e as Error).message }, 'access reviews: the scheduled tick failed; the next sweep tries again');
          }
        }
        return due;
      }
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
      case 'audit-checkpoint':
        if (!this.deps.handlers.auditCheckpoint) return { skipped: 'no handler' };
        return this.exclusive('audit-checkpoint', () => this.deps.handlers.auditCheckpoint!());
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
    await this.deps.queues.addIdentityJobs(
      due.map((d) => ({ identityId: d.identityId, lane: 'revocation', reason: 'expiry', enqueuedAt: Date.parse(d.nextCheckAt) })),
    );
    return { enqueued: due.length };
  }
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
export async function startWorkers(deps: WorkerDeps): Promise<WorkersHandle> {
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
      (final ? log.error : log.warn).call(
        log,
        { queue: name, job: job.name, id: job.id, attempts: job.attemptsMade, err: err.message },
        final ? 'queue: job failed for good' : 'queue: job failed, will retry',
      );
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
    registerHeldSource(() => heldRevocations(deps.db)),
    registerIncidentSource(() => overdueIncidentSteps(deps.db, new Date())),
    registerViolationSource(() => violationCounts(deps.db)),
  ];

  let flushing = false;
  const recover = async () => {
    const n = await deps.queues.flushOutbox();
    if (n) log.info({ identities: n }, 'queue: outbox flushed into Redis');
    // acknowledged changes whose jobs Redis lost (a restart without its data, a failover)
    const r = await deps.queues.recoverPending({ staleMs: deps.pendingStaleMs ?? 60_000 });
    if (r.lost) {
      // at start, a Redis without the marker and nothing pending is simply a first start
      if (r.requeued || !starting) log.warn({ requeued: r.requeued }, 'queue: Redis lost the queue state; every pending change was enqueued again');
      // at start no timer exists yet: the caller creates its timers after this
      if (!starting) await deps.onQueueLost?.();
    } else if (r.requeued) log.warn({ requeued: r.requeued }, 'queue: pending changes whose jobs were lost were enqueued again');
  };
  const check = () => {
    if (flushing || !deps.queues.db) return Promise.resolve();
    flushing = true;
    return recover()
      .catch((e: unknown) => log.warn({ err: (e as Error).message }, 'queue: pending changes could not be checked'))
      .finally(() => (flushing = false));
  };
  // Once now, before any change is taken: the marker is set at start, so a change acknowledged in
  // the first seconds is not later taken for one that a lost Redis dropped (and sent again).
  let starting = true;
  await check();
  starting = false;
  const flushTimer = setInterval(() => void check(), deps.outboxFlushMs ?? 5_000);
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

import type { LostCredentialRequest } from '../reconcile/lost.js';
import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { LockstepError } from '../domain/errors.js';
import type { Db } from '../store/db.js';
import { isUuid } from '../store/identities.js';
import { producerRedisOptions, type RedisConnection } from './connection.js';
import { PRIORITY, QUEUE, type Lane, type IdentityJobData, type LostCredentialJobData, type QueueName } from './jobs.js';
import { drainOutbox, markPending, pushOutbox, takePendingForRequeue, type OutboxEntry } from '../store/queue-state.js';
import { GroupCommit } from '../store/group-commit.js';

/** Identity jobs retry until they land (principle 3); the delay between tries is capped by the worker. */
export const UNTIL_IT_LANDS = 1_000_000;
/** Name of the backoff strategy the workers implement (exponential, capped, with jitter). */
export const CAPPED_BACKOFF = 'capped-exponential';

const KEEP = { removeOnComplete: { age: 3_600, count: 1_000 }, removeOnFail: { age: 7 * 24 * 3_600, count: 5_000 } } satisfies Partial<JobsOptions>;

export interface EnqueueOptions {
  /** `revocation`: leavers, lost credentials, expiries; served before ordinary changes. */
  priority: Lane;
  /** Why (for logs and the job): `scim:patch`, `entra:delta`, `leaver`, `expiry`... */
  reason: string;
  /** When the source wrote the change (ms since epoch); defaults to now. */
  enqueuedAt?: number;
  /** The source recorded these as pending already, in its write's transaction (at `enqueuedAt`). */
  alreadyPending?: boolean;
}

export interface EnqueueResult {
  /** Jobs added or merged into a job already waiting for that identity. */
  queued: number;
  /** Written to the store's outbox because Redis could not be reached; sent when it is back. */
  outboxed: number;
}

/** A lost-credential report, as reconcile's markCredentialLost takes it. */
export type LostCredentialInput = LostCredentialRequest;

/** What sources call when identities changed (the SCIM and Entra sources take one of these). */
/** `pendingAt`: the source recorded the change as pending itself, at that time (ms), with the write. */
export type OnChange = (ids: string[], info: { leaver?: boolean; reason?: string; pendingAt?: number }) => Promise<void>;

export interface CreateQueuesOptions {
  /** Redis URL or ioredis options; default REDIS_URL, else redis://127.0.0.1:6379. */
  connection?: RedisConnection;
  /** Key prefix of every queue key (config `queue.prefix`). */
  prefix?: string;
  /** With a store, enqueues that cannot reach Redis go to its outbox instead of failing. */
  db?: Db;
  /** How long an enqueue may wait for Redis before it falls back to the outbox. Default 2 000. */
  enqueueTimeoutMs?: number;
  logger?: { warn(o: object, msg?: string): void; error(o: object, msg?: string): void };
}

function identityJob(id: string, data: IdentityJobData): { name: string; data: IdentityJobData; opts: JobsOptions } {
  return {
    name: 'identity',
    data,
    opts: {
      // custom ids tell a merged add (the id of the job already there comes back) from a new one
      jobId: `i-${randomUUID()}`,
      priority: PRIORITY[data.lane],
      // One waiting job per identity: bursts collapse. keepLastIfActive: a change that arrives
      // while that identity's job runs (it may have read the old state) is kept and run after
      // it. replace: a change replaces a job that sits delayed (backoff), so it runs now.
      deduplication: { id: `identity:${id}`, keepLastIfActive: true, replace: true },
      attempts: UNTIL_IT_LANDS,
      backoff: { type: CAPPED_BACKOFF },
      ...KEEP,
    },
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  // A plain timer, not an aborted timers/promises sleep: aborting builds an AbortError
  // (a DOMException with a stack) on every enqueue, which bench:scim found to cost ~0.2 ms a write.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LockstepError('unavailable', `${what}: Redis did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The queues of one lockstep deployment (three BullMQ queues under one
 * key prefix) and the producer API that sources, the admin API and the CLI call.
 */
export class LockstepQueues {
  readonly prefix: string;
  readonly connection: RedisOptions;
  readonly identity: Queue;
  readonly full: Queue;
  readonly maintenance: Queue;
  readonly db?: Db;
  private readonly timeoutMs: number;
  private readonly logger?: CreateQueuesOptions['logger'];
  private closed = false;
  /**
   * onChange's enqueues, coalesced: the calls of one turn of the event loop (a group commit of
   * SCIM creates answers its callers together) and those made while such a batch is being sent go
   * to the store and to Redis together, one markPending statement and one addBulk instead of one
   * each.
   */
  private readonly changes = new GroupCommit<{ ids: string[]; opts: EnqueueOptions }, void>((calls) => this.enqueueCalls(calls), {
    maxBatch: 500,
    maxInFlight: 2,
  });

  constructor(opts: CreateQueuesOptions = {}) {
    this.prefix = opts.prefix ?? 'lockstep';
    this.connection = producerRedisOptions(opts.connection);
    this.db = opts.db;
    this.timeoutMs = opts.enqueueTimeoutMs ?? 2_000;
    this.logger = opts.logger;
    const base = { connection: this.connection, prefix: this.prefix };
    this.identity = new Queue(QUEUE.identity, base);
    this.full = new Queue(QUEUE.full, base);
    this.maintenance = new Queue(QUEUE.maintenance, base);
    // An 'error' event without a listener would crash the process on a Redis blip.
    for (const q of [this.identity, this.full, this.maintenance])
      q.on('error', (err) => this.logger?.warn({ err: err.message, queue: q.name }, 'queue: Redis error'));
  }

  queue(name: QueueName): Queue {
    return name === QUEUE.identity ? this.identity : name === QUEUE.full ? this.full : this.maintenance;
  }

  /**
   * Asks for these identities to be reconciled. At most one job waits per identity: an
   * identity already waiting is merged (and moved up to the revocation lane if this asks for
   * it). When Redis cannot be reached and a store was given, the ids go to the outbox.
   */
  async enqueueIdentities(ids: string[], opts: EnqueueOptions): Promise<EnqueueResult> {
    const entries = entriesOf(ids, opts);
    return this.enqueueEntries(entries, opts.alreadyPending ? [] : entries);
  }

  /**
   * Enqueues identities (one entry each): `toMark` are recorded as pending first (the others the
   * source recorded itself), then all are sent to Redis, or to the outbox when it cannot be reached.
   */
  private async enqueueEntries(entries: OutboxEntry[], toMark: OutboxEntry[]): Promise<EnqueueResult> {
    if (entries.length === 0) return { queued: 0, outboxed: 0 };
    // pending in the store before it is in Redis: a Redis that loses the job does not lose the change
    if (this.db && toMark.length) await markPending(this.db, toMark);
    try {
      await withTimeout(this.addIdentityJobs(entries), this.timeoutMs, 'enqueue');
      return { queued: entries.length, outboxed: 0 };
    } catch (e) {
      if (!this.db) throw new LockstepError('unavailable', `cannot enqueue ${entries.length} identities: ${(e as Error).message}`, { cause: e });
      await pushOutbox(this.db, entries);
      this.logger?.warn({ err: (e as Error).message, identities: entries.length }, 'queue: Redis unreachable, enqueue kept in the outbox');
      return { queued: 0, outboxed: entries.length };
    }
  }

  /** Several enqueueIdentities calls as one: one entry per identity, merged as the store merges them. */
  private async enqueueCalls(calls: Array<{ ids: string[]; opts: EnqueueOptions }>): Promise<void[]> {
    const all: OutboxEntry[] = [];
    const toMark: OutboxEntry[] = [];
    for (const { ids, opts } of calls) {
      const entries = entriesOf(ids, opts);
      all.push(...entries);
      if (!opts.alreadyPending) toMark.push(...entries);
    }
    await this.enqueueEntries(mergeEntries(all), mergeEntries(toMark));
    return calls.map(() => undefined);
  }

  /** Adds identity jobs (no timeout, no outbox): the outbox flush and the workers use it. */
  async addIdentityJobs(entries: OutboxEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += 500) {
      const slice = entries.slice(i, i + 500);
      const wanted = slice.map((e) => identityJob(e.identityId, { identityId: e.identityId, lane: e.lane, reason: e.reason, enqueuedAt: e.enqueuedAt }));
      // One job (what every SCIM write enqueues) goes without a pipeline: ioredis copies each of
      // BullMQ's scripts onto every pipeline it creates, ~0.15 ms a call (bench:scim profile).
      const one = wanted.length === 1 ? wanted[0] : null;
      const jobs = one ? [await this.identity.add(one.name, one.data, one.opts)] : await this.identity.addBulk(wanted);
      // A revocation merged into a job that waits in the normal lane moves that job up.
      await Promise.all(
        jobs.map(async (job, k) => {
          if (job.id === wanted[k].opts.jobId || slice[k].lane !== 'revocation' || !job.id) return;
          await this.identity
            .getJob(job.id)
            .then((j) => (j && (j.priority ?? 0) > PRIORITY.revocation ? j.changePriority({ priority: PRIORITY.revocation }) : undefined));
        }),
      );
    }
  }

  private markerKey(): string {
    return `${this.prefix}:lockstep:queue-epoch`;
  }

  /**
   * Finds out whether Redis still holds this deployment's queue state: a marker key set once is
   * gone after a Redis that restarted without its data (or a failover to an empty replica). Then
   * every acknowledged change still pending in the store goes to the queue again, and `lost` is
   * true (the caller re-creates its timers). Otherwise pending changes older than `staleMs`, whose
   * job was lost on its own, are sent again. Returns how many were sent.
   */
  async recoverPending(opts: { staleMs: number; maxRequeues?: number; now?: Date } = { staleMs: 60_000 }): Promise<{ lost: boolean; requeued: number }> {
    if (!this.db) return { lost: false, requeued: 0 };
    // BullMQ's connection is an ioredis client (lockstep never configures a cluster)
    const client = (await this.identity.client) as unknown as Redis;
    // set only if absent: 1 means it was gone (a Redis without our state; a first start counts too)
    const lost = (await client.setnx(this.markerKey(), new Date().toISOString())) === 1;
    let requeued = 0;
    for (;;) {
      const batch = await takePendingForRequeue(this.db, {
        all: lost,
        staleMs: opts.staleMs,
        now: opts.now ?? new Date(),
        maxRequeues: opts.maxRequeues ?? 20,
        limit: 1000,
      });
      if (batch.length) await this.addIdentityJobs(batch);
      requeued += batch.length;
      // a lost state sends everything (each batch is marked, so the next pass takes the rest)
      if (!lost || batch.length < 1000) break;
    }
    return { lost, requeued };
  }

  /** Moves enqueues kept in the outbox (Redis was down) into the queue; returns how many. */
  async flushOutbox(): Promise<number> {
    if (!this.db) return 0;
    return drainOutbox(this.db, (entries) => this.addIdentityJobs(entries));
  }

  /**
   * Marks a credential lost through the revocation lane: the job retries (capped backoff)
   * until the lock system has it, and is reported as overdue meanwhile. One job per
   * credential: reporting it twice does not open two incidents.
   */
  async enqueueLostCredential(req: LostCredentialInput): Promise<{ jobId: string }> {
    const data: LostCredentialJobData = { ...req, enqueuedAt: Date.now() };
    const job = await withTimeout(
      this.identity.add('lost-credential', data, {
        jobId: `c-${randomUUID()}`,
        priority: PRIORITY.revocation,
        deduplication: { id: `credential:${req.system}:${req.credentialId}`, keepLastIfActive: true },
        attempts: UNTIL_IT_LANDS,
        backoff: { type: CAPPED_BACKOFF },
        ...KEEP,
      }),
      this.timeoutMs,
      'enqueue lost credential',
    );
    return { jobId: job.id! };
  }

  /**
   * The callback sources take: leavers go to the revocation lane. It never throws at the
   * source for a Redis outage when a store was given (the outbox keeps the ids).
   */
  onChange(source = 'source'): OnChange {
    return async (ids, info) => {
      // coalesced with the other calls of this turn (see `changes`): an error fails all of them alike
      await this.changes.submit({
        ids,
        opts: {
          priority: info.leaver ? 'revocation' : 'normal',
          reason: info.reason ?? `${source}${info.leaver ? ':leaver' : ':change'}`,
          ...(info.pendingAt !== undefined ? { enqueuedAt: info.pendingAt, alreadyPending: true } : {}),
        },
      });
    };
  }

  /** Job counts of the three queues by state. */
  async counts(): Promise<Record<QueueName, Record<string, number>>> {
    const states = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children', 'failed', 'completed'] as const;
    const [identity, full, maintenance] = await Promise.all([this.identity, this.full, this.maintenance].map((q) => q.getJobCounts(...states)));
    return { identity: identity, full: full, maintenance: maintenance };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // enqueues already coalescing are sent (or kept in the outbox) first
    await this.changes.idle();
    await Promise.allSettled([this.identity.close(), this.full.close(), this.maintenance.close()]);
  }
}

/** One entry per distinct identity id of a call (ids that are not UUIDs are skipped). */
function entriesOf(ids: string[], opts: EnqueueOptions): OutboxEntry[] {
  const enqueuedAt = opts.enqueuedAt ?? Date.now();
  return [...new Set(ids)].filter(isUuid).map((identityId) => ({ identityId, lane: opts.priority, reason: opts.reason, enqueuedAt }));
}

/**
 * One entry per identity, as queue_pending's upsert merges two enqueues of one identity (and as
 * one job absorbs the other): the revocation lane wins, with its reason; the latest time.
 */
function mergeEntries(entries: OutboxEntry[]): OutboxEntry[] {
  const byId = new Map<string, OutboxEntry>();
  for (const e of entries) {
    const prev = byId.get(e.identityId);
    if (!prev) {
      byId.set(e.identityId, e);
      continue;
    }
    const lane = prev.lane === 'revocation' || e.lane === 'revocation' ? 'revocation' : 'normal';
    const reason = e.lane === lane ? e.reason : prev.reason;
    byId.set(e.identityId, { identityId: e.identityId, lane, reason, enqueuedAt: Math.max(prev.enqueuedAt, e.enqueuedAt) });
  }
  return [...byId.values()];
}

export function createQueues(opts: CreateQueuesOptions = {}): LockstepQueues {
  return new LockstepQueues(opts);
}

/** Convenience for callers holding the queues: `enqueueIdentities(queues, ids, opts)`. */
export function enqueueIdentities(queues: LockstepQueues, ids: string[], opts: EnqueueOptions): Promise<EnqueueResult> {
  return queues.enqueueIdentities(ids, opts);
}

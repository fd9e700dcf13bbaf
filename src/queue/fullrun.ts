import { randomUUID } from 'node:crypto';
import type { FlowChildJob } from 'bullmq';
import { LockstepError } from '../domain/errors.js';
import type { Db } from '../store/db.js';
import { iterateIdentities } from '../store/identities.js';
import { CAPPED_BACKOFF, type LockstepQueues } from './queues.js';
import { QUEUE, type BucketJobData, type OrphanJobData } from './jobs.js';
import { createFullRun, finishFullRun, getFullRun, listFullRuns, type FullRun } from '../store/queue-state.js';

export interface FullRunDeps {
  queues: LockstepQueues;
  db: Db;
  /** Lock systems to scan for orphans (keys of `systems` in lockstep.yaml). */
  systems: string[];
  /** Identities per bucket job (config `queue.bucketSize`). */
  bucketSize: number;
}

export interface StartFullRunOptions {
  trigger: string;
  actor: string;
  /** Start even if another full run is still going. */
  force?: boolean;
}

/** Tries of one part before the run records it as failed (the next full run tries again). */
export const PART_ATTEMPTS = 8;

const rootJobId = (runId: string) => `full-${runId}`;

/**
 * Starts a full reconciliation: one bucket job per `bucketSize` identities (deleted ones
 * too: their accounts may still need revoking) and one orphan scan per system, as children
 * of one parent job that closes the run record when they are all done. The whole tree is
 * added atomically: there is never half a full run in Redis. Returns the running one
 * instead when a full run is still going (an hourly schedule must not pile them up).
 */
export async function startFullRun(deps: FullRunDeps, opts: StartFullRunOptions): Promise<{ runId: string; started: boolean }> {
  if (!opts.force) {
    for (const r of await listFullRuns(deps.db, { status: 'running', limit: 5 })) {
      const root = await deps.queues.full.getJob(rootJobId(r.id));
      const state = root ? await root.getState() : 'unknown';
      if (state !== 'unknown' && state !== 'completed' && state !== 'failed') return { runId: r.id, started: false };
      // Its jobs are gone (Redis lost its data, or the run was abandoned): close the record.
      await finishFullRun(deps.db, r.id, 'failed', `abandoned: its jobs are no longer in Redis (state ${state})`);
    }
  }
  const runId = randomUUID();
  const size = Math.max(1, deps.bucketSize);
  const children: FlowChildJob[] = [];
  let identities = 0;
  const childOpts = (part: string) => ({
    jobId: `${runId}-${part}`,
    attempts: PART_ATTEMPTS,
    backoff: { type: CAPPED_BACKOFF },
    // a part that fails for good is recorded as such; the run still closes
    ignoreDependencyOnFailure: true,
    removeOnComplete: { age: 3_600, count: 5_000 },
    removeOnFail: { age: 7 * 24 * 3_600, count: 5_000 },
  });
  let n = 0;
  for await (const page of iterateIdentities(deps.db, size, { includeDeleted: true })) {
    const part = `b${n++}`;
    const data: BucketJobData = { runId, part, ids: page.map((i) => i.id) };
    identities += page.length;
    children.push({ name: 'bucket', queueName: QUEUE.full, data, opts: childOpts(part) });
  }
  for (const system of deps.systems) {
    const part = `o-${system}`;
    const data: OrphanJobData = { runId, part, system };
    children.push({ name: 'orphans', queueName: QUEUE.full, data, opts: childOpts(part) });
  }
  await createFullRun(deps.db, { id: runId, trigger: opts.trigger, actor: opts.actor, partsTotal: children.length, identitiesTotal: identities, systems: deps.systems });
  try {
    await deps.queues.flow.add({
      name: 'full',
      queueName: QUEUE.full,
      data: { runId },
      opts: { jobId: rootJobId(runId), attempts: PART_ATTEMPTS, backoff: { type: CAPPED_BACKOFF }, removeOnComplete: { age: 24 * 3_600 } },
      children,
    });
  } catch (e) {
    await finishFullRun(deps.db, runId, 'failed', `could not enqueue: ${(e as Error).message}`);
    throw new LockstepError('unavailable', `cannot start a full reconciliation: ${(e as Error).message}`, { cause: e });
  }
  return { runId, started: true };
}

/** A full run with its progress and totals (the admin API's GET /runs/full/:id). */
export async function fullRunStatus(db: Db, runId: string): Promise<FullRun | null> {
  return getFullRun(db, runId);
}

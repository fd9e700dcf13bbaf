import { randomUUID } from 'node:crypto';
import { LockstepError } from '../domain/errors.js';
import type { Db } from '../store/db.js';
import { countIdentities } from '../store/identities.js';
import { CAPPED_BACKOFF, type LockstepQueues } from './queues.js';
import { createFullRun, finishFullRun, getFullRun, listFullRuns, type FullRun } from '../store/queue-state.js';

export interface FullRunDeps {
  queues: LockstepQueues;
  db: Db;
  /** Lock systems the run covers (keys of `systems` in lockstep.yaml), for its record. */
  systems: string[];
}

export interface StartFullRunOptions {
  trigger: string;
  actor: string;
  /** Start even if another full run is still going. */
  force?: boolean;
}

/** Tries of a full run before its record says failed (the next full run tries again). */
export const PART_ATTEMPTS = 8;

const rootJobId = (runId: string) => `full-${runId}`;

/**
 * Queues a full reconciliation: one job, whose worker computes the plan `lockstep plan`
 * computes and applies it under leases (queue/controller.ts reconcileFull). Its id is the
 * id of the run record it writes, so `GET /api/v1/runs/{id}` shows its plan and results.
 * Returns the running one instead when a full run is still going (an hourly schedule must not
 * pile them up) unless `force`.
 */
export async function startFullRun(deps: FullRunDeps, opts: StartFullRunOptions): Promise<{ runId: string; started: boolean }> {
  if (!opts.force) {
    for (const r of await listFullRuns(deps.db, { status: 'running', limit: 5 })) {
      const root = await deps.queues.full.getJob(rootJobId(r.id));
      const state = root ? await root.getState() : 'unknown';
      if (state !== 'unknown' && state !== 'completed' && state !== 'failed') return { runId: r.id, started: false };
      // Its job is gone (Redis lost its data, or the run was abandoned): close the record.
      await finishFullRun(deps.db, r.id, 'failed', `abandoned: its job is no longer in Redis (state ${state})`);
    }
  }
  const runId = randomUUID();
  const identities = await countIdentities(deps.db, { includeDeleted: true });
  await createFullRun(deps.db, { id: runId, trigger: opts.trigger, actor: opts.actor, partsTotal: 1, identitiesTotal: identities, systems: deps.systems });
  try {
    await deps.queues.full.add(
      'full',
      { runId },
      {
        jobId: rootJobId(runId),
        attempts: PART_ATTEMPTS,
        backoff: { type: CAPPED_BACKOFF },
        removeOnComplete: { age: 24 * 3_600 },
        removeOnFail: { age: 7 * 24 * 3_600 },
      },
    );
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

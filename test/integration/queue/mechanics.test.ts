import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockstepError } from '../../../src/domain/errors.js';
import type { Operation } from '../../../src/domain/plan.js';
import { getIdentity, upsertIdentity } from '../../../src/store/identities.js';
import { metricsRegistry } from '../../../src/metrics/index.js';
import {
  createQueues,
  getCheck,
  getFullRun,
  overdueRevocations,
  startFullRun,
  startSchedulers,
  startWorkers,
  type LockstepQueues,
  type QueueHandlers,
  type WorkerDeps,
  type WorkersHandle,
} from '../../../src/queue/index.js';
import { resetStore, type TestStore } from '../../helpers/db.js';
import { REDIS_URL, createQueueTestStore, deleteKeys, emptyOutcome, gate, seedIdentities, uniquePrefix, waitFor } from './helpers.js';

/**
 * Queue mechanics against real Redis and PostgreSQL, with the engine replaced by handlers
 * the tests write (dependency injection, not mocks): what BullMQ, the leases and the store
 * tables do is what is under test here. The same paths run with the real engine in e2e.test.ts.
 */

let store: TestStore;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  store = await createQueueTestStore();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  await resetStore(store.db);
});
afterAll(async () => {
  await store.drop();
});

interface Setup {
  queues: LockstepQueues;
  workers: WorkersHandle;
  prefix: string;
}

async function setup(handlers: QueueHandlers, over: Partial<WorkerDeps> = {}): Promise<Setup> {
  const prefix = uniquePrefix('mech');
  const queues = createQueues({ connection: REDIS_URL, prefix, db: store.db });
  const workers = await startWorkers({
    queues,
    db: store.db,
    handlers,
    systems: ['dc1'],
    concurrency: 4,
    retry: { baseDelayMs: 40, maxDelayMs: 300 },
    leaseTtlMs: 3_000,
    leaseWaitMs: 30,
    ...over,
  });
  await workers.ready();
  cleanups.push(async () => {
    await workers.close();
    await queues.close();
    await deleteKeys(prefix);
  });
  return { queues, workers, prefix };
}

const revokeOp = (identityId: string): Operation => ({
  key: `dc1|revoke|acc-1|AG-WS`,
  kind: 'revoke',
  system: 'dc1',
  identityId,
  externalId: 'E1',
  userName: 'u',
  accountId: 'acc-1',
  group: { id: 'whitespace', ref: 'AG-WS', name: 'WS', protectionClass: 4 },
  reason: { cause: 'leaver', text: 'leaver' },
  revocation: true,
});

describe('per-identity jobs', () => {
  it('collapses a burst of 1,000 changes to one identity into a few runs that end on the last version', async () => {
    const [id] = await seedIdentities(store.db, 1);
    // the source's version of the identity; e2e.test.ts does the same with real store writes
    let version = 0;
    const seen: number[] = [];
    let running = 0;
    let overlap = false;
    const { queues } = await setup({
      reconcile: async () => {
        if (running++) overlap = true;
        seen.push(version);
        await sleep(20);
        running--;
        return emptyOutcome();
      },
    });
    for (let i = 0; i < 1000; i += 20) {
      // a SCIM client with 20 requests in flight
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          version++;
          await queues.enqueueIdentities([id], { priority: 'normal', reason: 'test' });
        }),
      );
      // one identity: never more than one job waiting, whatever the burst
      expect(await queues.identity.getJobCountByTypes('prioritized', 'waiting', 'delayed')).toBeLessThanOrEqual(1);
      await sleep(2);
    }
    await waitFor(
      async () => seen.at(-1) === 1000 && (await queues.identity.getJobCounts('active', 'prioritized', 'waiting')).active === 0,
      'the last version reconciled',
    );
    await sleep(100);
    expect(seen.at(-1)).toBe(1000);
    expect(seen.length).toBeLessThan(100);
    expect(overlap).toBe(false);
  });

  it('does not lose a change that arrives while that identity is being reconciled', async () => {
    const [id] = await seedIdentities(store.db, 1);
    const g = gate();
    const seen: number[] = [];
    const { queues } = await setup({
      reconcile: async () => {
        seen.push((await getIdentity(store.db, id))!.version);
        if (seen.length === 1) await g.wait;
        return emptyOutcome();
      },
    });
    await queues.enqueueIdentities([id], { priority: 'normal', reason: 'first' });
    await waitFor(() => seen.length === 1, 'the first run to start');
    // the active run read version 1; the source now writes version 2
    const v2 = (await upsertIdentity(store.db, { source: 'hr', externalId: 'E00000', userName: 'user0@example.com', department: 'moved' })).identity.version;
    await queues.enqueueIdentities([id], { priority: 'normal', reason: 'second' });
    await queues.enqueueIdentities([id], { priority: 'normal', reason: 'third' });
    g.open();
    await waitFor(() => seen.length === 2, 'a run after the active one');
    expect(seen).toEqual([1, v2]);
    await sleep(150);
    expect(seen).toHaveLength(2);
  });

  it('moves a waiting change up to the revocation lane when the identity turns out to be a leaver', async () => {
    const ids = await seedIdentities(store.db, 2);
    const g = gate();
    const { queues } = await setup({ reconcile: async () => (await g.wait, emptyOutcome()) }, { concurrency: 1 });
    await queues.enqueueIdentities([ids[0]], { priority: 'normal', reason: 'blocker' });
    await waitFor(async () => (await queues.identity.getJobCounts('active')).active === 1, 'the blocker to run');
    await queues.enqueueIdentities([ids[1]], { priority: 'normal', reason: 'change' });
    await queues.enqueueIdentities([ids[1]], { priority: 'revocation', reason: 'leaver' });
    const [waiting] = await queues.identity.getJobs(['prioritized', 'waiting']);
    expect(waiting?.data).toMatchObject({ identityId: ids[1] });
    expect(waiting?.priority).toBe(1);
    expect(await queues.identity.getJobCountByTypes('prioritized', 'waiting')).toBe(1);
    g.open();
  });

  it('delays a job by the Retry-After of a rate limit that escaped the driver, without using up a try', async () => {
    const [id] = await seedIdentities(store.db, 1);
    const calls: number[] = [];
    const { queues } = await setup({
      reconcile: async () => {
        calls.push(Date.now());
        if (calls.length === 1) throw new LockstepError('rate_limited', 'too many requests', { retryAfterMs: 400 });
        return emptyOutcome();
      },
    });
    await queues.enqueueIdentities([id], { priority: 'normal', reason: 'test' });
    await waitFor(() => calls.length === 2, 'the delayed retry');
    expect(calls[1] - calls[0]).toBeGreaterThanOrEqual(390);
    const done = await waitFor(async () => (await queues.identity.getJobs(['completed']))[0], 'the job to complete');
    // the completing try is the only one counted: the postponement used none
    expect(done.attemptsMade).toBe(1);
  });

  it('retries a revocation that did not land until it does, reporting it overdue meanwhile', async () => {
    const [id] = await seedIdentities(store.db, 1);
    let down = true;
    let tries = 0;
    const { queues } = await setup({
      reconcile: async () => {
        tries++;
        if (down)
          return emptyOutcome({
            failedRevocations: [revokeOp(id)],
            failed: [revokeOp(id)],
            results: [{ key: 'k', status: 'failed', attempts: 2, at: new Date().toISOString(), error: { code: 'unavailable', message: 'HTTP 503' } }],
          });
        return emptyOutcome({ results: [{ key: 'k', status: 'applied', attempts: 1, at: new Date().toISOString() }] });
      },
    });
    await queues.enqueueIdentities([id], { priority: 'revocation', reason: 'leaver' });
    await waitFor(() => tries >= 3, 'a few retries');
    const overdue = await overdueRevocations(store.db);
    expect(overdue.count).toBe(1);
    expect(overdue.items[0]).toMatchObject({ key: `identity:${id}`, kind: 'revocation', identityId: id, lastError: 'HTTP 503' });
    expect(overdue.items[0].operations[0]).toMatchObject({ kind: 'revoke', group: 'whitespace' });
    expect(await metricsRegistry.getSingleMetricAsString('lockstep_overdue_revocations')).toMatch(/lockstep_overdue_revocations 1$/m);
    down = false;
    await waitFor(async () => (await overdueRevocations(store.db)).count === 0, 'the revocation to land');
    expect(await metricsRegistry.getSingleMetricAsString('lockstep_overdue_revocations')).toMatch(/lockstep_overdue_revocations 0$/m);
  });

  it('reports a leaver as overdue while its lock system cannot even be read, and clears it once it can', async () => {
    const [id] = await seedIdentities(store.db, 1);
    let down = true;
    const { queues } = await setup({
      reconcile: async () => {
        if (down) throw new LockstepError('unavailable', 'connect ECONNREFUSED');
        return emptyOutcome();
      },
    });
    await queues.enqueueIdentities([id], { priority: 'revocation', reason: 'leaver' });
    const o = await waitFor(async () => (await overdueRevocations(store.db)).items.find((x) => x.attempts >= 2), 'overdue with retries');
    expect(o.lastError).toBe('connect ECONNREFUSED');
    down = false;
    await waitFor(async () => (await overdueRevocations(store.db)).count === 0, 'the leaver to land');
  });

  it('wakes an identity up at its next check without any source event (requeue-after)', async () => {
    const [id] = await seedIdentities(store.db, 1);
    const runs: number[] = [];
    let at = 0;
    const { queues } = await setup({
      reconcile: async () => {
        runs.push(Date.now());
        if (runs.length === 1) {
          at = Date.now() + 700;
          return emptyOutcome({ nextCheckAt: new Date(at).toISOString() });
        }
        return emptyOutcome();
      },
    });
    await queues.enqueueIdentities([id], { priority: 'normal', reason: 'test' });
    await waitFor(() => runs.length === 2, 'the second look at the identity');
    expect(runs[1]).toBeGreaterThanOrEqual(at);
    // the second look found nothing more to wait for
    await waitFor(async () => (await getCheck(store.db, id))?.nextCheckAt === null, 'the next check to be cleared');
  });

  it('keeps enqueues in the outbox while Redis is unreachable and sends them once it answers', async () => {
    const [id] = await seedIdentities(store.db, 1);
    const down = createQueues({ connection: 'redis://127.0.0.1:1', prefix: uniquePrefix('down'), db: store.db, enqueueTimeoutMs: 300 });
    cleanups.push(() => down.close());
    const r = await down.enqueueIdentities([id], { priority: 'revocation', reason: 'leaver' });
    expect(r).toEqual({ queued: 0, outboxed: 1 });
    const seen: string[] = [];
    await setup({ reconcile: async (scope) => (scope.kind === 'identities' && seen.push(...scope.ids), emptyOutcome()) }, { outboxFlushMs: 50 });
    await waitFor(() => seen.includes(id), 'the outboxed identity to be reconciled');
    expect((await store.db.query('SELECT * FROM queue_outbox')).rowCount).toBe(0);
  });
});

describe('full reconciliation', () => {
  const everyone = (ids: string[]) => Object.fromEntries(ids.map((i) => [i, null]));

  it('runs as one job over the whole estate (the plan `lockstep plan` shows), and its record shows totals', async () => {
    const ids = await seedIdentities(store.db, 35);
    const scopes: string[] = [];
    const g = gate();
    const { queues } = await setup(
      {
        reconcile: async (scope, opts) => {
          scopes.push(scope.kind);
          await g.wait;
          return emptyOutcome({
            run: { id: opts.runId! },
            results: ids.map((i) => ({ key: i, status: 'applied' as const, attempts: 1, at: '' })),
            nextCheckAtByIdentity: everyone(ids),
          });
        },
      },
      { fullConcurrency: 1, systems: ['dc1', 'dc2'] },
    );
    const { runId, started } = await startFullRun({ queues, db: store.db, systems: ['dc1', 'dc2'] }, { trigger: 'test', actor: 'cli' });
    expect(started).toBe(true);
    // a second start while it runs returns the same run
    expect(await startFullRun({ queues, db: store.db, systems: ['dc1', 'dc2'] }, { trigger: 'test', actor: 'cli' })).toEqual({ runId, started: false });
    await waitFor(() => scopes.length === 1, 'the run to start');
    const mid = (await getFullRun(store.db, runId))!;
    expect(mid.status).toBe('running');
    expect(mid.progress.identities.total).toBe(35);
    g.open();
    const done = await waitFor(async () => {
      const r = await getFullRun(store.db, runId);
      return r?.status !== 'running' ? r : null;
    }, 'the run to close');
    expect(done.status).toBe('applied');
    expect(done.progress).toEqual({ parts: { done: 1, total: 1 }, identities: { done: 35, total: 35 } });
    expect(done.totals.applied).toBe(35);
    // the engine's run record has the full run's id, so the admin API finds its plan under it
    expect(done.runIds).toEqual([runId]);
    expect(scopes).toEqual(['full']);
  });

  it('serves a leaver enqueued while a full run is going before the full run is done', async () => {
    const ids = await seedIdentities(store.db, 20);
    const leaver = ids.pop()!;
    const order: string[] = [];
    const g = gate();
    const { queues } = await setup(
      {
        reconcile: async (scope) => {
          if (scope.kind === 'identities' && scope.ids.includes(leaver)) order.push('leaver');
          else if (scope.kind === 'full') {
            order.push('full:start');
            await g.wait;
            order.push('full:end');
          }
          return emptyOutcome();
        },
      },
      { fullConcurrency: 1 },
    );
    const { runId } = await startFullRun({ queues, db: store.db, systems: [] }, { trigger: 'test', actor: 'cli' });
    await waitFor(() => order.includes('full:start'), 'the full run to start');
    await queues.enqueueIdentities([leaver], { priority: 'revocation', reason: 'leaver' });
    await waitFor(() => order.includes('leaver'), 'the leaver');
    expect(order).toEqual(['full:start', 'leaver']);
    g.open();
    await waitFor(async () => (await getFullRun(store.db, runId))?.status === 'applied', 'the full run to finish');
  });

  it('leaves an identity whose own job runs to that job, and gives it a look after the full run', async () => {
    const ids = await seedIdentities(store.db, 5);
    const g = gate();
    const calls: string[][] = [];
    let fullHeld: string[] = [];
    const { queues } = await setup({
      reconcile: async (scope, opts) => {
        if (scope.kind === 'full') {
          // the engine applies a full run under these leases (the Redis ones): taken per partition
          const lease = await opts.leases!.acquire(ids);
          fullHeld = lease.held;
          await lease.release();
          return emptyOutcome({ deferred: lease.busy, nextCheckAtByIdentity: everyone(ids) });
        }
        if (scope.kind !== 'identities') return emptyOutcome();
        calls.push(scope.ids);
        if (calls.length === 1) await g.wait;
        return emptyOutcome();
      },
    });
    await queues.enqueueIdentities([ids[2]], { priority: 'normal', reason: 'change' });
    await waitFor(() => calls.length === 1, 'the identity job to start');
    const { runId } = await startFullRun({ queues, db: store.db, systems: [] }, { trigger: 'test', actor: 'cli' });
    const run = await waitFor(async () => {
      const r = await getFullRun(store.db, runId);
      return r?.status !== 'running' ? r : null;
    }, 'the full run to finish');
    expect(fullHeld).toEqual(ids.filter((i) => i !== ids[2]));
    expect(run.error).toMatch(/1 identit\(ies\) left to their own job/);
    g.open();
    await waitFor(() => calls.length === 2, 'the deferred identity to be reconciled after its job');
    expect(calls[1]).toEqual([ids[2]]);
  });

  it('hands a full run’s failed revocations to the revocation lane and counts them in the run record', async () => {
    const ids = await seedIdentities(store.db, 4);
    const single: string[] = [];
    const { queues } = await setup({
      reconcile: async (scope) => {
        if (scope.kind === 'full') {
          const op = revokeOp(ids[1]);
          return emptyOutcome({
            failedRevocations: [op],
            failed: [op],
            results: [{ key: op.key, status: 'failed', attempts: 2, at: '', error: { code: 'unavailable', message: '503' } }],
            nextCheckAtByIdentity: everyone(ids),
          });
        }
        if (scope.kind === 'identities') single.push(scope.ids[0]);
        return emptyOutcome();
      },
    });
    const { runId } = await startFullRun({ queues, db: store.db, systems: [] }, { trigger: 'test', actor: 'cli' });
    const run = await waitFor(async () => {
      const r = await getFullRun(store.db, runId);
      return r?.status !== 'running' ? r : null;
    }, 'the run to close');
    expect(run.status).toBe('partial');
    expect(run.totals.failedRevocations).toBe(1);
    expect(run.error).toMatch(/1 revocation\(s\) did not land/);
    await waitFor(() => single.includes(ids[1]), 'the retry in the revocation lane');
    await waitFor(async () => (await overdueRevocations(store.db)).count === 0, 'the retry to clear the overdue entry');
  });
});

describe('schedulers', () => {
  it('upserts each timer once however many processes start, and drops timers of removed systems', async () => {
    const prefix = uniquePrefix('sched');
    const a = createQueues({ connection: REDIS_URL, prefix });
    const b = createQueues({ connection: REDIS_URL, prefix });
    cleanups.push(async () => {
      await a.close();
      await b.close();
      await deleteKeys(prefix);
    });
    const schedules = { fullReconcileMs: 3_600_000, expirySweepMs: 300_000, accessEventsMs: 60_000 };
    await Promise.all([
      startSchedulers({ queues: a, schedules, systems: ['dc1', 'dc2'], sources: [{ name: 'entra', intervalMs: 120_000 }] }),
      startSchedulers({ queues: b, schedules, systems: ['dc1', 'dc2'], sources: [{ name: 'entra', intervalMs: 120_000 }] }),
    ]);
    const keys = (await a.maintenance.getJobSchedulers(0, -1)).map((s) => s.key).sort();
    expect(keys).toEqual(['access-events:dc1', 'access-events:dc2', 'expiry-sweep', 'full-reconcile', 'outbox-flush', 'source-pull:entra']);
    expect(await a.maintenance.getJobCountByTypes('delayed', 'waiting', 'prioritized')).toBe(6);
    await startSchedulers({ queues: a, schedules, systems: ['dc1'] });
    const after = (await a.maintenance.getJobSchedulers(0, -1)).map((s) => s.key).sort();
    expect(after).toEqual(['access-events:dc1', 'expiry-sweep', 'full-reconcile', 'outbox-flush']);
  });

  it('runs the timers it schedules: access events per system, source pulls, and a full run', async () => {
    await seedIdentities(store.db, 3);
    const pulled: string[] = [];
    const sources: string[] = [];
    const scopes: string[] = [];
    const { queues } = await setup({
      reconcile: async (scope) => (scopes.push(scope.kind), emptyOutcome()),
      pullAccessEvents: async (system) => (pulled.push(system), { events: 0 }),
      pullSource: async (name) => void sources.push(name),
    });
    await startSchedulers({
      queues,
      schedules: { fullReconcileMs: 60_000, expirySweepMs: 60_000, accessEventsMs: 60_000 },
      systems: ['dc1'],
      sources: [{ name: 'entra', intervalMs: 60_000 }],
    });
    // an `every` scheduler fires its first job at once
    await waitFor(() => pulled.includes('dc1') && sources.includes('entra') && scopes.includes('full'), 'every timer to fire once');
  });

  it('sweeps identities whose next check has passed into the revocation lane', async () => {
    const ids = await seedIdentities(store.db, 3);
    await store.db.query(
      `INSERT INTO queue_checks (identity_id, next_check_at, exact) VALUES ($1, now() - interval '1 minute', true), ($2, now() + interval '1 day', true)`,
      [ids[0], ids[1]],
    );
    const seen: string[] = [];
    const { queues } = await setup({ reconcile: async (scope) => (scope.kind === 'identities' && seen.push(...scope.ids), emptyOutcome()) });
    await queues.maintenance.add('expiry-sweep', {});
    await waitFor(() => seen.includes(ids[0]), 'the due identity');
    await sleep(100);
    expect(seen).toEqual([ids[0]]);
    await waitFor(async () => (await getCheck(store.db, ids[0]))?.nextCheckAt === null, 'its next check to be cleared');
  });
});

describe('lost credentials', () => {
  it('go through the revocation lane once per credential and retry until the system takes them', async () => {
    let down = true;
    const calls: string[] = [];
    const { queues } = await setup({
      reconcile: async () => emptyOutcome(),
      markCredentialLost: async (req) => {
        calls.push(req.credentialId);
        return down ? { applied: false, error: 'HTTP 503' } : { applied: true };
      },
    });
    await queues.enqueueLostCredential({ system: 'dc1', credentialId: 'cred-7', actor: 'api:alice' });
    await queues.enqueueLostCredential({ system: 'dc1', credentialId: 'cred-7', actor: 'api:alice' });
    await waitFor(() => calls.length >= 2, 'retries');
    expect((await overdueRevocations(store.db)).items.map((o) => [o.key, o.kind])).toEqual([['credential:dc1:cred-7', 'lost-credential']]);
    down = false;
    await waitFor(async () => (await overdueRevocations(store.db)).count === 0, 'the credential to be marked lost');
    expect(calls.every((c) => c === 'cred-7')).toBe(true);
  });
});

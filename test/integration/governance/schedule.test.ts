import { afterEach, describe, expect, it } from 'vitest';
import { createQueues, engineHandlers, getCheck, startWorkers, type QueueHandlers } from '../../../src/queue/index.js';
import { runReconcile } from '../../../src/reconcile/index.js';
import { listReviewCampaigns } from '../../../src/governance/index.js';
import { createTestEngine, hrPerson, type TestEngine } from '../../helpers/engine.js';
import { REDIS_URL, deleteKeys, emptyOutcome, uniquePrefix, waitFor } from '../queue/helpers.js';
import { MAPPINGS } from '../reconcile/mappings.js';

/** The expiry sweep's timer runs the access reviews' schedule: on real Redis and PostgreSQL, with the real engine. */
const REVIEWED = `${MAPPINGS}reviews:\n  - { id: ws-monthly, scope: { accessGroups: [whitespace] }, every: P1M, reviewers: [manager], deadline: P7D }\n`;

describe('access reviews on the maintenance timer', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  });

  async function workersFor(e: TestEngine, handlers: QueueHandlers) {
    const prefix = uniquePrefix('reviews');
    const queues = createQueues({ connection: REDIS_URL, prefix, db: e.ctx.db });
    const workers = await startWorkers({
      queues,
      db: e.ctx.db,
      handlers,
      systems: ['dc1'],
      concurrency: 2,
      retry: { baseDelayMs: 40, maxDelayMs: 300 },
      leaseTtlMs: 3_000,
      leaseWaitMs: 30,
    });
    await workers.ready();
    cleanups.push(async () => {
      await workers.close();
      await queues.close();
      await deleteKeys(prefix);
    });
    return queues;
  }

  it('starts a campaign that is due when the expiry sweep runs', async () => {
    const e = await createTestEngine('postgres', REVIEWED, { now: '2026-06-01T08:00:00Z' });
    cleanups.push(() => e.close());
    await hrPerson(e, 'E1', { groups: ['DC Operations'], manager: 'boss' });
    await runReconcile(e.ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true });
    const queues = await workersFor(e, engineHandlers(e.ctx));
    await queues.maintenance.add('expiry-sweep', {});
    const [campaign] = await waitFor(async () => {
      const c = await listReviewCampaigns(e.ctx.db, {});
      return c.length ? c : null;
    }, 'a campaign started by the sweep');
    expect(campaign).toMatchObject({ reviewId: 'ws-monthly', startedBy: 'system:schedule', status: 'open', deadline: '2026-06-08T08:00:00.000Z' });
  });

  it('still sweeps when the reviews fail', async () => {
    const e = await createTestEngine('postgres', REVIEWED, { now: '2026-06-01T08:00:00Z' });
    cleanups.push(() => e.close());
    const { identity } = await hrPerson(e, 'E1');
    await e.ctx.db.query(`INSERT INTO queue_checks (identity_id, next_check_at, exact) VALUES ($1, now() - interval '1 minute', true)`, [identity.id]);
    const seen: string[] = [];
    const queues = await workersFor(e, {
      reconcile: async (scope) => (scope.kind === 'identities' && seen.push(...scope.ids), emptyOutcome()),
      reviews: async () => {
        throw new Error('store hiccup');
      },
    });
    await queues.maintenance.add('expiry-sweep', {});
    await waitFor(() => seen.includes(identity.id), 'the due identity');
    await waitFor(async () => (await getCheck(e.ctx.db, identity.id))?.nextCheckAt === null, 'its next check to be cleared');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toLockstepError } from '../../../src/domain/errors.js';
import { reconcileIdentity, localLeases, type Controller } from '../../../src/queue/controller.js';
import { createTestStore, type TestStore } from '../../helpers/db.js';

/**
 * PostgreSQL ends one of two transactions that wait on each other with `deadlock detected`
 * (40P01). That is the store asking for another try: a job that meets it must be retried, not
 * failed for good after one attempt (issue 21, item 5).
 */
describe('a deadlock in PostgreSQL is a retryable error', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore('postgres', { poolSize: 4 });
    await store.db.query('CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int NOT NULL)');
    await store.db.query('INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)');
  });
  afterAll(async () => {
    await store?.drop();
  });

  /** Two transactions that lock rows 1 and 2 in opposite orders: PostgreSQL kills one of them. */
  async function realDeadlock(): Promise<unknown> {
    let bothHoldOne!: () => void;
    const gate = new Promise<void>((r) => (bothHoldOne = r));
    let holding = 0;
    const tx = (first: number, second: number) =>
      store.db.transaction(async (t) => {
        await t.query('UPDATE deadlock_probe SET n = n + 1 WHERE id = $1', [first]);
        if (++holding === 2) bothHoldOne();
        await gate;
        await t.query('UPDATE deadlock_probe SET n = n + 1 WHERE id = $1', [second]);
      });
    const settled = await Promise.allSettled([tx(1, 2), tx(2, 1)]);
    const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(failed).toHaveLength(1);
    return failed[0].reason;
  }

  it('maps deadlock detected (40P01) to a retryable unavailable error that names the SQLSTATE', async () => {
    const raw = await realDeadlock();
    expect((raw as { code?: string }).code).toBe('40P01');
    const err = toLockstepError(raw);
    expect(err.code).toBe('unavailable');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/40P01/);
  });

  it('lets an identity job that meets a deadlock be tried again', async () => {
    const raw = await realDeadlock();
    const ctx: Controller = {
      db: store.db,
      now: () => new Date(),
      logger: { warn: () => undefined },
      reconcile: async () => {
        throw raw;
      },
      systems: [],
      leases: localLeases(),
      requeue: async () => undefined,
    };
    const thrown = await reconcileIdentity(ctx, { identityId: '00000000-0000-4000-8000-000000000001', lane: 'normal', reason: 'scim' }).catch(
      (e: unknown) => e,
    );
    expect(toLockstepError(thrown).retryable).toBe(true);
  });

  it('still treats a defect (a syntax error, 42601) as not retryable', async () => {
    const raw = await store.db.query('SELEC 1').catch((e: unknown) => e);
    expect(toLockstepError(raw).retryable).toBe(false);
  });
});

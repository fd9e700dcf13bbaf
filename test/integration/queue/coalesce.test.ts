/**
 * onChange's enqueues are coalesced (issue 28): the calls made together (the SCIM creates a group
 * commit answers at once) reach the store's pending table and Redis together, and each still has
 * what it had alone: one job per identity (an identity named twice is one job, in the revocation
 * lane if either asked for it), its pending mark unless the source recorded it, and the outbox
 * when Redis cannot be reached, without failing the caller.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITY, createQueues, type LockstepQueues } from '../../../src/queue/index.js';
import { resetStore, type TestStore } from '../../helpers/db.js';
import { REDIS_URL, createQueueTestStore, deleteKeys, seedIdentities, uniquePrefix } from './helpers.js';

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

function queuesFor(connection = REDIS_URL, over: { enqueueTimeoutMs?: number } = {}): LockstepQueues {
  const prefix = uniquePrefix('coalesce');
  const queues = createQueues({ connection, prefix, db: store.db, ...over });
  cleanups.push(async () => {
    await queues.close();
    if (connection === REDIS_URL) await deleteKeys(prefix);
  });
  return queues;
}

async function pending() {
  const { rows } = await store.db.query<{ identity_id: string; lane: string; reason: string }>(
    'SELECT identity_id, lane, reason FROM queue_pending ORDER BY identity_id',
  );
  return rows;
}

describe('coalesced enqueues', () => {
  it('enqueues every identity of concurrent onChange calls once, in its lane, marked pending unless the source did', async () => {
    const ids = await seedIdentities(store.db, 12);
    const queues = queuesFor();
    const onChange = queues.onChange('scim');
    const [twice, ...rest] = ids;
    const marked = rest.slice(0, 3);
    await Promise.all([
      onChange([twice], { leaver: false }),
      ...rest.slice(3).map((id) => onChange([id], { leaver: false })),
      // the source recorded these itself (SCIM's markPending): no mark from the queue
      ...marked.map((id) => onChange([id], { leaver: false, pendingAt: Date.now() })),
      // the same identity again in the same turn, now a leaver
      onChange([twice], { leaver: true }),
    ]);
    const jobs = await queues.identity.getJobs(['prioritized', 'waiting']);
    expect(jobs.map((j) => j.data.identityId as string).sort()).toEqual([...ids].sort());
    const byId = new Map(jobs.map((j) => [j.data.identityId as string, j]));
    expect(byId.get(twice)).toMatchObject({ priority: PRIORITY.revocation, data: { lane: 'revocation', reason: 'scim:leaver' } });
    for (const id of rest) expect(byId.get(id)).toMatchObject({ priority: PRIORITY.normal, data: { lane: 'normal', reason: 'scim:change' } });
    expect(await pending()).toEqual(
      [twice, ...rest.slice(3)]
        .sort()
        .map((identity_id) =>
          identity_id === twice ? { identity_id, lane: 'revocation', reason: 'scim:leaver' } : { identity_id, lane: 'normal', reason: 'scim:change' },
        ),
    );
  });

  it('merges a change into a job already waiting, and moves it up for a leaver, as single enqueues do', async () => {
    const [a, b] = await seedIdentities(store.db, 2);
    const queues = queuesFor();
    await queues.enqueueIdentities([a, b], { priority: 'normal', reason: 'hr:change' });
    const onChange = queues.onChange('scim');
    await Promise.all([onChange([a], { leaver: true }), onChange([b], { leaver: false })]);
    const jobs = await queues.identity.getJobs(['prioritized', 'waiting']);
    expect(jobs).toHaveLength(2);
    const byId = new Map(jobs.map((j) => [j.data.identityId as string, j]));
    expect(byId.get(a)?.priority).toBe(PRIORITY.revocation);
    expect(byId.get(b)?.priority).toBe(PRIORITY.normal);
  });

  it('keeps every identity of the calls in the outbox, once, when Redis cannot be reached, and fails none of them', async () => {
    const ids = await seedIdentities(store.db, 5);
    const queues = queuesFor('redis://127.0.0.1:1', { enqueueTimeoutMs: 300 });
    const onChange = queues.onChange('scim');
    const settled = await Promise.allSettled([...ids.map((id) => onChange([id], { leaver: false })), onChange([ids[0]], { leaver: true })]);
    expect(settled.map((s) => s.status)).toEqual(ids.map(() => 'fulfilled').concat('fulfilled'));
    const { rows } = await store.db.query<{ identity_id: string; lane: string }>('SELECT identity_id, lane FROM queue_outbox ORDER BY identity_id');
    expect(rows.map((r) => r.identity_id)).toEqual([...ids].sort());
    expect(rows.find((r) => r.identity_id === ids[0])?.lane).toBe('revocation');
    expect((await pending()).map((p) => p.identity_id)).toEqual([...ids].sort());
  });
});

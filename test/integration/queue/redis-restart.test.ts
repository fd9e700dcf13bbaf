import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type RunningSimulator } from '../../../connectors/simulator/index.js';
import type { IdentityInput } from '../../../src/domain/identity.js';
import type { EngineContext } from '../../../src/reconcile/index.js';
import { pendingStats, upsertIdentity } from '../../../src/store/index.js';
import { Redis } from 'ioredis';
import {
  checkRedis,
  createQueues,
  engineHandlers,
  outboxSize,
  startLocalRedis,
  startWorkers,
  type LocalRedis,
  type LockstepQueues,
  type WorkersHandle,
} from '../../../src/queue/index.js';
import type { TestStore } from '../../helpers/db.js';
import { membershipsOf } from '../../helpers/engine.js';
import { SIM_GROUPS, queueEngine } from './fixtures/engine.js';
import { createQueueTestStore, uniquePrefix, waitFor } from './helpers.js';

/**
 * Redis going away under load. This file runs a redis-server of its own (startLocalRedis:
 * random port, append-only file in a temp dir) and restarts that one, so the shared Redis
 * the other test files use is never touched.
 */

let dir: string;
let redis: LocalRedis;
let store: TestStore;
let sim: RunningSimulator;
let ctx: EngineContext;
let queues: LockstepQueues;
let workers: WorkersHandle;
let lostSeen = 0;
let prefix: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-redis-'));
  redis = await startLocalRedis(dir);
  store = await createQueueTestStore();
  sim = await startSimulator({ groups: SIM_GROUPS });
  ctx = await queueEngine(store.db, sim.url);
  prefix = uniquePrefix('restart');
  queues = createQueues({ connection: redis.url, prefix, db: store.db, enqueueTimeoutMs: 300 });
  workers = await startWorkers({
    queues,
    db: store.db,
    handlers: engineHandlers(ctx),
    systems: ['dc1'],
    concurrency: 4,
    retry: { baseDelayMs: 50, maxDelayMs: 500 },
    lockDurationMs: 2_000,
    stalledIntervalMs: 1_000,
    leaseTtlMs: 2_000,
    leaseWaitMs: 30,
    outboxFlushMs: 200,
    onQueueLost: () => void lostSeen++,
  });
  await workers.ready();
});

afterAll(async () => {
  await workers?.close();
  await queues?.close();
  for (const d of ctx?.drivers.values() ?? []) await d.close?.();
  await sim?.close();
  await store?.drop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const person = async (externalId: string, extra: Partial<IdentityInput> = {}) =>
  (await upsertIdentity(store.db, { source: 'hr', externalId, userName: `${externalId.toLowerCase()}@example.com`, employeeType: 'Employee', ...extra }))
    .identity;

const groupsOf = (externalId: string) => Object.keys(membershipsOf(sim, externalId)).sort();

describe('Redis restart', () => {
  it('marks the queue state when the workers start, so changes of the first seconds are not taken for lost ones', async () => {
    // a first start: the marker is set before startWorkers returns, not at the first timer tick
    const admin = new Redis(redis.url);
    expect(await admin.exists(`${prefix}:lockstep:queue-epoch`)).toBe(1);
    await admin.quit();
    const p = await person('R-first', { department: 'Office' });
    await queues.enqueueIdentities([p.id], { priority: 'normal', reason: 'scim' });
    await waitFor(() => groupsOf('R-first').join() === 'AG-OFFICE,AG-PERIM', 'the first joiner');
    await waitFor(async () => (await pendingStats(store.db)).count === 0, 'nothing left pending');
    // several ticks of the 200 ms check later, nothing was taken for a lost Redis
    await sleep(600);
    expect(lostSeen).toBe(0);
  });

  it('tells an operator how to get a Redis when there is none', async () => {
    const r = await checkRedis('redis://127.0.0.1:1', 500);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*redis-server --daemonize yes.*docker run/s);
    expect(await checkRedis(redis.url)).toMatchObject({ ok: true, url: `redis://127.0.0.1:${redis.port}` });
    // a second start on the same data directory (a lockstep that crashed and came back) reuses it
    const again = await startLocalRedis(dir);
    expect(again.port).toBe(redis.port);
  });

  it('loses no change made while Redis restarts under load, and the workers carry on after it', async () => {
    const n = 20;
    const ids: string[] = [];
    const office = new Map<number, boolean>();
    for (let i = 0; i < n; i++) {
      ids.push((await person(`R${i}`, { department: 'Office' })).id);
      office.set(i, true);
    }
    await queues.enqueueIdentities(ids, { priority: 'normal', reason: 'hr' });
    await waitFor(() => Array.from({ length: n }, (_, i) => groupsOf(`R${i}`).length === 2).every(Boolean), 'the joiners');

    let outboxed = 0;
    const change = async (k: number) => {
      const i = k % n;
      office.set(i, !office.get(i));
      await person(`R${i}`, { department: office.get(i) ? 'Office' : 'Finance' });
      outboxed += (await queues.enqueueIdentities([ids[i]], { priority: 'normal', reason: 'hr' })).outboxed;
    };
    for (let k = 0; k < 20; k++) await change(k);
    await redis.stop();
    // changes while Redis is gone: they are kept in the store's outbox
    for (let k = 20; k < 35; k++) await change(k);
    expect(outboxed).toBeGreaterThan(0);
    redis = await startLocalRedis(dir, { port: redis.port });
    for (let k = 35; k < 60; k++) {
      await change(k);
      await sleep(5);
    }
    const expected = (i: number) => (office.get(i) ? 'AG-OFFICE,AG-PERIM' : 'AG-PERIM');
    await waitFor(
      async () => (await outboxSize(store.db)) === 0 && Array.from({ length: n }, (_, i) => groupsOf(`R${i}`).join() === expected(i)).every(Boolean),
      'every change to land',
      40_000,
    );

    // the workers are still working: a new joiner after the restart gets in
    const late = await person('R-late', { department: 'Office' });
    await queues.enqueueIdentities([late.id], { priority: 'normal', reason: 'hr' });
    await waitFor(() => groupsOf('R-late').join() === 'AG-OFFICE,AG-PERIM', 'a joiner after the restart');
  });

  it('loses no acknowledged change when Redis comes back without its data in the middle of the work', async () => {
    const n = 40;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await person(`W${i}`, { department: 'Office' })).id);
    // a slow lock system: most jobs still wait in Redis when it loses them
    sim.faults.set({ latencyMs: 40 });
    for (const id of ids) await queues.enqueueIdentities([id], { priority: 'normal', reason: 'scim' });
    await waitFor(() => Array.from({ length: n }, (_, i) => groupsOf(`W${i}`).length > 0).some(Boolean), 'the first joiner');
    const before = lostSeen;
    // a restart without its data, as a Redis without persistence (or a failover to an empty replica) does it
    const admin = new Redis(redis.url);
    await admin.flushall();
    await admin.quit();
    const landedAtFlush = Array.from({ length: n }, (_, i) => groupsOf(`W${i}`).length === 2).filter(Boolean).length;
    expect(landedAtFlush).toBeLessThan(n);
    sim.faults.clear();
    await waitFor(
      () => Array.from({ length: n }, (_, i) => groupsOf(`W${i}`).join() === 'AG-OFFICE,AG-PERIM').every(Boolean),
      'every acknowledged change to land',
      25_000,
    );
    expect(lostSeen).toBeGreaterThan(before);
    await waitFor(async () => (await pendingStats(store.db)).count === 0, 'nothing left pending');
  });
});

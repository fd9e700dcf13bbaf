import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../../connectors/simulator/index.js';
import { markIdentityDeleted, upsertIdentity } from '../../../src/store/index.js';
import type { IdentityInput } from '../../../src/domain/identity.js';
import { metricsRegistry } from '../../../src/metrics/index.js';
import type { EngineContext } from '../../../src/reconcile/index.js';
import {
  createQueues,
  engineHandlers,
  getFullRun,
  overdueRevocations,
  startFullRun,
  startWorkers,
  type LockstepQueues,
  type QueueHandlers,
  type WorkersHandle,
} from '../../../src/queue/index.js';
import { resetStore, type TestStore } from '../../helpers/db.js';
import { membershipsOf } from '../../helpers/engine.js';
import { QUEUE_MAPPINGS, SIM_GROUPS, queueEngine } from './fixtures/engine.js';
import { REDIS_URL, createQueueTestStore, deleteKeys, uniquePrefix, waitFor } from './helpers.js';

/**
 * The queue with the real engine: reconcile, the real policy and the simulator over HTTP,
 * real Redis and PostgreSQL. Outcomes are read from the simulator (what the doors know).
 */

let store: TestStore;
let sim: RunningSimulator;
let ctx: EngineContext;
let queues: LockstepQueues;
let workers: WorkersHandle;
let prefix: string;
let runs: Array<{ ids: string[] }>;

beforeAll(async () => {
  store = await createQueueTestStore();
  expect(QUEUE_MAPPINGS).toContain('AG-POWER');
});
afterAll(async () => {
  await store.drop();
});

beforeEach(async () => {
  sim = await startSimulator({ groups: SIM_GROUPS });
  ctx = await queueEngine(store.db, sim.url);
  prefix = uniquePrefix('e2e');
  queues = createQueues({ connection: REDIS_URL, prefix, db: store.db });
  runs = [];
  const real = engineHandlers(ctx);
  const handlers: QueueHandlers = {
    ...real,
    reconcile: async (scope, opts) => {
      if (scope.kind === 'identities') runs.push({ ids: scope.ids });
      return real.reconcile(scope, opts);
    },
  };
  workers = await startWorkers({
    queues,
    db: store.db,
    handlers,
    systems: ['dc1'],
    concurrency: 4,
    fullConcurrency: 1,
    retry: { baseDelayMs: 50, maxDelayMs: 400 },
    leaseTtlMs: 3_000,
    leaseWaitMs: 30,
  });
  await workers.ready();
});

afterEach(async () => {
  await workers.close();
  await queues.close();
  await deleteKeys(prefix);
  for (const d of ctx.drivers.values()) await d.close?.();
  await sim.close();
  await resetStore(store.db);
});

const person = async (externalId: string, extra: Partial<IdentityInput> = {}) =>
  (
    await upsertIdentity(store.db, {
      source: 'hr',
      externalId,
      userName: `${externalId.toLowerCase()}@example.com`,
      displayName: `Person ${externalId}`,
      employeeType: 'Employee',
      ...extra,
    })
  ).identity;

const groupsOf = (externalId: string) => Object.keys(membershipsOf(sim, externalId)).sort();

async function idle(): Promise<void> {
  await waitFor(
    async () => {
      const c = await queues.identity.getJobCounts('active', 'waiting', 'prioritized', 'delayed');
      return c.active + c.waiting + c.prioritized + c.delayed === 0;
    },
    'the identity queue to drain',
    20_000,
  );
}

describe('reconciliation through the queue', () => {
  it('collapses 1,000 changes to one identity into far fewer runs and ends in the state of the last one', async () => {
    const first = await person('E1', { department: 'Office' });
    await queues.enqueueIdentities([first.id], { priority: 'normal', reason: 'scim' });
    await waitFor(() => groupsOf('E1').length === 2, 'the joiner');
    for (let i = 0; i < 1000; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, k) => {
          const n = i + k;
          // ends on n = 999: department Office, in the Power group
          await person('E1', { department: n % 2 ? 'Office' : 'Finance', groups: n % 3 === 0 ? ['Power'] : [] });
          await queues.enqueueIdentities([first.id], { priority: 'normal', reason: 'scim' });
        }),
      );
    }
    const last = await person('E1', { department: 'Office', groups: ['Power'] });
    await queues.enqueueIdentities([last.id], { priority: 'normal', reason: 'scim' });
    await idle();
    expect(groupsOf('E1')).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER']);
    expect(runs.length).toBeLessThan(200);
    expect(sim.state.export().changes.filter((c) => c.kind === 'account.created')).toHaveLength(1);
  });

  it('applies a change written while that identity was being reconciled from the old state', async () => {
    const p = await person('E2', { department: 'Office' });
    sim.faults.set({ latencyMs: 150 });
    await queues.enqueueIdentities([p.id], { priority: 'normal', reason: 'scim' });
    await waitFor(() => runs.length === 1, 'the first run to start');
    // the run has read the identity; now the source moves them out of the office into power
    await person('E2', { department: 'Finance', groups: ['Power'] });
    await queues.enqueueIdentities([p.id], { priority: 'normal', reason: 'scim' });
    await idle();
    sim.faults.clear();
    expect(groupsOf('E2')).toEqual(['AG-PERIM', 'AG-POWER']);
  });

  it('retries a leaver’s revocations through a lock-system outage, reports them overdue, and lands them after', async () => {
    const p = await person('E3', { department: 'Office', groups: ['Power'] });
    await queues.enqueueIdentities([p.id], { priority: 'normal', reason: 'scim' });
    await waitFor(() => groupsOf('E3').length === 3, 'the joiner');
    sim.faults.set({ outage: true });
    await markIdentityDeleted(store.db, p.id);
    await queues.enqueueIdentities([p.id], { priority: 'revocation', reason: 'scim:delete' });
    const overdue = await waitFor(async () => (await overdueRevocations(store.db)).items.find((o) => o.attempts >= 2), 'the leaver to be overdue');
    expect(overdue).toMatchObject({ kind: 'revocation', identityId: p.id });
    expect(await metricsRegistry.getSingleMetricAsString('lockstep_overdue_revocations')).toMatch(/ 1$/m);
    expect(groupsOf('E3')).toHaveLength(3);
    sim.faults.clear();
    await waitFor(() => groupsOf('E3').length === 0 && sim.state.findByExternalId('E3')!.state === 'suspended', 'the revocations to land', 20_000);
    await waitFor(async () => (await overdueRevocations(store.db)).count === 0, 'overdue to clear');
    const hist = await metricsRegistry.getSingleMetricAsString('lockstep_event_to_applied_seconds');
    expect(hist).toMatch(/lockstep_event_to_applied_seconds_count\{direction="revocation"\} [1-9]/);
    expect(hist).toMatch(/lockstep_event_to_applied_seconds_count\{direction="grant"\} [1-9]/);
  });

  it('takes access away when a validity ends, with no source event (requeue-after)', async () => {
    const ends = new Date(Date.now() + 2_000);
    const p = await person('C1', { employeeType: 'Contractor', groups: ['Power'], contractEnd: ends.toISOString() });
    await queues.enqueueIdentities([p.id], { priority: 'normal', reason: 'hr' });
    await waitFor(() => groupsOf('C1').includes('AG-POWER'), 'the grant');
    expect(membershipsOf(sim, 'C1')['AG-POWER'].until).toBe(ends.toISOString());
    await waitFor(() => !groupsOf('C1').includes('AG-POWER'), 'the expiry to be enforced', 15_000);
    const revoked = sim.state.export().changes.find((c) => c.kind === 'membership.revoked' && c.group === 'AG-POWER')!;
    expect(Date.parse(revoked.at)).toBeGreaterThanOrEqual(ends.getTime());
    expect(groupsOf('C1')).toEqual(['AG-PERIM']);
  });

  it('takes sponsored access from a contractor when the sponsor leaves, with no event about the contractor', async () => {
    const sponsor = await person('S1');
    const contractor = await person('K1', { employeeType: 'Contractor', sponsor: 's1@example.com' });
    await queues.enqueueIdentities([sponsor.id, contractor.id], { priority: 'normal', reason: 'hr' });
    await waitFor(() => groupsOf('K1').includes('AG-ESCORT'), 'the sponsored grant');
    // only the sponsor's change reaches the queue
    await upsertIdentity(store.db, {
      source: 'hr',
      externalId: 'S1',
      userName: 's1@example.com',
      displayName: 'Person S1',
      employeeType: 'Employee',
      active: false,
    });
    await queues.enqueueIdentities([sponsor.id], { priority: 'revocation', reason: 'hr:leaver' });
    await waitFor(() => !groupsOf('K1').includes('AG-ESCORT'), 'the sponsee’s sponsored access to end');
    expect(groupsOf('K1')).toEqual(['AG-PERIM']);
    const revoked = sim.state.export().changes.find((c) => c.kind === 'membership.revoked' && c.group === 'AG-ESCORT')!;
    expect(revoked).toBeDefined();
  });

  it('applies a leaver enqueued while a full run is applying, before the full run is through', async () => {
    const leaver = await person('L1', { department: 'Office' });
    await queues.enqueueIdentities([leaver.id], { priority: 'normal', reason: 'hr' });
    await waitFor(() => groupsOf('L1').length === 2, 'the leaver’s access before leaving');
    // 200 joiners: the full run has 400 grants to apply, slowly
    for (let i = 0; i < 200; i++) await person(`B${i}`);
    sim.faults.set({ latencyMs: 3 });
    const { runId } = await startFullRun({ queues, db: store.db, systems: ['dc1'] }, { trigger: 'test', actor: 'test' });
    await waitFor(() => Array.from({ length: 200 }, (_, i) => `B${i}`).some((e) => groupsOf(e).length > 0), 'the full run to be applying');
    await markIdentityDeleted(store.db, leaver.id);
    await queues.enqueueIdentities([leaver.id], { priority: 'revocation', reason: 'scim:delete' });
    await waitFor(() => groupsOf('L1').length === 0, 'the leaver’s revocations');
    const at = (await getFullRun(store.db, runId))!;
    expect(at.status).toBe('running');
    sim.faults.clear();
    // (mechanics.test.ts follows a full run to its end; the rest of this one is dropped with its keys)
  });
});

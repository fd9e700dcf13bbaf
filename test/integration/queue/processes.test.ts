import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type RunningSimulator, type SimChange } from '../../../connectors/simulator/index.js';
import type { IdentityInput } from '../../../src/domain/identity.js';
import { runReconcile, type EngineContext } from '../../../src/reconcile/index.js';
import { iterateAudit, markIdentityDeleted, upsertIdentity } from '../../../src/store/index.js';
import { createQueues, getFullRun, startFullRun, type LockstepQueues } from '../../../src/queue/index.js';
import { resetStore, type TestStore } from '../../helpers/db.js';
import { membershipsOf } from '../../helpers/engine.js';
import { SIM_GROUPS, queueEngine } from './fixtures/engine.js';
import { REDIS_URL, createQueueTestStore, deleteKeys, uniquePrefix, waitFor } from './helpers.js';

/**
 * Several worker processes (child_process.fork of fixtures/worker-process.ts, each a full
 * lockstep worker with the real engine) sharing one Redis, one PostgreSQL and one simulator.
 * What the simulator's change log and lockstep's audit log say happened is what is checked.
 */

const WORKER = fileURLToPath(new URL('./fixtures/worker-process.ts', import.meta.url));

let store: TestStore;
let sim: RunningSimulator;
let ctx: EngineContext;
let prefix: string;
let queues: LockstepQueues;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  store = await createQueueTestStore();
});
afterAll(async () => {
  await store.drop();
});
beforeEach(async () => {
  sim = await startSimulator({ groups: SIM_GROUPS });
  ctx = await queueEngine(store.db, sim.url);
  prefix = uniquePrefix('proc');
  queues = createQueues({ connection: REDIS_URL, prefix, db: store.db });
});
afterEach(async () => {
  for (const c of children) await stopWorker(c);
  await queues.close();
  await deleteKeys(prefix);
  for (const d of ctx.drivers.values()) await d.close?.();
  await sim.close();
  await resetStore(store.db);
});

/** Forks a worker process and waits until it has loaded; its workers start with startWorkerIn(). */
async function spawnWorker(env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, DATABASE_URL: store.url!, SIM_URL: sim.url, REDIS_URL, QUEUE_PREFIX: prefix, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.once('exit', () => children.delete(child));
  await message(child, 'ready', () => stderr);
  return child;
}

function message(child: ChildProcess, key: string, stderr: () => string = () => ''): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker process: no ${key} message: ${stderr()}`)), 30_000);
    const onMessage = (m: unknown) => {
      if (m && typeof m === 'object' && key in m) {
        clearTimeout(t);
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`worker process exited with ${code}: ${stderr()}`))));
  });
}

/** Starts the workers of a loaded process: this is the process starting, as far as the queue can tell. */
async function startWorkerIn(child: ChildProcess): Promise<void> {
  const started = message(child, 'started');
  child.send('start');
  await started;
}

async function stopWorker(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.send('stop');
  await Promise.race([exited, sleep(10_000)]);
  if (c.exitCode === null && c.signalCode === null) {
    c.kill('SIGKILL');
    await exited;
  }
}

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

async function drained(): Promise<boolean> {
  const counts = await queues.counts();
  return Object.values(counts).every((c) => (c.active ?? 0) + (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) + (c['waiting-children'] ?? 0) === 0);
}

/** Per (account, group), grants and revocations must alternate: two grants in a row is a grant applied twice. */
function doubleApplied(changes: SimChange[]): string[] {
  const last = new Map<string, string>();
  const bad: string[] = [];
  for (const c of changes) {
    if (c.kind !== 'membership.granted' && c.kind !== 'membership.revoked') continue;
    const k = `${c.accountId}|${c.group}`;
    if (last.get(k) === c.kind) bad.push(`${k} ${c.kind} twice`);
    last.set(k, c.kind);
  }
  const created = new Map<string, number>();
  for (const c of changes) if (c.kind === 'account.created') created.set(c.externalId ?? c.accountId, (created.get(c.externalId ?? c.accountId) ?? 0) + 1);
  for (const [k, n] of created) if (n > 1) bad.push(`${k} created ${n} times`);
  return bad;
}

/** The same in lockstep's audit log: per (identity, group), grant and revoke alternate. */
async function doubleAudited(): Promise<string[]> {
  const last = new Map<string, string>();
  const bad: string[] = [];
  for await (const a of iterateAudit(store.db)) {
    if (a.action !== 'grant' && a.action !== 'revoke') continue;
    const k = `${a.subject}|${(a.data.group as { ref: string }).ref}`;
    if (last.get(k) === a.action) bad.push(`${k} ${a.action} twice`);
    last.set(k, a.action);
  }
  return bad;
}

describe('several worker processes', () => {
  it('two workers and one producer: every change lands, none is applied twice', async () => {
    const loading = Promise.all([spawnWorker(), spawnWorker()]);
    const n = 40;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await person(`E${i}`, { department: 'Office' })).id);
    await Promise.all((await loading).map(startWorkerIn));
    await queues.enqueueIdentities(ids, { priority: 'normal', reason: 'hr' });
    // three waves of movers, enqueued while the previous wave is still being worked on
    for (let wave = 1; wave <= 3; wave++) {
      await Promise.all(
        ids.map(async (id, i) => {
          await person(`E${i}`, { department: (i + wave) % 2 ? 'Office' : 'Finance', groups: (i + wave) % 3 === 0 ? ['Power'] : [] });
          await queues.enqueueIdentities([id], { priority: 'normal', reason: 'hr' });
        }),
      );
      await sleep(30);
    }
    // and a few leavers
    for (let i = 0; i < 5; i++) {
      await markIdentityDeleted(store.db, ids[i]);
      await queues.enqueueIdentities([ids[i]], { priority: 'revocation', reason: 'hr:leaver' });
    }
    const expected = (i: number) =>
      i < 5 ? '' : ['AG-PERIM', ...((i + 3) % 2 ? ['AG-OFFICE'] : []), ...((i + 3) % 3 === 0 ? ['AG-POWER'] : [])].sort().join();
    await waitFor(
      async () => (await drained()) && Array.from({ length: n }, (_, i) => groupsOf(`E${i}`).join() === expected(i)).every(Boolean),
      'every change to land',
      40_000,
    );
    expect(Array.from({ length: 5 }, (_, i) => sim.state.findByExternalId(`E${i}`)!.state)).toEqual(Array(5).fill('suspended'));
    expect(doubleApplied(sim.state.export().changes)).toEqual([]);
    expect(await doubleAudited()).toEqual([]);
  });

  it('a worker SIGKILLed in the middle of a full run: after a restart it converges, no revocation lost, no grant doubled', async () => {
    const loading = Promise.all([spawnWorker({ FULL_CONCURRENCY: '2' }), spawnWorker({ FULL_CONCURRENCY: '2' })]);
    // leavers who still hold access when the full run starts
    for (let i = 0; i < 15; i++) await person(`L${i}`, { department: 'Office', groups: ['Power'] });
    await runReconcile(ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true });
    for (let i = 0; i < 15; i++) await markIdentityDeleted(store.db, (await person(`L${i}`)).id);
    for (let i = 0; i < 160; i++) await person(`B${i}`, { department: 'Office', groups: ['Power'] });
    sim.faults.set({ latencyMs: 2 });
    // the second process is loaded now but starts only after the first is killed
    const [first, second] = await loading;
    await startWorkerIn(first);
    const { runId } = await startFullRun({ queues, db: store.db, systems: ['dc1'] }, { trigger: 'test', actor: 'test' });
    const granted = () => Array.from({ length: 160 }, (_, i) => `B${i}`).filter((e) => groupsOf(e).length > 0).length;
    await waitFor(() => granted() >= 20, 'the full run to be part-way through its grants');
    first.kill('SIGKILL');
    await new Promise((r) => (first.exitCode !== null || first.signalCode !== null ? r(null) : first.once('exit', r)));
    const mid = (await getFullRun(store.db, runId))!;
    expect(mid.status).toBe('running');
    expect(granted()).toBeLessThan(160);

    await startWorkerIn(second);
    const done = await waitFor(
      async () => {
        const r = await getFullRun(store.db, runId);
        return r && r.status !== 'running' ? r : null;
      },
      'the full run to close after the restart',
      60_000,
    );
    await waitFor(drained, 'identities deferred by the dead worker’s leases', 20_000);
    sim.faults.clear();

    expect(done.status).toBe('applied');
    expect(done.progress.parts).toEqual({ done: done.progress.parts.total, total: done.progress.parts.total });
    const wrong = Array.from({ length: 160 }, (_, i) => `B${i}`).filter((e) => groupsOf(e).join() !== 'AG-OFFICE,AG-PERIM,AG-POWER');
    expect(wrong).toEqual([]);
    for (let i = 0; i < 15; i++) {
      expect(groupsOf(`L${i}`)).toEqual([]);
      expect(sim.state.findByExternalId(`L${i}`)!.state).toBe('suspended');
    }
    expect(doubleApplied(sim.state.export().changes)).toEqual([]);
  });
});

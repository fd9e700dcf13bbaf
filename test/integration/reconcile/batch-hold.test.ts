/**
 * Issue 21, item 1: a batch source is judged as one change. admitBatch plans the batch and
 * either admits it whole (its revocations spent at once) or holds everyone in it who would lose
 * access in one held run; people who only gain access go ahead. Whoever waits in a held run
 * keeps their access until it is approved, whatever looks at them meanwhile: their own job, and
 * a full run after the budget's window has moved on. Real store and simulator.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { admitBatch, approveRun, runReconcile } from '../../../src/reconcile/index.js';
import { heldRevocations } from '../../../src/store/budget.js';
import { upsertIdentity } from '../../../src/store/index.js';
import { createTestStore, type TestStore } from '../../helpers/db.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

// at most 2 people may lose access within 60 minutes; from 3 on the rest is held
const GUARDED = MAPPINGS.replace(
  /guard: \{[^}]*\}/,
  'guard: { maxRevocationsPercent: 100, maxRevocationsAbsolute: 2, minRevocationsToHold: 3, windowMinutes: 60 }',
);
const apply = { trigger: 'test', actor: 'test', apply: true };

describe('a batch judged as one change by the revocation budget', () => {
  let e: TestEngine;
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore('postgres');
  });
  afterAll(async () => {
    await store.drop();
  });
  beforeEach(async () => {
    e = await createTestEngine('postgres', GUARDED, { store });
  });
  afterEach(async () => {
    await e.close();
  });

  /** Ten employees with their doors in the lock system. */
  async function staff(): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const { identity } = await upsertIdentity(e.ctx.db, {
        source: 'hr',
        externalId: `B${i}`,
        userName: `b${i}`,
        displayName: `B ${i}`,
        employeeType: 'Employee',
      });
      ids.push(identity.id);
    }
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(Object.keys(membershipsOf(e.sim, 'B0'))).toContain('AG-OFFICE');
    return ids;
  }
  const offices = () => Array.from({ length: 10 }, (_, i) => `B${i}`).filter((k) => Object.keys(membershipsOf(e.sim, k)).includes('AG-OFFICE'));

  it('admits a batch within the budget whole, and its jobs then all go through', async () => {
    const ids = await staff();
    for (const i of [0, 1])
      await upsertIdentity(e.ctx.db, { source: 'hr', externalId: `B${i}`, userName: `b${i}`, displayName: `B ${i}`, employeeType: 'Contractor' });
    const a = await admitBatch(e.ctx, ids.slice(0, 2), { actor: 'source:hr', trigger: 'source:hr' });
    expect(a).toMatchObject({ admit: ids.slice(0, 2), held: [], runId: null });
    for (const id of a.admit) expect((await runReconcile(e.ctx, { kind: 'identities', ids: [id] }, apply)).held).toBe(false);
    expect(offices()).toHaveLength(8);
  });

  it('holds everyone in a batch over the budget who would lose access, admits its joiners, and keeps the held in access until approval', async () => {
    const ids = await staff();
    // two people left a moment ago: the budget's window holds them
    for (const i of [5, 6])
      await upsertIdentity(e.ctx.db, { source: 'hr', externalId: `B${i}`, userName: `b${i}`, displayName: `B ${i}`, employeeType: 'Contractor' });
    expect((await admitBatch(e.ctx, [ids[5], ids[6]], { actor: 'source:hr', trigger: 'source:hr' })).held).toEqual([]);
    await runReconcile(e.ctx, { kind: 'identities', ids: [ids[5], ids[6]] }, apply);
    expect(offices()).toHaveLength(8);
    // then an export moves 2 more to contractors (they lose the offices), with a joiner in it: 4 in the window is over the budget
    for (const i of [0, 1])
      await upsertIdentity(e.ctx.db, { source: 'hr', externalId: `B${i}`, userName: `b${i}`, displayName: `B ${i}`, employeeType: 'Contractor' });
    const { identity: joiner } = await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'J1',
      userName: 'j1',
      displayName: 'J 1',
      employeeType: 'Employee',
    });
    const batch = [ids[0], ids[1], joiner.id];
    const a = await admitBatch(e.ctx, batch, { actor: 'source:hr', trigger: 'source:hr' });
    expect(a.held.sort()).toEqual([ids[0], ids[1]].sort());
    expect(a.admit).toEqual([joiner.id]);
    expect(a.reason).toMatch(/a batch of 3 changed people, 2 of whom would lose access/);
    expect(await heldRevocations(e.ctx.db)).toMatchObject({ runs: 1, people: 2, memberships: 2 });

    // the joiner goes ahead; nobody of the batch has lost anything
    await runReconcile(e.ctx, { kind: 'identities', ids: [joiner.id] }, apply);
    expect(Object.keys(membershipsOf(e.sim, 'J1'))).toContain('AG-OFFICE');
    expect(offices()).toHaveLength(8);

    // two hours later the budget's window is empty, and 2 people are under the guard: a held
    // person's own job and a full run would each go through, yet both leave them alone
    e.setNow(new Date(e.ctx.now().getTime() + 2 * 3_600_000));
    const own = await runReconcile(e.ctx, { kind: 'identities', ids: [ids[0]] }, apply);
    expect(own.held).toBe(true);
    const full = await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(full.held).toBe(false);
    const skipped = full.results.filter((r) => r.status === 'skipped' && r.error?.code === 'held');
    expect(skipped).toHaveLength(2);
    expect(offices()).toHaveLength(8);

    // one approval applies the batch
    const out = await approveRun(e.ctx, a.runId!, 'officer');
    expect(out.held).toBe(false);
    expect(offices()).toHaveLength(6);
    expect(await heldRevocations(e.ctx.db)).toMatchObject({ runs: 0, people: 0 });
  });
});

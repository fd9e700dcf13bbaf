import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { approveBudgetWindow, spendRevocationBudget, type BudgetLimits } from '../../../src/store/index.js';

/**
 * The revocation budget's window (migration 12): distinct people per lock system and overall,
 * within the window only, approved spends not counted, and an approval starting it afresh.
 * Limits are set so that the verdict's numbers are what is asserted (nothing is held unless asked).
 */
describe.each(storeKinds)('revocation budget window on %s', (kind) => {
  let s: TestStore;
  beforeAll(async () => {
    s = await createTestStore(kind);
  });
  afterAll(async () => {
    await s.drop();
  });

  const open: BudgetLimits = { maxRevocationsPercent: 100, maxRevocationsAbsolute: 1_000_000, minRevocationsToHold: 1_000_000, windowMs: 60 * 60_000 };
  const at = (min: number) => new Date(Date.UTC(2026, 11, 2, 12, min));
  const spend = (min: number, subjects: Array<[string, string]>, limits = open, approved = false) =>
    spendRevocationBudget(
      s.db,
      limits,
      at(min),
      subjects.map(([system, subject]) => ({ system, subject })),
      randomUUID(),
      approved,
    );

  it('counts each person once per system and overall, only within the window', async () => {
    const p = () => randomUUID();
    const [a, b, c] = [p(), p(), p()];
    await spend(0, [
      ['dc1', a],
      ['dc2', a],
    ]);
    await spend(10, [['dc1', b]]);
    // a again in dc1 (a retry, or a second revocation): not added
    let r = await spend(20, [['dc1', a]]);
    expect(r.verdict).toMatchObject({ scope: 'overall', affected: 2, added: 0 });
    // c is new: overall 3 people; dc1 has a, b, c
    r = await spend(30, [['dc1', c]], { ...open, maxRevocationsAbsolute: 2, minRevocationsToHold: 1 });
    expect(r.verdict).toMatchObject({ hold: true, scope: 'overall', affected: 3, added: 1 });
    expect(r.recorded).toBe(false);
    // 65 minutes after the first spend, a's dc2 revocation (minute 0) left the window, a's dc1 one (minute 20) did not
    r = await spend(65, [['dc2', p()]], { ...open, maxRevocationsAbsolute: 0, minRevocationsToHold: 1, maxRevocationsPercent: 100 });
    expect(r.verdict.hold).toBe(true);
    expect(r.verdict).toMatchObject({ scope: 'overall', affected: 3, added: 1 });
  });

  it('does not count approved spends, and an approval starts the window afresh', async () => {
    const base = 200;
    const held = { ...open, maxRevocationsAbsolute: 1, minRevocationsToHold: 1 };
    await spend(base, [['dc9', randomUUID()]], open, true);
    let r = await spend(base + 1, [['dc9', randomUUID()]], held);
    // the approved one does not count (the first test's spends are hours before): only this person
    expect(r.verdict).toMatchObject({ affected: 1, added: 1, hold: false });
    await approveBudgetWindow(s.db, new Date(at(base + 2).getTime() - open.windowMs));
    r = await spend(base + 3, [['dc9', randomUUID()]], held);
    expect(r.verdict).toMatchObject({ affected: 1, added: 1, hold: false });
    // without the approval this would be 2 people, over the limit of 1
    expect(r.recorded).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { buildPlan } from '../../../src/reconcile/plan.js';
import { forgetIdentities, identityCacheStats } from '../../../src/reconcile/identity-cache.js';
import { evaluationMemoStats } from '../../../src/policy/evaluation-memo.js';
import { parseMappings } from '../../../src/policy/index.js';
import type { EngineContext } from '../../../src/reconcile/index.js';
import type { Operation } from '../../../src/domain/plan.js';
import type { LockDriver } from '../../../src/drivers/contract.js';
import { markIdentityDeleted, upsertIdentity } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

const apply = { trigger: 'test', actor: 'test', apply: true };

/** An operation as a reviewer reads it: who, what, which group, why. */
const shown = (ops: Operation[]) => ops.map((o) => `${o.externalId} ${o.kind} ${o.group?.ref ?? ''} ${o.reason.text}`).sort();

/**
 * A process that ran a full plan before keeps what it read (identities by stored version) and
 * what it evaluated (by the inputs): the next full plan must be the one a process that
 * remembers nothing would make, whatever changed in between.
 */
describe.each(storeKinds)('a full run after one before it (remembered identities and evaluations) on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, MAPPINGS, {}, (x) => (e = x));

  /** The same plan from a process that has read and evaluated nothing yet (new mappings object, no cached identities). */
  async function freshPlan(): Promise<Operation[]> {
    forgetIdentities(e.ctx.db);
    const ctx: EngineContext = { ...e.ctx, policy: parseMappings(MAPPINGS, 'test-mappings.yaml').policy };
    return (await buildPlan(ctx, { kind: 'full' })).plan.operations;
  }

  async function warmPlan(): Promise<{ ops: Operation[]; reused: number; hits: number }> {
    const reused = identityCacheStats.reused;
    const hits = evaluationMemoStats.hits;
    const ops = (await buildPlan(e.ctx, { kind: 'full' })).plan.operations;
    return { ops, reused: identityCacheStats.reused - reused, hits: evaluationMemoStats.hits - hits };
  }

  it('reuses unchanged people and sees every change: their data, their sponsor, a shared key, a hand edit in the lock system', async () => {
    await hrPerson(e, 'E1');
    await hrPerson(e, 'E2', { groups: ['DC Operations'] });
    await hrPerson(e, 'C1', { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'], contractEnd: '2026-12-31' });
    await hrPerson(e, 'E3');
    await runReconcile(e.ctx, { kind: 'full' }, apply);

    // the run stored everyone's anchors (when each grant began): the next plan evaluates with them
    const anchored = await warmPlan();
    expect(anchored.ops).toEqual([]);
    expect(anchored.reused).toBe(4);
    // nothing changed since: everyone is taken from what the last plan read and evaluated
    const steady = await warmPlan();
    expect(steady.ops).toEqual([]);
    expect(steady.reused).toBe(4);
    expect(steady.hits).toBe(4);

    // a mover (their record's version moves): read again, evaluated again
    await hrPerson(e, 'E3', { groups: ['DC Operations'] });
    const moved = await warmPlan();
    expect(moved.reused).toBe(3);
    expect(shown(moved.ops)).toEqual(shown(await freshPlan()));
    expect(moved.ops.filter((o) => o.externalId === 'E3' && o.kind === 'grant').map((o) => o.group!.ref)).toEqual(['AG-POWER', 'AG-WS']);
    await runReconcile(e.ctx, { kind: 'full' }, apply);

    // the sponsor leaves: the contractor's own record is unchanged (taken from the cache), their evaluation is not
    await hrPerson(e, 'E1', { active: false });
    const sponsorGone = await warmPlan();
    expect(shown(sponsorGone.ops)).toEqual(shown(await freshPlan()));
    expect(
      sponsorGone.ops
        .filter((o) => o.externalId === 'C1' && o.kind === 'revoke')
        .map((o) => o.group!.ref)
        .sort(),
    ).toEqual(['AG-POWER', 'AG-WS']);
    await runReconcile(e.ctx, { kind: 'full' }, { ...apply, approved: true });

    // another source names E2's key: a correlation conflict, although E2's record did not change
    const { identity: twin } = await upsertIdentity(e.ctx.db, {
      source: 'entra',
      externalId: 'E2',
      userName: 'e2-entra@example.com',
      displayName: 'E2 in Entra',
      employeeType: 'Employee',
    });
    const shared = await warmPlan();
    expect(shown(shared.ops)).toEqual(shown(await freshPlan()));
    expect(shared.ops.filter((o) => o.externalId === 'E2' && o.kind === 'revoke').length).toBeGreaterThan(0);

    // a membership removed by hand in the lock system: put back, from the remembered evaluation
    await markIdentityDeleted(e.ctx.db, twin.id);
    await runReconcile(e.ctx, { kind: 'full' }, { ...apply, approved: true });
    expect(Object.keys(membershipsOf(e.sim, 'E2'))).toContain('AG-WS');
    const account = e.sim.state.findByExternalId('E2')!;
    e.sim.state.deleteMembership(account.id, 'AG-WS');
    const drifted = await warmPlan();
    expect(drifted.hits).toBeGreaterThan(0);
    expect(shown(drifted.ops)).toEqual(shown(await freshPlan()));
    expect(drifted.ops.map((o) => `${o.externalId} ${o.kind} ${o.group?.ref}`)).toEqual(['E2 grant AG-WS']);
  });

  it('lists people in id order, whatever order the lock system lists their accounts in', async () => {
    const people = [];
    for (let i = 0; i < 24; i++) people.push((await hrPerson(e, `P${i}`, { groups: ['DC Operations'] })).identity);
    // each joiner's own run, in turn: the simulator lists accounts as they were created (P0 first); ids are random
    for (const p of people) await runReconcile(e.ctx, { kind: 'identities', ids: [p.id] }, apply);
    const byCreation = people.map((p) => p.id);
    const byId = [...byCreation].sort();
    expect(byCreation).not.toEqual(byId);
    for (const p of people) e.sim.state.deleteMembership(e.sim.state.findByExternalId(p.externalId)!.id, 'AG-WS');
    // a lock system slower to list than the store is to read: everyone is evaluated before their account arrives
    const driver = e.ctx.drivers.get('dc1')!;
    const slow: LockDriver = Object.assign(Object.create(Object.getPrototypeOf(driver) as object) as LockDriver, driver, {
      listAccounts: async (cursor: string | null) => {
        await new Promise((r) => setTimeout(r, 300));
        return driver.listAccounts(cursor);
      },
    });
    const ops = (await buildPlan({ ...e.ctx, drivers: new Map([['dc1', slow]]) }, { kind: 'full' })).plan.operations;
    expect(ops.map((o) => `${o.identityId} ${o.kind} ${o.group?.ref}`)).toEqual(byId.map((id) => `${id} grant AG-WS`));
    expect(shown(ops)).toEqual(shown(await freshPlan()));
  });

  it('evaluates again when time alone changes the answer (a contract end passing)', async () => {
    await hrPerson(e, 'E2', { groups: ['DC Operations'], contractEnd: '2026-06-10' });
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect((await warmPlan()).ops).toEqual([]);
    e.setNow('2026-06-11T08:00:00Z');
    const later = await warmPlan();
    expect(shown(later.ops)).toEqual(shown(await freshPlan()));
    expect(later.ops.length).toBeGreaterThan(0);
  });
});

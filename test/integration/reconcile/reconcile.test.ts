import { describe, expect, it } from 'vitest';
import { approveRun, rejectRun, runReconcile } from '../../../src/reconcile/index.js';
import { getRun, iterateAudit, markIdentityDeleted } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

const full = { kind: 'full' } as const;
const apply = { trigger: 'test', actor: 'test', apply: true };

describe.each(storeKinds)('reconciliation on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, MAPPINGS, {}, (x) => (e = x));

  const person = (externalId: string, extra: Record<string, unknown> = {}) => hrPerson(e, externalId, extra);

  it('gives a joiner exactly the groups the rules give, with reasons in the plan and the audit log', async () => {
    const { identity } = await person('E1', { groups: ['DC Operations'] });
    const out = await runReconcile(e.ctx, full, apply);
    expect(out.failed).toEqual([]);
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER', 'AG-WS']);
    const ws = out.plan.operations.find((o) => o.kind === 'grant' && o.group?.ref === 'AG-WS')!;
    expect(ws.reason.reasons?.[0]).toMatchObject({ rule: 'dc-ops', role: 'dc-technician' });
    const audit = [];
    for await (const a of iterateAudit(e.ctx.db, { subject: identity.id })) audit.push(a);
    const grants = audit.filter((a) => a.action === 'grant');
    expect(grants).toHaveLength(4);
    expect(grants.every((g) => (g.data.reason as { text: string }).text.length > 0)).toBe(true);
  });

  it('plans nothing on a second run over unchanged input', async () => {
    await person('E1', { groups: ['DC Operations'] });
    await person('C1', { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'], contractEnd: '2026-07-31' });
    await person('F1', { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'], hireDate: '2026-09-01' }); // pre-hire, class maxima apply
    await runReconcile(e.ctx, full, apply);
    const again = await runReconcile(e.ctx, full, { ...apply, apply: false });
    expect(again.plan.operations).toEqual([]);
  });

  it('moves a mover: the old doors go and the new come in one run', async () => {
    await person('E1', { groups: ['DC Operations'] });
    await runReconcile(e.ctx, full, apply);
    await person('E1', { groups: ['Finance'] });
    const out = await runReconcile(e.ctx, full, apply);
    expect(
      out.plan.operations
        .filter((o) => o.kind === 'revoke')
        .map((o) => o.group!.ref)
        .sort(),
    ).toEqual(['AG-POWER', 'AG-WS']);
    expect(Object.keys(membershipsOf(e.sim, 'E1')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM']);
  });

  it('revokes a leaver and suspends the account', async () => {
    const { identity } = await person('E1', { groups: ['DC Operations'] });
    await runReconcile(e.ctx, full, apply);
    await markIdentityDeleted(e.ctx.db, identity.id);
    const out = await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    expect(out.failed).toEqual([]);
    expect(membershipsOf(e.sim, 'E1')).toEqual({});
    expect(e.sim.state.findByExternalId('E1')?.state).toBe('suspended');
    expect(out.plan.operations.every((o) => o.reason.cause === 'leaver')).toBe(true);
    // the identity-scoped run is recorded once it has finished, with its results; the audit
    // entries of its operations name it
    const run = await getRun(e.ctx.db, out.run!.id);
    expect(run).toMatchObject({ status: 'applied', scope: 'identities', progress: { done: out.plan.operations.length, total: out.plan.operations.length } });
    expect(run!.results.map((r) => r.status)).toEqual(out.plan.operations.map(() => 'applied'));
    expect(run!.finishedAt).not.toBeNull();
    const audit = [];
    for await (const a of iterateAudit(e.ctx.db, { subject: identity.id })) if (a.runId === run!.id) audit.push(a.action);
    expect(audit.sort()).toEqual(out.plan.operations.map((o) => o.kind).sort());
  });

  it("ends a contractor's validity at the contract end or the class maximum, whichever is first", async () => {
    await person('E1');
    // contract ends in 2 months: before the class 4 maximum (90 days) and after... power is class 3 (180 days)
    await person('C1', { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'], contractEnd: '2026-07-31' });
    // contract ends in a year: the class maxima win
    await person('C2', { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'], contractEnd: '2027-06-01' });
    await runReconcile(e.ctx, full, apply);
    const c1 = membershipsOf(e.sim, 'C1');
    expect(c1['AG-WS'].until).toBe('2026-07-31T23:59:59.999Z');
    expect(c1['AG-POWER'].until).toBe('2026-07-31T23:59:59.999Z');
    const c2 = membershipsOf(e.sim, 'C2');
    expect(c2['AG-WS'].until).toBe('2026-08-30T08:00:00.000Z'); // 2026-06-01T08:00 + 90 days
    expect(c2['AG-POWER'].until).toBe('2026-11-28T08:00:00.000Z'); // + 180 days
    expect(c2['AG-OFFICE']).toBeUndefined(); // not an employee
  });

  it('keeps the class maximum anchored to the first grant: later runs do not slide it', async () => {
    await person('E1');
    await person('C2', { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'] });
    await runReconcile(e.ctx, full, apply);
    e.setNow('2026-06-20T08:00:00Z');
    const again = await runReconcile(e.ctx, full, { ...apply, apply: false });
    expect(again.plan.operations).toEqual([]);
    e.setNow('2026-09-01T00:00:00Z'); // past the 90 days
    const expired = await runReconcile(e.ctx, full, apply);
    expect(expired.plan.operations.find((o) => o.kind === 'revoke' && o.group?.ref === 'AG-WS')).toBeTruthy();
    expect(membershipsOf(e.sim, 'C2')['AG-WS']).toBeUndefined();
  });

  it('gives a pre-hire joiner a window that starts before the hire date', async () => {
    await person('E5', { hireDate: '2026-06-15', groups: ['DC Operations'] });
    await runReconcile(e.ctx, full, apply);
    const m = membershipsOf(e.sim, 'E5');
    expect(m['AG-PERIM'].from).toBe('2026-06-08T00:00:00.000Z');
    expect(m['AG-WS'].from).toBe('2026-06-08T00:00:00.000Z');
  });

  it('suspends an orphan account per the orphan policy and leaves unmanaged groups alone', async () => {
    const orphan = e.sim.state.createAccount({ externalId: 'GHOST', displayName: 'Nobody' });
    e.sim.state.putMembership(orphan.id, 'AG-WS', {});
    e.sim.state.putGroup({ id: 'AG-CANTEEN', name: 'Canteen', doors: [] });
    e.sim.state.putMembership(orphan.id, 'AG-CANTEEN', {});
    const out = await runReconcile(e.ctx, full, apply);
    expect(out.plan.operations.map((o) => [o.kind, o.reason.cause])).toEqual(
      expect.arrayContaining([
        ['revoke', 'orphan'],
        ['suspend_account', 'orphan'],
      ]),
    );
    const after = e.sim.state.getAccount(orphan.id)!;
    expect(after.state).toBe('suspended');
    expect(after.memberships.map((m) => m.group)).toEqual(['AG-CANTEEN']);
  });

  it('holds a run that would revoke too many people until it is approved', async () => {
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push((await person(`P${i}`)).identity.id);
    await runReconcile(e.ctx, full, apply);
    for (const id of ids.slice(0, 5)) await markIdentityDeleted(e.ctx.db, id);
    const held = await runReconcile(e.ctx, full, apply);
    expect(held.held).toBe(true);
    expect(held.run?.status).toBe('held');
    expect(Object.keys(membershipsOf(e.sim, 'P0')).length).toBeGreaterThan(0);
    const approved = await approveRun(e.ctx, held.run!.id, 'security-officer');
    expect(approved.run?.status).toBe('applied');
    expect(membershipsOf(e.sim, 'P0')).toEqual({});
    expect(Object.keys(membershipsOf(e.sim, 'P7')).length).toBeGreaterThan(0);
  });

  it('rejects a held run: nothing of it is applied, it is audited, and it cannot be approved after', async () => {
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push((await person(`R${i}`)).identity.id);
    await runReconcile(e.ctx, full, apply);
    for (const id of ids.slice(0, 5)) await markIdentityDeleted(e.ctx.db, id);
    const held = await runReconcile(e.ctx, full, apply);
    expect(held.held).toBe(true);
    const rejected = await rejectRun(e.ctx, held.run!.id.slice(0, 8), 'security-officer', 'the HR export was cut short');
    expect(rejected.status).toBe('cancelled');
    expect(rejected.error).toBe('rejected by security-officer: the HR export was cut short');
    expect(Object.keys(membershipsOf(e.sim, 'R0')).length).toBeGreaterThan(0);
    await expect(approveRun(e.ctx, held.run!.id, 'someone-else')).rejects.toMatchObject({ code: 'precondition' });
    const audit = await e.ctx.db.query<{ action: string }>(
      'SELECT action FROM audit_pending WHERE subject = $1 UNION ALL SELECT action FROM audit_log WHERE subject = $1',
      [held.run!.id],
    );
    expect(audit.rows.map((r) => r.action).sort()).toEqual(['run.held', 'run.rejected']);
    // the cause is still there: the next run is held again
    expect((await runReconcile(e.ctx, full, apply)).held).toBe(true);
  });

  it('reports operations that failed in an outage and completes them in the next run', async () => {
    for (let i = 0; i < 3; i++) await person(`E${i}`, { groups: ['DC Operations'] });
    // the outage starts once the plan is made, in the middle of applying it
    e.ctx.hooks = { onPlan: () => void e.sim.faults.set({ status: 503, times: 6 }) };
    const first = await runReconcile(e.ctx, full, { ...apply });
    e.ctx.hooks = {};
    // with two attempts per operation, six injected failures leave some operations failed
    expect(first.failed.length).toBeGreaterThan(0);
    expect(first.run?.status).toMatch(/partial|failed/);
    e.sim.faults.clear();
    const second = await runReconcile(e.ctx, full, apply);
    expect(second.failed).toEqual([]);
    for (let i = 0; i < 3; i++) expect(Object.keys(membershipsOf(e.sim, `E${i}`)).sort()).toEqual(['AG-OFFICE', 'AG-PERIM', 'AG-POWER', 'AG-WS']);
    expect((await runReconcile(e.ctx, full, { ...apply, apply: false })).plan.operations).toEqual([]);
  });
});

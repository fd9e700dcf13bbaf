import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import {
  approveAccessRequest,
  createAccessException,
  createAccessRequest,
  denyAccessRequest,
  explainIdentity,
  type Caller,
} from '../../../src/governance/index.js';
import { buildPlan } from '../../../src/reconcile/plan.js';
import { iterateAudit } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from '../reconcile/mappings.js';

/** The reconcile mappings, with an owner on the whitespace. */
const OWNED = MAPPINGS.replace('name: Server whitespace, protectionClass: 4 }', 'name: Server whitespace, protectionClass: 4, owner: hall.owner@example.com }');
const apply = { trigger: 'test', actor: 'test', apply: true };
const caller = (name: string, roles: string[] = ['viewer']): Caller => ({ actor: `token:${name}`, names: [name], roles });

describe.each(storeKinds)('access requests on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, OWNED, {}, (x) => (e = x));
  const groupsOf = (key: string) => Object.keys(membershipsOf(e.sim, key)).sort();

  it("grants an approved request's group until its end, with the request as the reason, and takes it away on time", async () => {
    const { identity } = await hrPerson(e, 'E1', { manager: 'boss@example.com' });
    await hrPerson(e, 'BOSS', { userName: 'boss@example.com' });
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(groupsOf('E1')).toEqual(['AG-OFFICE', 'AG-PERIM']);

    // the manager asks; the owner approves (four-eyes: not the manager, not the person)
    const r = await createAccessRequest(
      e.ctx,
      { who: 'e1@example.com', accessGroup: 'whitespace', until: '2026-06-20', justification: 'migration project' },
      caller('boss@example.com'),
    );
    expect(r).toMatchObject({
      status: 'pending',
      groups: ['whitespace'],
      validFrom: '2026-06-01T08:00:00.000Z',
      validUntil: '2026-06-20T23:59:59.999Z',
      requestedBy: 'token:boss@example.com',
    });
    expect(r.steps).toEqual([expect.objectContaining({ kind: 'owner', who: 'hall.owner@example.com', approvedBy: null })]);
    await expect(approveAccessRequest(e.ctx, r.id, caller('boss@example.com', ['approver']), null)).rejects.toMatchObject({ details: { rule: 'four-eyes' } });
    await expect(approveAccessRequest(e.ctx, r.id, caller('e1@example.com', ['approver']), null)).rejects.toMatchObject({ details: { rule: 'four-eyes' } });
    await expect(approveAccessRequest(e.ctx, r.id, caller('someone.else', ['approver']), null)).rejects.toThrow(/waits for owner hall.owner@example.com/);
    const ok = await approveAccessRequest(e.ctx, r.id, caller('hall.owner@example.com', ['approver']), 'fine for the project');
    expect(ok).toMatchObject({ status: 'approved', decidedBy: 'token:hall.owner@example.com' });

    const built = await buildPlan(e.ctx, { kind: 'identities', ids: [identity.id] });
    const grant = built.plan.operations.find((o) => o.kind === 'grant')!;
    expect(grant.group!.ref).toBe('AG-WS');
    expect(grant.validity).toEqual({ from: null, until: '2026-06-20T23:59:59.999Z' });
    expect(grant.reason.reasons).toEqual([
      expect.objectContaining({
        rule: `request:${r.id}`,
        notes: [expect.stringContaining('approved by token:hall.owner@example.com: migration project'), expect.stringContaining('until 2026-06-20')],
      }),
    ]);
    expect(built.nextCheckAtByIdentity[identity.id]).toBe('2026-06-20T23:59:59.999Z');
    await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    expect(groupsOf('E1')).toContain('AG-WS');
    const x = await explainIdentity(e.ctx, 'e1@example.com');
    expect(x.evaluation.entitlements.find((y) => y.accessGroup.id === 'whitespace')!.reasons[0].rule).toBe(`request:${r.id}`);

    // an exception still wins over a request
    const ex = await createAccessException(e.ctx, { who: identity.id, accessGroupId: 'whitespace', until: '2026-06-10', reason: 'incident', actor: 'test' });
    expect((await explainIdentity(e.ctx, 'e1@example.com')).evaluation.denied[0].exception!.id).toBe(ex.exception.id);

    // past its end (and the exception's), the group goes
    e.setNow('2026-06-21T00:00:00Z');
    const after = await runReconcile(e.ctx, { kind: 'identities', ids: [identity.id] }, apply);
    expect(groupsOf('E1')).toEqual(['AG-OFFICE', 'AG-PERIM']);
    void after;

    const audit: string[] = [];
    for await (const a of iterateAudit(e.ctx.db, { subject: identity.id })) if (a.action.startsWith('request.')) audit.push(`${a.action} ${a.actor}`);
    expect(audit).toEqual(['request.created token:boss@example.com', 'request.approved token:hall.owner@example.com']);
  });

  it("applies the class limits: over the class's maximum is refused naming until; a contractor needs their sponsor's approval too", async () => {
    await hrPerson(e, 'S1');
    await hrPerson(e, 'C1', { employeeType: 'Contractor' });
    await hrPerson(e, 'C2', { employeeType: 'Contractor', sponsor: 's1@example.com' });
    const op = caller('ops', ['operator']);
    await expect(
      createAccessRequest(e.ctx, { who: 's1@example.com', accessGroup: 'whitespace', until: '2026-12-31', justification: 'x' }, op),
    ).rejects.toMatchObject({
      code: 'validation',
      field: 'until',
      message: expect.stringMatching(/whitespace is protection class 4, which allows at most 90 days \(classes.4 maxValidityDays: 90\)/),
    });
    await expect(
      createAccessRequest(e.ctx, { who: 'c1@example.com', role: 'dc-technician', until: '2026-06-30', justification: 'x' }, op),
    ).rejects.toMatchObject({ code: 'validation', field: 'identity', message: expect.stringMatching(/requires an active sponsor/) });
    await expect(createAccessRequest(e.ctx, { who: 's1@example.com', until: '2026-06-30', justification: 'x' }, op)).rejects.toMatchObject({
      field: 'accessGroup',
    });
    await expect(
      createAccessRequest(e.ctx, { who: 's1@example.com', role: 'dc-technician', until: '2026-06-30', justification: 'x' }, caller('stranger')),
    ).rejects.toMatchObject({ details: { rule: 'four-eyes' } });

    const r = await createAccessRequest(e.ctx, { who: 'c2@example.com', role: 'dc-technician', until: '2026-06-30', justification: 'maintenance window' }, op);
    expect(r.groups).toEqual(['power', 'whitespace']);
    expect(r.steps.map((s) => `${s.kind} ${s.who ?? '*'} ${s.groups.join('+')}`)).toEqual([
      'approver * power',
      'owner hall.owner@example.com whitespace',
      'sponsor s1@example.com power+whitespace',
    ]);
    const a1 = await approveAccessRequest(e.ctx, r.id, caller('hall.owner@example.com', ['approver']), null);
    // an approver fills every step open to them: here the owner's, and the any-approver step
    expect(a1.status).toBe('pending');
    const a2 = await approveAccessRequest(e.ctx, r.id, caller('s1@example.com', ['approver']), 'my contractor');
    expect(a2.status).toBe('approved');
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(groupsOf('C2')).toEqual(['AG-PERIM', 'AG-POWER', 'AG-WS']);
  });

  it('denies a request with a comment; a denied request grants nothing and cannot be approved', async () => {
    await hrPerson(e, 'E1');
    const r = await createAccessRequest(
      e.ctx,
      { who: 'e1@example.com', accessGroup: 'power', until: '2026-06-10', justification: 'curious' },
      caller('e1@example.com'),
    );
    await expect(denyAccessRequest(e.ctx, r.id, caller('approver1', ['approver']), ' ')).rejects.toMatchObject({ field: 'comment' });
    const d = await denyAccessRequest(e.ctx, r.id, caller('approver1', ['approver']), 'no need');
    expect(d).toMatchObject({ status: 'denied', decidedBy: 'token:approver1', decisionComment: 'no need' });
    await expect(approveAccessRequest(e.ctx, r.id, caller('approver2', ['approver']), null)).rejects.toMatchObject({ code: 'precondition' });
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(groupsOf('E1')).not.toContain('AG-POWER');
    // a request whose window passed while it waited is not approved any more
    const late = await createAccessRequest(
      e.ctx,
      { who: 'e1@example.com', accessGroup: 'power', until: '2026-06-02', justification: 'tomorrow' },
      caller('e1@example.com'),
    );
    e.setNow('2026-06-03T00:00:00Z');
    await expect(approveAccessRequest(e.ctx, late.id, caller('approver1', ['approver']), null)).rejects.toThrow(/which has passed/);
  });
});

import { describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { buildPlan } from '../../../src/reconcile/plan.js';
import { explainIdentity } from '../../../src/governance/report.js';
import { markIdentityDeleted } from '../../../src/store/index.js';
import { storeKinds } from '../../helpers/db.js';
import { hrPerson, membershipsOf, useTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

const apply = { trigger: 'test', actor: 'test', apply: true };

describe.each(storeKinds)('sponsored access on %s', (kind) => {
  let e!: TestEngine;
  useTestEngine(kind, MAPPINGS, {}, (x) => (e = x));

  const person = (externalId: string, extra: Record<string, unknown> = {}) => hrPerson(e, externalId, extra);
  const contractor = { employeeType: 'Contractor', sponsor: 'E1', groups: ['DC Operations'], contractEnd: '2026-12-31' };
  const scope = (id: string) => ({ kind: 'identities' as const, ids: [id] });

  it("revokes a contractor's sponsored groups in the next plan once the sponsor is a leaver", async () => {
    await person('E1');
    const { identity: c1 } = await person('C1', contractor);
    await runReconcile(e.ctx, scope(c1.id), apply);
    expect(Object.keys(membershipsOf(e.sim, 'C1')).sort()).toEqual(['AG-PERIM', 'AG-POWER', 'AG-WS']);

    // the sponsor left yesterday (their own record changed; the contractor's did not)
    await person('E1', { leaveDate: '2026-05-31' });
    const plan = await buildPlan(e.ctx, scope(c1.id));
    const revokes = plan.plan.operations.filter((o) => o.kind === 'revoke');
    expect(revokes.map((o) => o.group!.ref).sort()).toEqual(['AG-POWER', 'AG-WS']);
    expect(revokes.map((o) => o.reason.text)).toEqual([
      'Power room: class 3 requires an active sponsor for non-employees; sponsor e1@example.com has left (leaveDate 2026-05-31) (rule dc-ops)',
      'Server whitespace: class 4 requires an active sponsor for non-employees; sponsor e1@example.com has left (leaveDate 2026-05-31) (rule dc-ops)',
    ]);
    await runReconcile(e.ctx, scope(c1.id), apply);
    expect(Object.keys(membershipsOf(e.sim, 'C1'))).toEqual(['AG-PERIM']);
    const why = await explainIdentity(e.ctx, 'c1@example.com');
    expect(why.evaluation.denied.map((d) => d.reason)).toEqual([
      expect.stringMatching(/sponsor e1@example.com has left/),
      expect.stringMatching(/sponsor e1@example.com has left/),
    ]);
  });

  it('revokes them when the sponsor is deleted or deactivated, and in a full run too', async () => {
    const { identity: sponsor } = await person('E1');
    await person('E2');
    await person('C1', contractor);
    await person('C2', { ...contractor, sponsor: 'e2@EXAMPLE.com' });
    await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(membershipsOf(e.sim, 'C2')['AG-WS']).toBeDefined();
    await markIdentityDeleted(e.ctx.db, sponsor.id);
    await person('E2', { active: false });
    // three people lose access in a run of four: approved, or the guard would hold it
    const out = await runReconcile(e.ctx, { kind: 'full' }, { ...apply, approved: true });
    expect(out.held).toBe(false);
    const texts = out.plan.operations
      .filter((o) => o.kind === 'revoke' && o.externalId?.startsWith('C'))
      .map((o) => `${o.externalId} ${o.group!.ref}: ${o.reason.text}`);
    expect(texts).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^C1 AG-WS: .*sponsor e1@example.com was deleted at source/),
        expect.stringMatching(/^C2 AG-WS: .*sponsor e2@example.com is inactive/),
      ]),
    );
    expect(Object.keys(membershipsOf(e.sim, 'C1'))).toEqual(['AG-PERIM']);
    expect(Object.keys(membershipsOf(e.sim, 'C2'))).toEqual(['AG-PERIM']);
  });

  it("ends sponsored access on the sponsor's future leave date and looks at the contractor again then", async () => {
    await person('E1', { leaveDate: '2026-06-20' });
    const { identity: c1 } = await person('C1', contractor);
    const out = await runReconcile(e.ctx, scope(c1.id), apply);
    const m = membershipsOf(e.sim, 'C1');
    expect(m['AG-WS'].until).toBe('2026-06-20T23:59:59.999Z');
    expect(m['AG-POWER'].until).toBe('2026-06-20T23:59:59.999Z');
    expect(m['AG-PERIM'].until).toBeNull(); // not a sponsored class
    expect(out.nextCheckAtByIdentity[c1.id]).toBe('2026-06-20T23:59:59.999Z');
    // then: the sponsor has left, the sponsored groups go
    e.setNow('2026-06-21T00:00:00Z');
    await runReconcile(e.ctx, scope(c1.id), apply);
    expect(Object.keys(membershipsOf(e.sim, 'C1'))).toEqual(['AG-PERIM']);
  });
});

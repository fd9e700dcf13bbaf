/**
 * Correlation conflicts (issue 13): two live SCIM users with one externalId are accepted by the
 * SCIM endpoint, and the reconciler then refuses both access instead of linking two people to
 * the lock account that carries the key. Real store (PostgreSQL and PGlite), real simulator.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runReconcile } from '../../../src/reconcile/index.js';
import { accessReport, explainIdentity } from '../../../src/governance/index.js';
import { ScimService } from '../../../src/sources/scim/service.js';
import { listLinks } from '../../../src/store/links.js';
import { metricsRegistry, engineHooks } from '../../../src/metrics/index.js';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const full = { kind: 'full' } as const;
const apply = { trigger: 'test', actor: 'test', apply: true };

describe.each(storeKinds)('correlation conflicts on %s', (kind) => {
  let e: TestEngine;
  let store: TestStore;
  let scim: ScimService;
  beforeAll(async () => {
    store = await createTestStore(kind);
  });
  afterAll(async () => {
    await store.drop();
  });
  beforeEach(async () => {
    e = await createTestEngine(kind, MAPPINGS, { store });
    e.ctx.hooks = engineHooks();
    scim = new ScimService({ db: e.ctx.db, source: 'scim' });
  });
  afterEach(async () => {
    await e.close();
  });

  let queued: string[] = [];
  const user = async (userName: string, externalId: string) => {
    const r = await scim.createUser({
      schemas: [USER],
      userName,
      externalId,
      displayName: userName,
      active: true,
      'urn:ietf:params:scim:schemas:extension:lockstep:2.0:User': { employeeType: 'Employee' },
    });
    queued = [...r.changes.changed, ...r.changes.leavers];
    return r.row;
  };
  const gauge = async () => (await metricsRegistry.getSingleMetric('lockstep_correlation_conflicts')!.get()).values[0]?.value;

  it('refuses both holders of one externalId any access, links neither to the contested account, and reports it', async () => {
    const a = await user('ada@example.com', 'K1');
    await runReconcile(e.ctx, full, apply);
    expect(Object.keys(membershipsOf(e.sim, 'K1')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM']);
    const accountId = e.sim.state.findByExternalId('K1')!.id;

    const b = await user('bob@example.com', 'K1');
    // Bob's create queues Ada too: her access is contested from now on
    expect(queued.sort()).toEqual([a.identity_id, b.identity_id].sort());
    // the access report, before anything is applied: Ada's account is not justified, and says why
    const report = (await accessReport(e.ctx)).filter((r) => r.accountId === accountId);
    expect(report.map((r) => r.justified)).toEqual([false, false]);
    expect(report[0].why).toMatch(/correlation conflict: externalId "K1" is also held by bob@example\.com/);
    // explain names the other holder, and no account is shown for Bob by the contested key
    const x = await explainIdentity(e.ctx, 'bob@example.com');
    expect(x.conflict).toMatchObject({ externalId: 'K1', heldBy: [{ id: a.identity_id, userName: 'ada@example.com', source: 'scim' }] });
    expect(x.evaluation.entitlements).toEqual([]);
    expect(x.evaluation.denied.map((d) => d.reason)).toEqual(expect.arrayContaining([expect.stringContaining('ada@example.com')]));
    expect(x.systems[0].account).toBeNull();

    const out = await runReconcile(e.ctx, full, apply);
    const kinds = out.plan.operations.map((o) => `${o.kind}:${o.identityId === a.identity_id ? 'ada' : o.identityId === b.identity_id ? 'bob' : o.identityId}`);
    expect(kinds.sort()).toEqual(['revoke:ada', 'revoke:ada']);
    expect(out.plan.operations.every((o) => o.reason.text.includes('correlation conflict'))).toBe(true);
    expect(out.plan.conflicts?.map((c) => c.userName).sort()).toEqual(['ada@example.com', 'bob@example.com']);
    expect(out.plan.warnings.filter((w) => w.includes('correlation conflict'))).toHaveLength(2);
    expect(await gauge()).toBe(2);
    expect(membershipsOf(e.sim, 'K1')).toEqual({});
    // one account for the key, linked to Ada as before; Bob is linked to nothing, no account was made for him
    expect((await e.ctx.drivers.get('dc1')!.listAccounts(null)).items.filter((acc) => acc.externalId === 'K1')).toHaveLength(1);
    expect((await listLinks(e.ctx.db, 'dc1')).map((l) => l.identityId)).toEqual([a.identity_id]);

    // a reconcile of Bob alone (what his SCIM write queues) does not touch the account either
    const one = await runReconcile(e.ctx, { kind: 'identities', ids: [b.identity_id] }, apply);
    expect(one.plan.operations).toEqual([]);
    expect(one.plan.conflicts).toHaveLength(1);

    // the collision ends when Bob goes: his delete queues Ada, whose reconcile gives her doors back
    const gone = await scim.deleteUser(b.id);
    expect([...gone.changes.changed]).toEqual([a.identity_id]);
    const after = await runReconcile(e.ctx, { kind: 'identities', ids: [...gone.changes.changed, ...gone.changes.leavers] }, apply);
    expect(after.plan.conflicts).toBeUndefined();
    expect(Object.keys(membershipsOf(e.sim, 'K1')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM']);
    await runReconcile(e.ctx, full, apply);
    expect(await gauge()).toBe(0);
  });

  it('re-keying one holder away ends the conflict and queues the other; re-keying onto a held key queues its holder', async () => {
    const a = await user('dee@example.com', 'K3');
    const b = await user('eve@example.com', 'K3');
    await runReconcile(e.ctx, full, apply);
    expect(membershipsOf(e.sim, 'K3')).toEqual({});
    const moved = await scim.patchUser(b.id, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'externalId', value: 'K4' }],
    });
    expect(moved.changes.changed.has(a.identity_id)).toBe(true);
    const out = await runReconcile(e.ctx, { kind: 'identities', ids: [...moved.changes.changed, ...moved.changes.leavers] }, apply);
    expect(out.plan.conflicts).toBeUndefined();
    expect(Object.keys(membershipsOf(e.sim, 'K3')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM']);
    expect(Object.keys(membershipsOf(e.sim, 'K4')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM']);
    const back = await scim.patchUser(b.id, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'externalId', value: 'K3' }],
    });
    expect(back.changes.changed.has(a.identity_id)).toBe(true);
  });

  it('a new user whose externalId collides with no one but a deleted user brings that identity back, as before', async () => {
    const a = await user('cy@example.com', 'K2');
    await scim.deleteUser(a.id);
    const again = await user('cy.again@example.com', 'K2');
    expect(again.identity_id).toBe(a.identity_id);
    const out = await runReconcile(e.ctx, full, { ...apply, apply: false });
    expect(out.plan.conflicts).toBeUndefined();
  });
});

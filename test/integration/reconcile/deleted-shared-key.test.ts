/**
 * Issue 21, item 4: two identities share a correlation key, one deleted and one live and
 * entitled. The deleted one's job must never look the account up by that key, link it or
 * change it: it is the live person's to claim. Both jobs run at once, as two queue workers
 * would run them. Real store (PostgreSQL and PGlite), real simulator over HTTP.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localLeases, reconcileIdentity, type Controller } from '../../../src/queue/controller.js';
import { runReconcile } from '../../../src/reconcile/index.js';
import { listLinks } from '../../../src/store/links.js';
import { markIdentityDeleted, upsertIdentity } from '../../../src/store/index.js';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { createTestEngine, membershipsOf, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

const apply = { trigger: 'test', actor: 'test', apply: true };

describe.each(storeKinds)('a deleted identity and a live one sharing a key, on %s', (kind) => {
  let e: TestEngine;
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(kind);
  });
  afterAll(async () => {
    await store.drop();
  });
  beforeEach(async () => {
    e = await createTestEngine(kind, MAPPINGS, { store });
  });
  afterEach(async () => {
    await e.close();
  });

  const controller = (): Controller => ({
    db: e.ctx.db,
    now: () => e.ctx.now(),
    logger: { warn: () => undefined },
    reconcile: (scope, opts) => runReconcile(e.ctx, scope, opts),
    systems: ['dc1'],
    leases: localLeases(),
    requeue: async () => undefined,
  });

  it('leaves the live person’s account to them when both jobs run at once: it stays active with its doors', async () => {
    // the account under key K7 exists in the lock system already (an estate taken over, or a rehire)
    e.sim.state.createAccount({ externalId: 'K7', displayName: 'Grace Hopper' });
    // a deleted record of an earlier person with that key, and the live, entitled one
    const { identity: gone } = await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'K7',
      userName: 'g.hopper.old',
      displayName: 'Grace (old record)',
      employeeType: 'Employee',
    });
    await markIdentityDeleted(e.ctx.db, gone.id);
    const { identity: live } = await upsertIdentity(e.ctx.db, {
      source: 'scim',
      externalId: 'K7',
      userName: 'grace@example.com',
      displayName: 'Grace Hopper',
      employeeType: 'Employee',
    });

    const c = controller();
    const [a, b] = await Promise.allSettled([
      reconcileIdentity(c, { identityId: gone.id, lane: 'revocation', reason: 'scim' }),
      reconcileIdentity(c, { identityId: live.id, lane: 'normal', reason: 'scim' }),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('fulfilled');

    const account = e.sim.state.findByExternalId('K7')!;
    expect(account.state).toBe('active');
    expect(Object.keys(membershipsOf(e.sim, 'K7')).sort()).toEqual(['AG-OFFICE', 'AG-PERIM']);
    const links = await listLinks(e.ctx.db, 'dc1');
    expect(links.filter((l) => l.accountId === account.id).map((l) => l.identityId)).toEqual([live.id]);

    // and a full run agrees: the deleted record takes nothing, the account is not an orphan
    const full = await runReconcile(e.ctx, { kind: 'full' }, apply);
    expect(full.plan.operations.filter((o) => o.identityId === gone.id)).toEqual([]);
    expect(full.plan.operations.filter((o) => o.accountId === account.id && o.revocation)).toEqual([]);
    expect(e.sim.state.findByExternalId('K7')!.state).toBe('active');
  });

  it('still suspends a deleted person’s own unlinked account when nobody live holds the key', async () => {
    e.sim.state.createAccount({ externalId: 'K8', displayName: 'Alan Turing' });
    const { identity: gone } = await upsertIdentity(e.ctx.db, {
      source: 'hr',
      externalId: 'K8',
      userName: 'alan',
      displayName: 'Alan Turing',
      employeeType: 'Employee',
    });
    await markIdentityDeleted(e.ctx.db, gone.id);
    await reconcileIdentity(controller(), { identityId: gone.id, lane: 'revocation', reason: 'hr' });
    expect(e.sim.state.findByExternalId('K8')!.state).toBe('suspended');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, resetStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { markIdentityDeleted, upsertIdentity, syncAnchors } from '../../../src/store/index.js';
import { getIdentities, identitiesInRange, listIdentities, allSponsorsByRef } from '../../../src/store/identities.js';
import { loadIdentityStamps, listLinks, saveLink } from '../../../src/store/links.js';
import { allCorrelationConflicts } from '../../../src/store/correlation.js';
import { forgetIdentities, identitiesOf, identityCacheStats } from '../../../src/reconcile/identity-cache.js';

/** What a full run reads of the store a page at a time (store/links.ts loadIdentityStamps and its companions). */
describe.each(storeKinds)("a full run's pages on %s", (kind) => {
  let s: TestStore;
  beforeAll(async () => {
    s = await createTestStore(kind);
  });
  afterAll(async () => {
    await s.drop();
  });

  async function people(n: number) {
    await resetStore(s.db);
    for (let i = 1; i <= n; i++)
      await upsertIdentity(s.db, { source: 'hr', externalId: `E${i}`, userName: `e${i}@example.com`, displayName: `Person ${i}`, employeeType: 'Employee' });
    return listIdentities(s.db, { includeDeleted: true });
  }

  it('lists stamps in id order, page after page, with deleted people, anchors and nothing else', async () => {
    const all = await people(7);
    await markIdentityDeleted(s.db, all[3].id);
    await syncAnchors(s.db, all[1].id, { lobby: '2026-05-01T10:00:00.000Z', techrooms: '2026-05-02T10:00:00.000Z' });
    await syncAnchors(s.db, all[5].id, { lobby: '2026-05-03T10:00:00.000Z' });
    const now = new Date();
    const first = await loadIdentityStamps(s.db, null, 3, now);
    const second = await loadIdentityStamps(s.db, first.stamps[2].id, 3, now);
    const third = await loadIdentityStamps(s.db, second.stamps[2].id, 3, now);
    expect([...first.stamps, ...second.stamps, ...third.stamps].map((x) => x.id)).toEqual(all.map((i) => i.id));
    expect(third.stamps).toHaveLength(1);
    const deleted = second.stamps.find((x) => x.id === all[3].id)!;
    const again = (await getIdentities(s.db, [all[3].id]))[0];
    expect(deleted.version).toBe(again.version);
    expect(deleted.updatedAtMs).toBe(Date.parse(again.updatedAt));
    expect(first.anchors.get(all[1].id)).toEqual({ lobby: '2026-05-01T10:00:00.000Z', techrooms: '2026-05-02T10:00:00.000Z' });
    expect([...first.anchors.keys()]).toEqual([all[1].id]);
    expect(second.anchors.get(all[5].id)).toEqual({ lobby: '2026-05-03T10:00:00.000Z' });
  });

  it('reads a range whole (first page and later ones) and by ids, the same identities', async () => {
    const all = await people(6);
    expect((await identitiesInRange(s.db, null, all[2].id)).map((i) => i.id)).toEqual(all.slice(0, 3).map((i) => i.id));
    expect((await identitiesInRange(s.db, all[2].id, all[5].id)).map((i) => i.id)).toEqual(all.slice(3).map((i) => i.id));
    expect(await getIdentities(s.db, [all[4].id, all[1].id])).toEqual([all[1], all[4]]);
  });

  it('takes unchanged identities from the cache and reads changed ones again', async () => {
    const all = await people(6);
    forgetIdentities(s.db);
    const now = new Date();
    const page = async (after: string | null, n: number) => {
      const p = await loadIdentityStamps(s.db, after, n, now);
      return identitiesOf(s.db, p.stamps, after);
    };
    const before = { ...identityCacheStats };
    // cold: both pages read whole (the second by its range after the first)
    expect((await page(null, 3)).map((i) => i.userName)).toEqual(all.slice(0, 3).map((i) => i.userName));
    expect((await page(all[2].id, 3)).map((i) => i.userName)).toEqual(all.slice(3).map((i) => i.userName));
    expect(identityCacheStats.read - before.read).toBe(6);
    // one person changes: only they are read again
    const mover = all[4];
    await upsertIdentity(s.db, { source: 'hr', externalId: mover.externalId, userName: mover.userName, displayName: 'Moved', employeeType: 'Employee' });
    const mid = { ...identityCacheStats };
    const later = await page(all[2].id, 3);
    expect(identityCacheStats.read - mid.read).toBe(1);
    expect(identityCacheStats.reused - mid.reused).toBe(2);
    expect(later.map((i) => i.displayName)).toEqual([all[3].displayName, 'Moved', all[5].displayName]);
    expect(later[0]).toBe((await page(all[2].id, 3))[0]);
  });

  it('reads every link, every conflict and every sponsor in one statement each', async () => {
    const byKey = new Map((await people(3)).map((i) => [i.externalId, i]));
    const all = ['E1', 'E2', 'E3'].map((k) => byKey.get(k)!);
    await saveLink(s.db, { system: 'dc1', identityId: all[0].id, accountId: 'A1', externalId: 'E1' });
    await saveLink(s.db, { system: 'dc1', identityId: all[1].id, accountId: 'A2', externalId: 'E2' });
    await saveLink(s.db, { system: 'dc2', identityId: all[1].id, accountId: 'B2', externalId: 'E2' });
    expect((await listLinks(s.db, 'dc1')).sort((a, b) => a.accountId.localeCompare(b.accountId))).toEqual([
      { system: 'dc1', identityId: all[0].id, accountId: 'A1', externalId: 'E1' },
      { system: 'dc1', identityId: all[1].id, accountId: 'A2', externalId: 'E2' },
    ]);
    expect(await listLinks(s.db, 'dc3')).toEqual([]);

    expect((await allCorrelationConflicts(s.db)).size).toBe(0);
    const { identity: twin } = await upsertIdentity(s.db, { source: 'entra', externalId: 'E2', userName: 'e2@entra.example.com', employeeType: 'Employee' });
    const conflicts = await allCorrelationConflicts(s.db);
    expect(conflicts.get(all[1].id)).toEqual([{ id: twin.id, userName: 'e2@entra.example.com', source: 'entra' }]);
    expect(conflicts.get(twin.id)).toEqual([{ id: all[1].id, userName: 'e2@example.com', source: 'hr' }]);

    await upsertIdentity(s.db, { source: 'hr', externalId: 'C1', userName: 'c1@example.com', employeeType: 'Contractor', sponsor: ' e1@EXAMPLE.com ' });
    await upsertIdentity(s.db, { source: 'hr', externalId: 'C2', userName: 'c2@example.com', employeeType: 'Contractor', sponsor: 'nobody' });
    const sponsors = await allSponsorsByRef(s.db);
    expect([...sponsors.asked].sort()).toEqual(['e1@EXAMPLE.com', 'nobody']);
    expect(sponsors.byRef.get('e1@EXAMPLE.com')).toMatchObject({ found: true, id: all[0].id, active: true });
    expect(sponsors.byRef.has('nobody')).toBe(false);
  });
});

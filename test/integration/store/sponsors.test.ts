import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markIdentityDeleted, sponseesOf, sponsorStates, upsertIdentity, type Db } from '../../../src/store/index.js';
import type { Identity } from '../../../src/domain/identity.js';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';

describe.each(storeKinds)('sponsors in the store on %s', (kind) => {
  let s: TestStore;
  let db: Db;
  let ben: Identity;
  let greta: Identity;
  let queries = 0;
  beforeAll(async () => {
    s = await createTestStore(kind);
    db = s.db;
    ben = (await upsertIdentity(db, { source: 'hr', externalId: 'E1002', userName: 'ben.keller', email: 'Ben.Keller@dc1.example', leaveDate: '2026-10-31' }))
      .identity;
    greta = (await upsertIdentity(db, { source: 'hr', externalId: 'E1007', userName: 'greta.wagner', active: false })).identity;
    // the same userName in another source, deleted: a live match wins over it
    const old = (await upsertIdentity(db, { source: 'entra', externalId: 'x-1', userName: 'Ben.Keller' })).identity;
    await markIdentityDeleted(db, old.id);
    const gone = (await upsertIdentity(db, { source: 'hr', externalId: 'E1099', userName: 'olga' })).identity;
    await markIdentityDeleted(db, gone.id);
  });
  afterAll(async () => {
    await s.drop();
  });

  const counted = (): Db =>
    new Proxy(db, {
      get(target, prop, receiver) {
        if (prop === 'query') return (...args: Parameters<Db['query']>) => (queries++, target.query(...args));
        return Reflect.get(target, prop, receiver);
      },
    });

  it('resolves sponsors by userName, externalId, email or id, case-insensitively, in one statement', async () => {
    const people = [
      { id: 'a0000000-0000-4000-8000-000000000001', sponsor: ' BEN.KELLER ' },
      { id: 'a0000000-0000-4000-8000-000000000002', sponsor: 'e1002' },
      { id: 'a0000000-0000-4000-8000-000000000003', sponsor: 'ben.keller@DC1.example' },
      { id: 'a0000000-0000-4000-8000-000000000004', sponsor: ben.id.toUpperCase() },
      { id: 'a0000000-0000-4000-8000-000000000005', sponsor: 'greta.wagner' },
      { id: 'a0000000-0000-4000-8000-000000000006', sponsor: 'olga' },
      { id: 'a0000000-0000-4000-8000-000000000007', sponsor: 'nobody' },
      { id: 'a0000000-0000-4000-8000-000000000008', sponsor: '  ' },
      { id: 'a0000000-0000-4000-8000-000000000009' },
    ];
    queries = 0;
    const states = await sponsorStates(counted(), people);
    expect(queries).toBe(1);
    const benState = { found: true, id: ben.id, userName: 'ben.keller', active: true, deletedAt: null, leaveDate: '2026-10-31' };
    for (const n of [1, 2, 3, 4]) expect(states.get(people[n - 1].id)).toEqual(benState);
    expect(states.get(people[4].id)).toEqual({ found: true, id: greta.id, userName: 'greta.wagner', active: false, deletedAt: null, leaveDate: null });
    expect(states.get(people[5].id)).toMatchObject({ found: true, userName: 'olga', active: false, deletedAt: expect.stringMatching(/Z$/) });
    expect(states.get(people[6].id)).toEqual({ found: false });
    // no sponsor: nothing to resolve
    expect(states.has(people[7].id)).toBe(false);
    expect(states.has(people[8].id)).toBe(false);
    queries = 0;
    expect((await sponsorStates(counted(), [people[8]])).size).toBe(0);
    expect(queries).toBe(0);
  });

  it('lists the live identities whose sponsor names an identity, by any of its keys', async () => {
    const a = (await upsertIdentity(db, { source: 'hr', externalId: 'C1', userName: 'uwe', employeeType: 'Contractor', sponsor: 'Ben.Keller' })).identity;
    const b = (await upsertIdentity(db, { source: 'hr', externalId: 'C2', userName: 'vera', employeeType: 'Contractor', sponsor: 'E1002 ' })).identity;
    const c = (await upsertIdentity(db, { source: 'hr', externalId: 'C3', userName: 'walter', employeeType: 'Contractor', sponsor: 'ben.keller@dc1.example' }))
      .identity;
    const d = (await upsertIdentity(db, { source: 'hr', externalId: 'C4', userName: 'yusuf', employeeType: 'Contractor', sponsor: ben.id })).identity;
    const gone = (await upsertIdentity(db, { source: 'hr', externalId: 'C5', userName: 'zoe', employeeType: 'Contractor', sponsor: 'ben.keller' })).identity;
    await markIdentityDeleted(db, gone.id);
    await upsertIdentity(db, { source: 'hr', externalId: 'C6', userName: 'aaron', employeeType: 'Contractor', sponsor: 'greta.wagner' });
    expect(await sponseesOf(db, ben)).toEqual([a.id, b.id, c.id, d.id].sort());
    expect(await sponseesOf(db, { id: 'not-a-uuid', userName: 'nobody', externalId: 'X', email: undefined })).toEqual([]);
  });
});

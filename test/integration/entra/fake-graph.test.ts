import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { entraSourceSchema, pullEntra, resetEntraClients, usersStateKey } from '../../../src/sources/entra/index.js';
import { FakeGraph, type FakeUser } from '../../../src/sources/entra/fake-graph.js';
import { getSyncState, listIdentities } from '../../../src/store/index.js';

const id = (n: number) => `0000aaaa-0000-4000-8000-${String(n).padStart(12, '0')}`;
const GROUP = '0000bbbb-0000-4000-8000-000000000001';
const person = (n: number, extra: Partial<FakeUser> = {}): FakeUser => ({
  id: id(n),
  userPrincipalName: `p${n}@contoso.com`,
  displayName: `Person ${n}`,
  accountEnabled: true,
  employeeId: `E${n}`,
  department: 'Operations',
  ...extra,
});

describe.each(storeKinds)('Entra source against the local fake Graph on %s', (kind) => {
  let s: TestStore;
  let fake: FakeGraph;
  let seq = 0;
  let name: string;
  beforeAll(async () => {
    s = await createTestStore(kind);
  });
  afterAll(async () => {
    await s.drop();
  });
  beforeEach(async () => {
    name = `local${++seq}`;
    fake = await FakeGraph.start({ pageSize: 2 });
  });
  afterEach(async () => {
    resetEntraClients();
    await fake.close();
  });

  it('syncs through graphBaseUrl with auth none: initial round, changes, throttling, an expired token', async () => {
    for (let n = 1; n <= 5; n++) fake.upsertUser(person(n, n > 1 ? { manager: id(1) } : {}));
    fake.upsertGroup(GROUP, 'DC Operations');
    for (const n of [1, 2, 3]) fake.addMember(GROUP, id(n));
    const source = { ...entraSourceSchema.parse({ type: 'entra', tenantId: 'contoso', auth: 'none', graphBaseUrl: fake.url }), name };
    const notified: Array<{ ids: string[]; leaver: boolean }> = [];
    const pull = () => pullEntra({ db: s.db, source, onChange: (ids, hint) => void notified.push({ ids, leaver: hint.leaver }) });
    const people = async () => new Map((await listIdentities(s.db, { source: name, includeDeleted: true })).map((i) => [i.externalId, i]));

    const r1 = await pull();
    expect(r1.users).toMatchObject({ mode: 'initial', pages: 3, seen: 5 });
    let p = await people();
    expect(p.size).toBe(5);
    expect(p.get('E3')).toMatchObject({ groups: ['DC Operations'], manager: id(1), department: 'Operations' });
    expect(p.get('E4')!.groups).toEqual([]);

    fake.upsertUser(person(2, { accountEnabled: false, manager: id(1) }));
    fake.removeUser(id(3), 'changed');
    fake.removeMember(GROUP, id(1));
    fake.upsertUser(person(6));
    fake.addMember(GROUP, id(6));
    fake.throttleNext(1, '0.01');
    notified.length = 0;
    const r2 = await pull();
    expect(r2.users.mode).toBe('delta');
    expect(r2.retries).toBe(1);
    p = await people();
    expect(p.get('E1')!.groups).toEqual([]);
    expect(p.get('E2')!.active).toBe(false);
    expect(p.get('E3')!.deletedAt).not.toBeNull();
    expect(p.get('E6')).toMatchObject({ active: true, groups: ['DC Operations'] });
    expect(notified.find((n) => n.leaver)!.ids.sort()).toEqual([p.get('E2')!.id, p.get('E3')!.id].sort());

    fake.expireTokens();
    fake.removeUser(id(4), 'deleted');
    const r3 = await pull();
    expect(r3).toMatchObject({ resynced: true, removed: 1, held: null });
    expect((await people()).get('E4')!.deletedAt).not.toBeNull();
    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: expect.stringContaining(fake.url) });
  });
});

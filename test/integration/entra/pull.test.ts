import nock from 'nock';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { groupsStateKey, pullEntra, usersStateKey, type PullEntraDeps, type PullResult } from '../../../src/sources/entra/index.js';
import { findIdentityBySourceKey, getSyncState, iterateAudit, listIdentities, type AuditEntry } from '../../../src/store/index.js';
import type { Identity } from '../../../src/domain/identity.js';
import { LockstepError } from '../../../src/domain/errors.js';
import {
  GRAPH,
  deltaPage,
  deltaTok,
  graph,
  group,
  initialQuery,
  mockTokenEndpoint,
  oid,
  removedUser,
  skip,
  source,
  user,
  type UserSpec,
} from './graph-fixtures.js';

const throttled = {
  error: {
    code: 'TooManyRequests',
    innerError: {
      code: '429',
      date: '2026-11-22T03:00:00',
      message: 'Please retry after',
      'request-id': '94fb3b52-452a-4535-a601-69e0a90e3aa2',
      status: '429',
    },
    message: 'Please retry again later.',
  },
};

describe.each(storeKinds)('Entra source on %s', (kind) => {
  let s: TestStore;
  let seq = 0;
  let name: string;
  let notified: Array<{ ids: string[]; leaver: boolean }>;
  let sleeps: number[];

  beforeAll(async () => {
    s = await createTestStore(kind);
    nock.disableNetConnect();
  });
  afterAll(async () => {
    nock.cleanAll();
    nock.enableNetConnect();
    await s.drop();
  });
  beforeEach(() => {
    name = `entra${++seq}`;
    notified = [];
    sleeps = [];
    mockTokenEndpoint();
  });
  afterEach(() => {
    nock.cleanAll();
  });

  const pull = (extra: Record<string, unknown> = {}, opts: Partial<Pick<PullEntraDeps, 'allowMassRemoval' | 'logger'>> = {}) =>
    pullEntra({
      db: s.db,
      source: source(name, extra),
      onChange: (ids, hint) => {
        notified.push({ ids: [...ids].sort(), leaver: hint.leaver });
      },
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0,
      ...opts,
    });

  /** The identity of test user n: the live one when a re-key left a deleted one behind. */
  const byUser = async (n: number): Promise<Identity | undefined> => {
    const all = (await listIdentities(s.db, { source: name, includeDeleted: true })).filter((i) => i.attributes.entraObjectId === oid('u', n));
    return all.find((i) => !i.deletedAt) ?? all[0];
  };
  const audit = async (): Promise<AuditEntry[]> => {
    const out: AuditEntry[] = [];
    for await (const e of iterateAudit(s.db)) if (e.actor === `entra:${name}`) out.push(e);
    return out;
  };
  const leaverIds = () =>
    notified
      .filter((n) => n.leaver)
      .flatMap((n) => n.ids)
      .sort();
  const changedIds = () =>
    notified
      .filter((n) => !n.leaver)
      .flatMap((n) => n.ids)
      .sort();

  /** A first complete round: users on one page (deltaLink d1), groups on one page (g1). */
  async function seed(users: UserSpec[], groups: Array<ReturnType<typeof group>> = [], extra: Record<string, unknown> = {}): Promise<PullResult> {
    const g = graph()
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .reply(200, deltaPage('users', users.map(user), { delta: 'd1' }))
      .get('/v1.0/groups/delta')
      .query(initialQuery)
      .reply(200, deltaPage('groups', groups, { delta: 'g1' }));
    const r = await pull(extra);
    g.done();
    notified = [];
    return r;
  }

  it('imports every user across pages, an empty page included, and keeps the deltaLink only at the end', async () => {
    const g = graph()
      .get('/v1.0/users/delta')
      .query((q) => initialQuery(q) && String(q.$select).split(',').includes('employeeLeaveDateTime') && String(q.$select).split(',').includes('manager'))
      .reply(200, deltaPage('users', [user({ n: 1 }), user({ n: 2, employeeId: null }), user({ n: 3, accountEnabled: false })], { next: 'p2' }))
      .get('/v1.0/users/delta')
      .query(skip('p2'))
      .reply(200, deltaPage('users', [], { next: 'p3' }))
      .get('/v1.0/users/delta')
      .query(skip('p3'))
      .reply(200, deltaPage('users', [user({ n: 4, manager: 1, extra: { employeeLeaveDateTime: '2030-06-30T23:59:59Z' } })], { delta: 'd1' }))
      // One large group spans two pages; a second group arrives on the second page.
      .get('/v1.0/groups/delta')
      .query((q) => initialQuery(q) && q.$select === 'id,displayName,members' && !('$filter' in q))
      .reply(200, deltaPage('groups', [group(1, 'DC Operations', [1, 2])], { next: 'gp2' }))
      .get('/v1.0/groups/delta')
      .query(skip('gp2'))
      .reply(200, deltaPage('groups', [group(1, 'DC Operations', [4]), group(2, 'Contractors', [3])], { delta: 'g1' }));

    const r = await pull();
    g.done();

    expect(r.users).toMatchObject({ mode: 'initial', pages: 3, seen: 4 });
    expect(r.groups).toMatchObject({ mode: 'initial', pages: 2, seen: 3 });
    const u1 = (await byUser(1))!;
    expect(u1).toMatchObject({
      source: name,
      externalId: 'E1001',
      userName: 'person1@contoso.com',
      displayName: 'Person 1',
      email: 'person1@contoso.com',
      active: true,
      department: 'Operations',
      jobTitle: 'Technician',
      site: 'DC1',
      employeeType: 'Employee',
      hireDate: '2021-03-01T00:00:00Z',
      groups: ['DC Operations'],
      roles: [],
      attributes: { companyName: 'Contoso Ltd', employeeId: 'E1001', extensionAttribute1: 'cost-1', entraObjectId: oid('u', 1) },
    });
    expect(u1.attributes).not.toHaveProperty('extensionAttribute2');
    // No employeeId: the object id is the key.
    expect((await byUser(2))!.externalId).toBe(oid('u', 2));
    expect((await byUser(4))!).toMatchObject({ manager: oid('u', 1), leaveDate: '2030-06-30T23:59:59Z', groups: ['DC Operations'] });
    expect((await byUser(3))!).toMatchObject({ active: false, groups: ['Contractors'] });

    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/users/delta?$deltatoken=d1` });
    expect(await getSyncState(s.db, groupsStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/groups/delta?$deltatoken=g1` });
    // The disabled account is handed over as a leaver, the others as changes.
    expect(leaverIds()).toEqual([(await byUser(3))!.id]);
    expect(changedIds()).toEqual([(await byUser(1))!.id, (await byUser(2))!.id, (await byUser(4))!.id].sort());
  });

  it('fails as an auth error when the tenant refuses the client secret, and stores nothing', async () => {
    const g = graph()
      .get('/v1.0/users/delta')
      .query(true)
      .reply(200, deltaPage('users', [user({ n: 1 })], { delta: 'd1' }));
    const err = (await pull({ clientSecret: 'expired-secret' }).catch((e: unknown) => e)) as LockstepError;
    expect(err).toBeInstanceOf(LockstepError);
    expect(err.code).toBe('auth');
    expect(err.message).toMatch(/AADSTS7000215/);
    expect(err.message).not.toMatch(/expired-secret/);
    expect(g.isDone()).toBe(false);
    expect(await getSyncState(s.db, usersStateKey(name))).toBeNull();
  });

  it('applies a delta round: membership added and removed, a disabled account, soft and hard deletes, then a restore', async () => {
    await seed([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, { n: 5 }], [group(1, 'DC Operations', [1, 2])]);
    const before1 = (await byUser(1))!;

    const g = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(
        200,
        deltaPage('users', [user({ n: 1, department: 'Security' }), user({ n: 2, accountEnabled: false }), removedUser(3, 'changed')], { next: 'q2' }),
      )
      .get('/v1.0/users/delta')
      .query(skip('q2'))
      // A replay of the same change and a permanent delete.
      .reply(200, deltaPage('users', [user({ n: 1, department: 'Security' }), removedUser(4, 'deleted')], { delta: 'd2' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [group(1, 'DC Operations', [5, { n: 1, removed: true }])], { delta: 'g2' }));
    const r = await pull();
    g.done();

    expect(r.users.mode).toBe('delta');
    const [u1, u2, u3, u4, u5] = await Promise.all([1, 2, 3, 4, 5].map(byUser));
    expect(u1).toMatchObject({ id: before1.id, department: 'Security', groups: [], active: true, deletedAt: null });
    expect(u1!.version).toBe(before1.version + 1);
    expect(u2).toMatchObject({ active: false, deletedAt: null });
    expect(u3!.deletedAt).not.toBeNull();
    expect(u4!.deletedAt).not.toBeNull();
    expect(u5!.groups).toEqual(['DC Operations']);
    expect(leaverIds()).toEqual([u2!.id, u3!.id, u4!.id].sort());
    expect(changedIds()).toEqual([u1!.id, u5!.id].sort());
    expect(notified[0].leaver).toBe(true);
    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/users/delta?$deltatoken=d2` });
    const reasons = (await audit()).filter((e) => e.action === 'identity.deleted').map((e) => [e.subject, e.data.reason]);
    expect(reasons).toEqual(
      expect.arrayContaining([
        [u3!.id, 'soft-deleted'],
        [u4!.id, 'deleted'],
      ]),
    );

    // Restored from deleted items: the user comes back without @removed.
    notified = [];
    const g2 = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d2'))
      .reply(200, deltaPage('users', [user({ n: 3 })], { delta: 'd3' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g2'))
      .reply(200, deltaPage('groups', [], { delta: 'g3' }));
    await pull();
    g2.done();
    expect(await byUser(3)).toMatchObject({ id: u3!.id, deletedAt: null, active: true });
    expect(notified).toEqual([{ ids: [u3!.id], leaver: false }]);
  });

  it('replays a round harmlessly: nothing changes, nobody is notified', async () => {
    await seed([{ n: 1 }, { n: 2 }], [group(1, 'DC Operations', [1])]);
    const g = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(200, deltaPage('users', [user({ n: 1 }), user({ n: 2 })], { delta: 'd2' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [group(1, 'DC Operations', [1])], { delta: 'g2' }));
    const r = await pull();
    g.done();
    expect(r).toMatchObject({ changed: 0, upserted: 0, leavers: 0 });
    expect(notified).toEqual([]);
  });

  it('runs concurrent pulls of one source once', async () => {
    const g = graph()
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .once()
      .reply(200, deltaPage('users', [user({ n: 1 })], { delta: 'd1' }))
      .get('/v1.0/groups/delta')
      .query(initialQuery)
      .once()
      .reply(200, deltaPage('groups', [], { delta: 'g1' }));
    const [a, b] = await Promise.all([pull(), pull()]);
    g.done();
    expect(a).toBe(b);
    expect(notified).toHaveLength(1);
  });

  it('on 410 Gone enumerates everything again and makes the absent a leaver', async () => {
    await seed(Array.from({ length: 10 }, (_, i) => ({ n: i + 1 })));
    const g = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(
        410,
        { error: { code: 'resyncRequired', message: 'Resync required. The delta token is no longer valid.' } },
        { Location: `${GRAPH}/v1.0/users/delta?$deltatoken=` },
      )
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .reply(
        200,
        deltaPage(
          'users',
          Array.from({ length: 9 }, (_, i) => user({ n: i + 1 })),
          { delta: 'd2' },
        ),
      )
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [], { delta: 'g2' }));
    const r = await pull();
    g.done();

    expect(r).toMatchObject({ resynced: true, removed: 1, held: null });
    expect(r.users.mode).toBe('resync');
    const gone = (await byUser(10))!;
    expect(gone.deletedAt).not.toBeNull();
    expect(leaverIds()).toEqual([gone.id]);
    expect(notified.filter((n) => !n.leaver)).toEqual([]);
    const entries = await audit();
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['identity.deleted', 'entra.resync']));
    expect(entries.find((e) => e.action === 'identity.deleted')!.data).toMatchObject({ reason: 'absent', externalId: 'E1010' });
    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/users/delta?$deltatoken=d2` });
  });

  it('holds a resync that would remove too many people, and says so', async () => {
    await seed([1, 2, 3, 4, 5].map((n) => ({ n })));
    const expired = { error: { code: 'syncStateNotFound', message: 'The sync state generation is not found.' } };
    const round = (groupsLink: string) =>
      graph()
        .get('/v1.0/users/delta')
        .query(deltaTok('d1'))
        .reply(400, expired)
        .get('/v1.0/users/delta')
        .query(initialQuery)
        .reply(200, deltaPage('users', [user({ n: 1 }), user({ n: 2, department: 'Security' })], { delta: 'd9' }))
        .get('/v1.0/groups/delta')
        .query(deltaTok(groupsLink))
        .reply(200, deltaPage('groups', [], { delta: `${groupsLink}x` }));
    const logged: Array<{ level: number; msg: string; wouldRemove?: number }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const g = round('g1');
    const r = await pull({}, { logger: pino({ level: 'info' }, sink) });
    g.done();
    expect(logged).toContainEqual(expect.objectContaining({ level: 50, wouldRemove: 3, msg: expect.stringMatching(/removals held/) }));

    expect(r.held).toMatchObject({ wouldRemove: 3, total: 5, percent: 60, maxRemovalPercent: 20 });
    expect(r.removed).toBe(0);
    for (const n of [3, 4, 5]) expect((await byUser(n))!.deletedAt).toBeNull();
    // What the enumeration did say still counts.
    expect((await byUser(2))!.department).toBe('Security');
    const held = (await audit()).find((e) => e.action === 'entra.resync.held')!;
    expect(held.data).toMatchObject({ source: name, wouldRemove: 3, total: 5 });
    expect(held.data.sample).toEqual(expect.arrayContaining(['E1003', 'E1004', 'E1005']));
    // The users link stays the old one, so the next pull enumerates again.
    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/users/delta?$deltatoken=d1` });

    // The groups round was an ordinary delta round: its link moved on.
    expect(await getSyncState(s.db, groupsStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/groups/delta?$deltatoken=g1x` });

    // An operator agrees: the removal goes through.
    const g2 = round('g1x');
    const r2 = await pull({}, { allowMassRemoval: true });
    g2.done();
    expect(r2).toMatchObject({ held: null, removed: 3 });
    for (const n of [3, 4, 5]) expect((await byUser(n))!.deletedAt).not.toBeNull();
  });

  it('a pull that fails halfway stores no delta link and revokes nobody; the next pull resumes', async () => {
    await seed([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const firstPage = () => deltaPage('users', [user({ n: 2, accountEnabled: false }), removedUser(3, 'deleted')], { next: 'f2' });
    const g = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(200, firstPage())
      .get('/v1.0/users/delta')
      .query(skip('f2'))
      .times(2)
      .reply(500, { error: { code: 'generalException', message: 'An unspecified error has occurred.' } });
    const err = await pull({ http: { maxAttempts: 2 } }).catch((e: unknown) => e);
    g.done();
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('unavailable');
    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/users/delta?$deltatoken=d1` });
    expect(await byUser(2)).toMatchObject({ active: true, deletedAt: null });
    expect((await byUser(3))!.deletedAt).toBeNull();
    expect(notified).toEqual([]);

    const g2 = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(200, firstPage())
      .get('/v1.0/users/delta')
      .query(skip('f2'))
      .reply(200, deltaPage('users', [], { delta: 'd2' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [], { delta: 'g2' }));
    const r = await pull({ http: { maxAttempts: 2 } });
    g2.done();
    expect(r.leavers).toBe(2);
    expect((await byUser(2))!.active).toBe(false);
    expect((await byUser(3))!.deletedAt).not.toBeNull();
    expect(await getSyncState(s.db, usersStateKey(name))).toMatchObject({ deltaLink: `${GRAPH}/v1.0/users/delta?$deltatoken=d2` });
  });

  it('a resync that fails halfway removes nobody', async () => {
    await seed([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const g = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(410, { error: { code: 'resyncRequired', message: 'Resync required.' } })
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .reply(200, deltaPage('users', [user({ n: 1 })], { next: 'r2' }))
      .get('/v1.0/users/delta')
      .query(skip('r2'))
      .times(2)
      .reply(503, 'Service Unavailable');
    await expect(pull({ http: { maxAttempts: 2 } })).rejects.toMatchObject({ code: 'unavailable' });
    g.done();
    for (const n of [1, 2, 3]) expect((await byUser(n))!.deletedAt).toBeNull();
    expect(notified).toEqual([]);
    expect((await audit()).filter((e) => e.action !== 'identity.deleted')).toEqual([]);
  });

  it('waits out 429 Retry-After (decimal seconds) and backs off exponentially on 503 without one', async () => {
    const g = graph()
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .reply(429, throttled, { 'Retry-After': '1.5' })
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .reply(200, deltaPage('users', [user({ n: 1 })], { delta: 'd1' }))
      .get('/v1.0/groups/delta')
      .query(initialQuery)
      .times(2)
      .reply(503, { error: { code: 'serviceNotAvailable', message: 'The service is not available.' } })
      .get('/v1.0/groups/delta')
      .query(initialQuery)
      .reply(200, deltaPage('groups', [], { delta: 'g1' }));
    const r = await pull();
    g.done();
    expect(sleeps).toEqual([1500, 500, 1000]);
    expect(r.retries).toBe(3);
    expect(r.requests).toBe(5);
    expect(await byUser(1)).toBeDefined();
  });

  it('gives up after the configured attempts, or at once when Retry-After is longer than it will wait', async () => {
    const g = graph().get('/v1.0/users/delta').query(initialQuery).times(3).reply(429, throttled, { 'Retry-After': '2' });
    const err = (await pull({ http: { maxAttempts: 3 } }).catch((e: unknown) => e)) as LockstepError;
    g.done();
    expect(err).toMatchObject({ code: 'rate_limited', retryAfterMs: 2000, retryable: true });
    expect(sleeps).toEqual([2000, 2000]);

    sleeps = [];
    const g2 = graph().get('/v1.0/users/delta').query(initialQuery).reply(429, throttled, { 'Retry-After': '600' });
    await expect(pull({ http: { maxAttempts: 5, maxRetryAfterMs: 60_000 } })).rejects.toMatchObject({ code: 'rate_limited', retryAfterMs: 600_000 });
    g2.done();
    expect(sleeps).toEqual([]);
    expect(await getSyncState(s.db, usersStateKey(name))).toBeNull();
  });

  it('turns app-role assignments of the configured applications into roles, and notices when one goes', async () => {
    const sp = oid('s', 1);
    const [opRole, escortRole, oldRole] = [oid('r', 1), oid('r', 2), oid('r', 3)];
    const servicePrincipal = {
      '@odata.context': `${GRAPH}/v1.0/$metadata#servicePrincipals(id,appId,displayName,appRoles)/$entity`,
      id: sp,
      appId: '00000000-1111-4000-8000-000000000001',
      displayName: 'Badge Portal',
      appRoles: [
        {
          allowedMemberTypes: ['User'],
          description: 'Operates the data halls',
          displayName: 'Data centre operator',
          id: opRole,
          isEnabled: true,
          origin: 'Application',
          value: 'DC.Operator',
        },
        {
          allowedMemberTypes: ['User'],
          description: 'Escorts visitors',
          displayName: 'Visitor escort',
          id: escortRole,
          isEnabled: true,
          origin: 'Application',
          value: 'DC.Escort',
        },
        {
          allowedMemberTypes: ['User'],
          description: 'Retired',
          displayName: 'Old role',
          id: oldRole,
          isEnabled: false,
          origin: 'Application',
          value: 'DC.Old',
        },
      ],
    };
    const assignment = (id: string, principal: string, type: 'User' | 'Group', role: string, display: string) => ({
      id,
      deletedDateTime: null,
      appRoleId: role,
      createdDateTime: '2026-02-02T04:22:45.9480566Z',
      principalDisplayName: display,
      principalId: principal,
      principalType: type,
      resourceDisplayName: 'Badge Portal',
      resourceId: sp,
    });
    const ctx = `${GRAPH}/v1.0/$metadata#servicePrincipals('${sp}')/appRoleAssignedTo`;
    const rolesRound = (withOperator: boolean) =>
      graph()
        .get(`/v1.0/servicePrincipals/${sp}`)
        .query(true)
        .reply(200, servicePrincipal)
        .get(`/v1.0/servicePrincipals/${sp}/appRoleAssignedTo`)
        .query({ $top: '999' })
        .reply(200, {
          '@odata.context': ctx,
          '@odata.nextLink': `${GRAPH}/v1.0/servicePrincipals/${sp}/appRoleAssignedTo?$top=999&$skiptoken=X2`,
          value: [
            ...(withOperator ? [assignment('a1', oid('u', 1), 'User', opRole, 'Person 1')] : []),
            assignment('a2', oid('u', 4), 'User', '00000000-0000-0000-0000-000000000000', 'Person 4'),
            assignment('a3', oid('u', 4), 'User', oldRole, 'Person 4'),
          ],
        })
        .get(`/v1.0/servicePrincipals/${sp}/appRoleAssignedTo`)
        .query({ $top: '999', $skiptoken: 'X2' })
        .reply(200, { '@odata.context': ctx, value: [assignment('a4', oid('g', 1), 'Group', escortRole, 'Escorts')] });

    const extra = { appRoleApplications: [sp] };
    const g = rolesRound(true);
    await seed([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }], [group(1, 'Escorts', [2, 3])], extra);
    g.done();
    const operator = { value: 'DC.Operator', display: 'Data centre operator', type: 'entra-app-role' };
    const escort = { value: 'DC.Escort', display: 'Visitor escort', type: 'entra-app-role' };
    expect((await byUser(1))!.roles).toEqual([operator]);
    expect((await byUser(2))!.roles).toEqual([escort]);
    expect((await byUser(3))!.roles).toEqual([escort]);
    expect((await byUser(4))!.roles).toEqual([]);

    // The operator assignment is removed; users and groups did not change.
    const g2 = rolesRound(false)
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(200, deltaPage('users', [], { delta: 'd2' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [], { delta: 'g2' }));
    const r = await pull(extra);
    g2.done();
    expect((await byUser(1))!.roles).toEqual([]);
    expect(r.changed).toBe(1);
    expect(notified).toEqual([{ ids: [(await byUser(1))!.id], leaver: false }]);
  });

  it('with a group scope imports only members, fetches a new member, and makes a removed member a leaver', async () => {
    const scopeGroup = oid('g', 7);
    const extra = { scope: { groupIds: [scopeGroup] }, managerAs: 'userPrincipalName' };
    const g = graph()
      .get('/v1.0/users/delta')
      .query(initialQuery)
      .reply(200, deltaPage('users', [user({ n: 1 }), user({ n: 2, manager: 1 }), user({ n: 3 }), user({ n: 4 })], { delta: 'd1' }))
      .get('/v1.0/groups/delta')
      .query((q) => initialQuery(q) && q.$filter === `id eq '${scopeGroup}'`)
      .reply(200, deltaPage('groups', [{ ...group(7, 'Badge holders', [1, 2]), id: scopeGroup }], { delta: 'g1' }));
    await pull(extra);
    g.done();
    expect((await listIdentities(s.db, { source: name })).map((i) => i.userName).sort()).toEqual(['person1@contoso.com', 'person2@contoso.com']);
    expect(await byUser(2)).toMatchObject({ groups: ['Badge holders'], manager: 'person1@contoso.com' });

    notified = [];
    const fetched = { ...user({ n: 3 }), manager: { '@odata.type': '#microsoft.graph.user', id: oid('u', 1), userPrincipalName: 'person1@contoso.com' } };
    const g2 = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(200, deltaPage('users', [], { delta: 'd2' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [{ ...group(7, 'Badge holders', [3, { n: 2, removed: true }]), id: scopeGroup }], { delta: 'g2' }))
      .get(`/v1.0/users/${oid('u', 3)}`)
      .query((q) => typeof q.$select === 'string' && !String(q.$select).split(',').includes('manager') && q.$expand === 'manager($select=id,userPrincipalName)')
      .reply(200, fetched);
    const r = await pull(extra);
    g2.done();
    expect(r.fetched).toBe(1);
    expect(await byUser(3)).toMatchObject({ groups: ['Badge holders'], manager: 'person1@contoso.com', active: true });
    expect((await byUser(2))!.deletedAt).not.toBeNull();
    expect(leaverIds()).toEqual([(await byUser(2))!.id]);
    expect(changedIds()).toEqual([(await byUser(3))!.id]);
    expect(await findIdentityBySourceKey(s.db, name, 'E1004')).toBeNull();
  });

  it('re-keys a person whose employeeId arrives, and refuses a second person with the same key', async () => {
    await seed([{ n: 1, employeeId: null }, { n: 2 }]);
    const old = (await byUser(1))!;
    expect(old.externalId).toBe(oid('u', 1));
    const g = graph()
      .get('/v1.0/users/delta')
      .query(deltaTok('d1'))
      .reply(200, deltaPage('users', [user({ n: 1, employeeId: 'E7' }), user({ n: 3, employeeId: 'E1002' })], { delta: 'd2' }))
      .get('/v1.0/groups/delta')
      .query(deltaTok('g1'))
      .reply(200, deltaPage('groups', [], { delta: 'g2' }));
    const r = await pull();
    g.done();
    const now = (await byUser(1))!;
    expect(now).toMatchObject({ externalId: 'E7', deletedAt: null });
    expect(now.id).not.toBe(old.id);
    expect((await findIdentityBySourceKey(s.db, name, oid('u', 1)))!.deletedAt).not.toBeNull();
    expect(r.conflicts).toEqual([{ objectId: oid('u', 3), externalId: 'E1002', heldBy: oid('u', 2) }]);
    expect((await findIdentityBySourceKey(s.db, name, 'E1002'))!.attributes.entraObjectId).toBe(oid('u', 2));
  });
});

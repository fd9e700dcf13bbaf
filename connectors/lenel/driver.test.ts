import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { createLenelDriver, fromOnGuardDate, namesFor, quote } from './driver.js';
import { startLenelHarness, type LenelHarness } from './harness.js';

/** Behaviour of the Lenel OpenAccess driver beyond the conformance kit, against the fake over loopback HTTP. */

let h: LenelHarness | undefined;
afterEach(async () => {
  await h?.teardown();
  h = undefined;
});

const start = async (o: Parameters<typeof startLenelHarness>[0] = {}) => (h = await startLenelHarness(o));
const failure = (p: Promise<unknown>): Promise<LockstepError> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(LockstepError);
      return e as LockstepError;
    },
  );

describe('Lenel driver: memberships are access level assignments on badges', () => {
  it('writes the window as ACTIVATE/DEACTIVATE of the assignment, and changes it on a second grant', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-1', displayName: 'Val One' });
    const badge = fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: '2030-01-01T08:00:00.000Z', until: '2030-06-30T17:00:00.000Z' });
    expect(fake.assignmentsOf(badge.BADGEKEY as number)).toEqual([
      { ACCESSLEVELID: 1, BADGEKEY: badge.BADGEKEY, ACTIVATE: '2030-01-01T08:00:00Z', DEACTIVATE: '2030-06-30T17:00:00Z' },
    ]);
    await driver.grant(a.id, '1', { from: null, until: '2031-01-01T00:00:00.000Z' });
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: '1', from: null, until: '2031-01-01T00:00:00.000Z' }]);
    expect(fake.assignmentsOf(badge.BADGEKEY as number)).toHaveLength(1);
  });

  it('writes nothing when the assignment already has the window', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-2', displayName: 'Val Two' });
    fake.issueBadge(Number(a.id));
    const v = { from: '2030-01-01T00:00:00.000Z', until: null };
    await driver.grant(a.id, '2', v);
    const before = fake.exchanges.length;
    await driver.grant(a.id, '2', v);
    expect(fake.exchanges.slice(before).filter((x) => x.method !== 'GET')).toEqual([]);
  });

  it('gives every usable badge the level, and leaves lost badges alone', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-3', displayName: 'Val Three' });
    const active = fake.issueBadge(Number(a.id));
    const suspended = fake.issueBadge(Number(a.id), { STATUS: 4 });
    const lost = fake.issueBadge(Number(a.id), { STATUS: 2 });
    await driver.grant(a.id, '1', { from: null, until: null });
    expect(fake.assignmentsOf(active.BADGEKEY as number)).toHaveLength(1);
    expect(fake.assignmentsOf(suspended.BADGEKEY as number)).toHaveLength(1);
    expect(fake.assignmentsOf(lost.BADGEKEY as number)).toHaveLength(0);
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: '1', from: null, until: null }]);
  });

  it('reads a level missing on one usable badge as a repeated membership, which a grant repairs', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-4', displayName: 'Val Four' });
    fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: null, until: '2030-01-01T00:00:00.000Z' });
    const replacement = fake.issueBadge(Number(a.id)); // issued at the badging office, without the level
    const partial = (await driver.getAccount(a.id))!.memberships;
    expect(partial.filter((m) => m.group === '1').length).toBeGreaterThan(1);
    await driver.grant(a.id, '1', { from: null, until: '2030-01-01T00:00:00.000Z' });
    expect(fake.assignmentsOf(replacement.BADGEKEY as number)).toHaveLength(1);
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: '1', from: null, until: '2030-01-01T00:00:00.000Z' }]);
  });

  it('reports each distinct window of a level across badges, so reconcile sees the disagreement', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-5', displayName: 'Val Five' });
    fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: null, until: null });
    const b2 = fake.issueBadge(Number(a.id));
    fake.store
      .get('Lnl_AccessLevelAssignment')!
      .set(`1/${b2.BADGEKEY}`, { ACCESSLEVELID: 1, BADGEKEY: b2.BADGEKEY!, ACTIVATE: null, DEACTIVATE: '2029-01-01T00:00:00Z' });
    const ms = (await driver.getAccount(a.id))!.memberships;
    expect(ms).toHaveLength(2);
    expect(ms.map((m) => m.until).sort()).toEqual(['2029-01-01T00:00:00.000Z', null].sort());
  });

  it('refuses a grant for a cardholder without a usable badge unless issueBadge is set', async () => {
    const { driver, fake } = await start({ driver: { issueBadge: undefined } });
    const a = await driver.upsertAccount({ externalId: 'V-6', displayName: 'Val Six' });
    fake.issueBadge(Number(a.id), { STATUS: 3 }); // returned
    const e = await failure(driver.grant(a.id, '1', { from: null, until: null }));
    expect(e.code).toBe('precondition');
    expect(e.retryable).toBe(false);
    await h!.teardown();
    const again = await start({ driver: { issueBadge: { typeId: 7 } } });
    const b = await again.driver.upsertAccount({ externalId: 'V-6b', displayName: 'Val Six B' });
    await again.driver.grant(b.id, '1', { from: null, until: null });
    const badges = again.fake.badgesOf(Number(b.id));
    expect(badges).toHaveLength(1);
    expect(badges[0]).toMatchObject({ TYPE: 7, STATUS: 1 });
    expect(typeof badges[0].ID).toBe('number');
  });

  it('revokes the level from every badge, lost ones too, and is a no-op for what is not there', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-7', displayName: 'Val Seven' });
    const b1 = fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: null, until: null });
    await driver.grant(a.id, '2', { from: null, until: null });
    fake.store.get('Lnl_Badge')!.get(String(b1.BADGEKEY))!.STATUS = 2; // lost after the grant
    await driver.revoke(a.id, '1');
    expect(fake.assignmentsOf(b1.BADGEKEY as number).map((x) => x.ACCESSLEVELID)).toEqual([2]);
    await expect(driver.revoke(a.id, '1')).resolves.toBeUndefined();
    await expect(driver.revoke('999999', '1')).resolves.toBeUndefined();
    await expect(driver.revoke(a.id, 'not-a-level')).resolves.toBeUndefined();
  });

  it('refuses times the system would drop when OnGuard keeps dates without time', async () => {
    const { driver, fake } = await start({ fake: { datesUseTime: false } });
    const a = await driver.upsertAccount({ externalId: 'V-8', displayName: 'Val Eight' });
    fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: '2030-01-01T00:00:00.000Z', until: '2030-02-01T00:00:00.000Z' });
    const e = await failure(driver.grant(a.id, '1', { from: null, until: '2030-02-01T12:30:00.000Z' }));
    expect(e.code).toBe('config');
  });

  it('refuses an access level reference that is not a number, and an unknown level as validation', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-9', displayName: 'Val Nine' });
    fake.issueBadge(Number(a.id));
    expect((await failure(driver.grant(a.id, 'Server room', { from: null, until: null }))).code).toBe('config');
    const e = await failure(driver.grant(a.id, '42', { from: null, until: null }));
    expect(e.code).toBe('validation');
    expect(e.retryable).toBe(false);
  });
});

describe('Lenel driver: badges as credentials', () => {
  it('sets badge STATUS by the configured status names, and reads other statuses as revoked', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'C-1', displayName: 'Cred One' });
    const b = fake.issueBadge(Number(a.id));
    const key = String(b.BADGEKEY);
    const row = () => fake.store.get('Lnl_Badge')!.get(key)!;
    await driver.setCredentialState(a.id, key, 'suspended');
    expect(row().STATUS).toBe(4);
    await driver.setCredentialState(a.id, key, 'lost');
    expect(row().STATUS).toBe(2);
    await driver.setCredentialState(a.id, key, 'revoked');
    expect(row().STATUS).toBe(3);
    await driver.setCredentialState(a.id, key, 'active');
    expect(row().STATUS).toBe(1);
    fake.store.get('Lnl_BadgeStatus')!.set('5', { ID: 5, NAME: 'Destroyed' });
    row().STATUS = 5;
    const c = (await driver.getAccount(a.id))!.credentials[0];
    expect(c).toMatchObject({ id: key, type: 'card', number: String(b.ID), status: 'revoked' });
  });

  it('refuses a badge of another cardholder as not_found', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'C-2', displayName: 'Cred Two' });
    const other = await driver.upsertAccount({ externalId: 'C-3', displayName: 'Cred Three' });
    const b = fake.issueBadge(Number(other.id));
    expect((await failure(driver.setCredentialState(a.id, String(b.BADGEKEY), 'lost'))).code).toBe('not_found');
    expect(fake.store.get('Lnl_Badge')!.get(String(b.BADGEKEY))!.STATUS).toBe(1);
  });

  it('names the statuses OnGuard has when a configured one is missing, on the first account read', async () => {
    const { driver, fake } = await start({ driver: { badgeStatus: { suspended: 'On hold' } } });
    const ch = fake.addCardholder({ LASTNAME: 'Four', SSNO: 'C-4' });
    const e = await failure(driver.getAccount(String(ch.ID)));
    expect(e).toMatchObject({ code: 'config', field: 'systems.lenel-test.options.badgeStatus.suspended', retryable: false });
    expect(e.message).toContain('"On hold"');
    expect(e.message).toContain('Suspended');
  });

  it('cannot suspend cardholders, and says so', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'C-5', displayName: 'Cred Five' });
    expect(driver.capabilities.suspendAccount).toBe(false);
    expect((await failure(driver.setAccountState(a.id, 'suspended'))).code).toBe('precondition');
    await expect(driver.setAccountState(a.id, 'active')).resolves.toBeUndefined();
  });

  it('deletes the cardholder with its badges and their levels', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'C-6', displayName: 'Cred Six' });
    const b = fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: null, until: null });
    await driver.deleteAccount(a.id);
    expect(fake.badgesOf(Number(a.id))).toEqual([]);
    expect(fake.assignmentsOf(b.BADGEKEY as number)).toEqual([]);
    expect(await driver.findAccount('C-6')).toBeNull();
  });
});

describe('Lenel driver: cardholders', () => {
  it('pages by ID with a keyset cursor: a cardholder deleted meanwhile shifts no page', async () => {
    const { driver, fake } = await start({ driver: { pageSize: 3 } });
    fake.seedCardholders(8, { ssnoPrefix: 'p-' });
    const first = await driver.listAccounts(null);
    expect(first.items).toHaveLength(3);
    fake.store.get('Lnl_Cardholder')!.delete(first.items[0].id);
    const ids = first.items.map((a) => a.id);
    let cursor = first.next;
    let pages = 1;
    while (cursor !== null) {
      const page = await driver.listAccounts(cursor);
      ids.push(...page.items.map((a) => a.id));
      cursor = page.next;
      pages++;
    }
    expect(pages).toBe(3);
    expect(new Set(ids).size).toBe(8);
    expect((await failure(driver.listAccounts('x'))).code).toBe('validation');
  });

  it('finds an externalId with quotes and backslashes exactly, in the configured property', async () => {
    const { driver } = await start();
    const odd = 'a "quoted" \\ id';
    const a = await driver.upsertAccount({ externalId: odd, displayName: 'Odd Id' });
    await driver.upsertAccount({ externalId: 'a', displayName: 'Plain' });
    expect((await driver.findAccount(odd))?.id).toBe(a.id);
    expect(quote(odd)).toBe('"a \\"quoted\\" \\\\ id"');
    await h!.teardown();
    const other = await start({ driver: { externalIdProperty: 'email' } });
    const b = await other.driver.upsertAccount({ externalId: 'x@example.com', displayName: 'By Mail' });
    expect(other.fake.cardholders().find((c) => String(c.ID) === b.id)?.EMAIL).toBe('x@example.com');
    expect((await other.driver.findAccount('x@example.com'))?.externalId).toBe('x@example.com');
  });

  it('reads property names in whatever case OpenAccess spells them', async () => {
    const { driver, fake } = await start({ fake: { responseKeyCase: 'lower' } });
    const a = await driver.upsertAccount({ externalId: 'K-1', displayName: 'Kay Case', firstName: 'Kay', lastName: 'Case' });
    fake.issueBadge(Number(a.id));
    await driver.grant(a.id, '1', { from: null, until: '2030-01-01T00:00:00.000Z' });
    expect(await driver.findAccount('K-1')).toMatchObject({
      id: a.id,
      externalId: 'K-1',
      displayName: 'Kay Case',
      memberships: [{ group: '1', from: null, until: '2030-01-01T00:00:00.000Z' }],
    });
    expect((await driver.listAccessGroups()).map((g) => g.name)).toContain('Server room');
  });

  it('refuses to pick between two cardholders with the same externalId', async () => {
    const { driver, fake } = await start();
    fake.addCardholder({ LASTNAME: 'Twin', SSNO: 'dup' });
    fake.addCardholder({ LASTNAME: 'Twin', SSNO: 'dup' });
    const e = await failure(driver.findAccount('dup'));
    expect(e.code).toBe('conflict');
  });

  it('writes first and last name when they spell the displayName, the whole name as LASTNAME otherwise', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'N-1', displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' });
    expect(fake.cardholders().find((c) => String(c.ID) === a.id)).toMatchObject({ FIRSTNAME: 'Ada', LASTNAME: 'Lovelace', SSNO: 'N-1' });
    await driver.upsertAccount({ externalId: 'N-1', displayName: 'Countess of Lovelace' });
    expect(fake.cardholders().find((c) => String(c.ID) === a.id)).toMatchObject({ FIRSTNAME: null, LASTNAME: 'Countess of Lovelace' });
    expect(namesFor({ displayName: 'Grace Hopper', firstName: 'Grace', lastName: 'Hopper' })).toEqual({ firstName: 'Grace', lastName: 'Hopper' });
  });
});

describe('Lenel driver: sessions and errors', () => {
  it('logs in again once when the session has expired', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    fake.expireSessions();
    expect((await driver.listAccessGroups()).map((g) => g.ref)).toEqual(['1', '2', '3']);
    const logins = fake.exchanges.filter((x) => x.method === 'POST' && x.specPath === '/authentication' && x.status === 200);
    expect(logins).toHaveLength(2);
  });

  it('reports auth, not retryable, when the new login is refused too', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    fake.user.password = 'rotated';
    fake.expireSessions();
    const e = await failure(driver.listAccessGroups());
    expect(e.code).toBe('auth');
    expect(e.retryable).toBe(false);
    expect(e.message).not.toContain('secret');
  });

  it('reports an application ID the system does not know as auth', async () => {
    const { fake } = await start();
    const d = await createLenelDriver({ system: 'x', options: { url: fake.url, applicationId: 'WRONG', userName: 'lockstep', password: 'secret' } });
    try {
      expect((await failure(d.listAccessGroups())).code).toBe('auth');
    } finally {
      await d.close();
    }
  });

  it('reports a refused property as validation, not retryable', async () => {
    const { driver } = await start();
    const e = await failure(driver.upsertAccount({ externalId: 'E-1', displayName: 'x'.repeat(65) }));
    expect(e.code).toBe('validation');
    expect(e.retryable).toBe(false);
  });

  it('surfaces a long Retry-After as rate_limited with its delay, and an outage as unavailable', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    fake.failNext(429, { retryAfterSeconds: 120 });
    const e = await failure(driver.listAccessGroups());
    expect(e).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterMs: 120_000 });
    fake.failNext(503, { times: 3 });
    const u = await failure(driver.listAccessGroups());
    expect(u).toMatchObject({ code: 'unavailable', retryable: true });
  });

  it('logs out on close', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    expect(fake.sessions.size).toBe(1);
    await driver.close();
    expect(fake.sessions.size).toBe(0);
  });

  it('refuses incomplete options with the field named', async () => {
    const base = { url: 'https://onguard.example.com/api/access/onguard/openaccess', userName: 'lockstep' };
    const e1 = await failure(createLenelDriver({ system: 'og', options: { ...base, password: 'x' } }, {}));
    expect(e1).toMatchObject({ code: 'config', field: 'systems.og.options.applicationId' });
    const e2 = await failure(createLenelDriver({ system: 'og', options: { ...base, applicationId: 'A' } }, {}));
    expect(e2).toMatchObject({ code: 'config', field: 'systems.og.options.password' });
    const e3 = await failure(createLenelDriver({ system: 'og', options: { ...base, applicationId: 'A', password: 'x', pageSize: 500 } }, {}));
    expect(e3).toMatchObject({ code: 'config', field: 'systems.og.options.pageSize' });
    const dir = await mkdtemp(join(tmpdir(), 'lenel-'));
    try {
      await writeFile(join(dir, 'pw'), 'from-file\n');
      const d = await createLenelDriver({ system: 'og', options: { ...base, passwordFile: join(dir, 'pw') } }, { LENEL_APPLICATION_ID: 'APP' });
      await d.close();
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('Lenel driver: access events from logged events', () => {
  it('starts after the newest logged event, then reads each access once, in order, with badge and reader', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'L-1', displayName: 'Log One' });
    const b = fake.issueBadge(Number(a.id));
    fake.recordAccess({ badgeKey: b.BADGEKEY as number, at: new Date('2030-01-01T00:00:00Z') });
    const start0 = await driver.readAccessEvents(null);
    expect(start0.events).toEqual([]);
    fake.recordAccess({ badgeKey: b.BADGEKEY as number, at: new Date('2030-01-01T00:00:05Z') });
    fake.recordAlarm(new Date('2030-01-01T00:00:06Z'));
    fake.recordAccess({ badgeKey: b.BADGEKEY as number, granted: false, at: new Date('2030-01-01T00:00:07Z'), deviceId: 9 });
    const r = await driver.readAccessEvents(start0.cursor);
    expect(r.events.map((e) => ({ at: e.at, granted: e.granted, door: e.door, accountId: e.accountId, credentialId: e.credentialId }))).toEqual([
      { at: '2030-01-01T00:00:05.000Z', granted: true, door: 'Front door reader', accountId: a.id, credentialId: String(b.BADGEKEY) },
      { at: '2030-01-01T00:00:07.000Z', granted: false, door: 'Reader 9', accountId: a.id, credentialId: String(b.BADGEKEY) },
    ]);
    expect((await driver.readAccessEvents(r.cursor)).events).toEqual([]);
    // The cursor is a value: reading from the earlier one again gives the same events.
    expect((await driver.readAccessEvents(start0.cursor)).events.map((e) => e.id)).toEqual(r.events.map((e) => e.id));
  });

  it('misses none of many events logged in the same second, across pages and calls', async () => {
    const { driver, fake } = await start({ driver: { eventsPageSize: 2, eventsMaxPages: 1 } });
    const a = await driver.upsertAccount({ externalId: 'L-2', displayName: 'Log Two' });
    const b = fake.issueBadge(Number(a.id));
    let cursor = (await driver.readAccessEvents(null)).cursor;
    const at = new Date('2031-05-05T05:05:05Z');
    for (let i = 0; i < 5; i++) fake.recordAccess({ badgeKey: b.BADGEKEY as number, at });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await driver.readAccessEvents(cursor);
      ids.push(...r.events.map((e) => e.id));
      cursor = r.cursor;
    }
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
  });

  it('refuses a cursor it did not make', async () => {
    const { driver } = await start();
    expect((await failure(driver.readAccessEvents('garbage'))).code).toBe('validation');
  });

  it('reads OnGuard dates with offsets as instants', () => {
    expect(fromOnGuardDate('2030-01-01T01:00:00+01:00')).toBe('2030-01-01T00:00:00.000Z');
    expect(fromOnGuardDate(null)).toBeNull();
    expect(fromOnGuardDate('')).toBeNull();
  });
});

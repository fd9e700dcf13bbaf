import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { createOpenpathDriver, namesFor } from './driver.js';
import { startOpenpathHarness, type OpenpathHarness } from './harness.js';

/** Behaviour of the Openpath driver beyond the conformance kit, against the fake over loopback HTTP. */

let h: OpenpathHarness | undefined;
afterEach(async () => {
  await h?.teardown();
  h = undefined;
});

const start = async (o: Parameters<typeof startOpenpathHarness>[0] = {}) => (h = await startOpenpathHarness(o));
const userOf = (id: string) => h!.fake.users.get(Number(id))!;

describe('Openpath driver: validity on the user', () => {
  it('sets the dates to the window of the only group, and changes them with it', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-1', displayName: 'Val One', email: 'v1@example.com' });
    await driver.grant(a.id, '101', { from: '2020-01-01T00:00:00.000Z', until: '2030-06-30T00:00:00.000Z' });
    expect(userOf(a.id).startDate).toBe('2020-01-01T00:00:00.000Z');
    expect(userOf(a.id).endDate).toBe('2030-06-30T00:00:00.000Z');
    await driver.grant(a.id, '101', { from: null, until: '2029-01-01T00:00:00.000Z' });
    const after = await driver.getAccount(a.id);
    expect(after?.validity).toEqual({ from: null, until: '2029-01-01T00:00:00.000Z' });
    expect(after?.memberships).toEqual([{ group: '101', from: null, until: null }]);
  });

  it('only widens the dates while the user holds other groups, so no group is cut short', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-2', displayName: 'Val Two', email: 'v2@example.com' });
    await driver.grant(a.id, '101', { from: '2020-01-01T00:00:00.000Z', until: '2030-12-31T00:00:00.000Z' });
    // A shorter window for a second group leaves the longer one in place.
    await driver.grant(a.id, '102', { from: '2021-01-01T00:00:00.000Z', until: '2030-01-31T00:00:00.000Z' });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: '2020-01-01T00:00:00.000Z', until: '2030-12-31T00:00:00.000Z' });
    // A longer or open one widens them.
    await driver.grant(a.id, '102', { from: '2019-06-01T00:00:00.000Z', until: null });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: '2019-06-01T00:00:00.000Z', until: null });
    expect(userOf(a.id).groupIds).toEqual(new Set([101, 102]));
  });

  it("ends, after the engine's sequence of operations, at the hull the engine set on create", async () => {
    // What reconcile sends for a joiner entitled to an open-ended group and a group ending 2030-06-10:
    // create_account with the account window (the latest end: open), then one grant per group.
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-6', displayName: 'Val Six', email: 'v6@example.com', validity: { from: null, until: null } });
    await driver.grant(a.id, '102', { from: '2026-06-01T00:00:00.000Z', until: '2030-06-10T00:00:00.000Z' });
    await driver.grant(a.id, '101', { from: null, until: null });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: null, until: null });
    // update_account moving the account's end (the open-ended group was revoked)
    await driver.revoke(a.id, '101');
    await driver.upsertAccount({ externalId: 'V-6', displayName: 'Val Six', validity: { from: null, until: '2030-06-10T00:00:00.000Z' } });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: null, until: '2030-06-10T00:00:00.000Z' });
  });

  it('writes the configured time zone with the dates', async () => {
    const { driver } = await start({ driver: { timeZone: 'Europe/Berlin' } });
    const a = await driver.upsertAccount({ externalId: 'V-3', displayName: 'Val Three', email: 'v3@example.com' });
    await driver.grant(a.id, '101', { from: null, until: '2030-01-01T00:00:00.000Z' });
    expect(userOf(a.id).startAndEndDateTimeZoneId).toBe('Europe/Berlin');
  });

  it('revokes with groupIds remove, and sends nothing for a group not held', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-4', displayName: 'Val Four', email: 'v4@example.com' });
    await driver.grant(a.id, '101', { from: null, until: null });
    const before = fake.requests.length;
    await driver.revoke(a.id, '102');
    expect(fake.requests.slice(before).filter((r) => !r.startsWith('GET'))).toEqual([]);
    await driver.revoke(a.id, '101');
    expect(fake.requests.slice(before)).toContain(`PATCH /orgs/${fake.orgId}/users/${a.id}/groupIds`);
    expect(userOf(a.id).groupIds.size).toBe(0);
    await expect(driver.revoke('999999', '101')).resolves.toBeUndefined();
  });

  it('refuses a group reference that is not an Openpath group id', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'V-5', displayName: 'Val Five', email: 'v5@example.com' });
    await expect(driver.grant(a.id, 'Server room', { from: null, until: null })).rejects.toMatchObject({ code: 'config' });
    await expect(driver.grant(a.id, '999', { from: null, until: null })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('Openpath driver: accounts', () => {
  it('writes first and last name when they spell the displayName, else the displayName as last name', async () => {
    expect(namesFor({ displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' })).toEqual({ firstName: 'Ada', lastName: 'Lovelace' });
    expect(namesFor({ displayName: 'Dr. Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' })).toEqual({ firstName: null, lastName: 'Dr. Ada Lovelace' });
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'N-1', displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com' });
    expect(userOf(a.id)).toMatchObject({ firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', externalId: 'N-1' });
    const b = await driver.upsertAccount({ externalId: 'N-1', displayName: 'Countess Lovelace' });
    expect(b.id).toBe(a.id);
    expect(userOf(a.id)).toMatchObject({ firstName: null, lastName: 'Countess Lovelace', email: 'ada@example.com' });
    expect(b.displayName).toBe('Countess Lovelace');
  });

  it('makes a placeholder email only when configured, and refuses otherwise', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'emp 42/x', displayName: 'No Mail' });
    expect(userOf(a.id).email).toMatch(/^lockstep-emp-42-x-[0-9a-f]{8}@badges\.example\.com$/);
    const strict = await createOpenpathDriver({ system: 's', options: { url: fake.url, orgId: fake.orgId, token: fake.token } });
    try {
      const err = await strict.upsertAccount({ externalId: 'E-9', displayName: 'No Mail Either' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockstepError);
      expect((err as LockstepError).code).toBe('validation');
      expect((err as LockstepError).message).toMatch(/placeholderEmailDomain/);
    } finally {
      await strict.close();
    }
  });

  it('finds by exact externalId although the API filter matches substrings', async () => {
    const { driver, fake } = await start();
    const e10 = fake.addUser({ externalId: 'E10', lastName: 'Ten' });
    const e1 = fake.addUser({ externalId: 'E1', lastName: 'One' });
    fake.addUser({ externalId: 'e1', lastName: 'Lower' });
    expect((await driver.findAccount('E1'))?.id).toBe(String(e1.id));
    expect((await driver.findAccount('E10'))?.id).toBe(String(e10.id));
    expect(await driver.findAccount('E')).toBeNull();
    expect(fake.requests).toContain(`GET /orgs/${fake.orgId}/users?limit=1000&offset=0&sort=id&order=asc&filter=externalId%3A%28E1%29`);
  });

  it('finds an externalId the filter syntax cannot carry by reading all users', async () => {
    const { driver, fake } = await start();
    const u = fake.addUser({ externalId: 'Smith, J. (contractor)', lastName: 'Smith' });
    fake.seedUsers(3);
    const before = fake.requests.length;
    expect((await driver.findAccount('Smith, J. (contractor)'))?.id).toBe(String(u.id));
    expect(fake.requests.slice(before).some((r) => r.includes('filter='))).toBe(false);
  });

  it('reports two users with one externalId as a conflict', async () => {
    const { driver, fake } = await start();
    fake.addUser({ externalId: 'DUP' });
    fake.addUser({ externalId: 'DUP' });
    await expect(driver.findAccount('DUP')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('suspends with the user status and reads an inactive user as suspended', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'S-1', displayName: 'Sus Pend', email: 'sp@example.com' });
    await driver.setAccountState(a.id, 'suspended');
    expect(userOf(a.id).status).toBe('S');
    await driver.setAccountState(a.id, 'active');
    expect(userOf(a.id).status).toBe('A');
    userOf(a.id).status = 'I';
    expect((await driver.getAccount(a.id))?.state).toBe('suspended');
    await expect(driver.setAccountState('999999', 'suspended')).rejects.toMatchObject({ code: 'not_found' });
    expect(fake.requests).toContain(`PUT /orgs/${fake.orgId}/users/${a.id}/status`);
  });
});

describe('Openpath driver: credentials', () => {
  it('maps states onto endDate and isLost, and deletes what cannot be marked', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'C-1', displayName: 'Card Holder', email: 'ch@example.com' });
    const desfire = fake.issueCredential(Number(a.id), 'cardOpenpathDesfireEv1');
    const wiegand = fake.issueCredential(Number(a.id), 'card');
    const pin = fake.issueCredential(Number(a.id), 'pincode');
    const status = async (id: number) => (await driver.getAccount(a.id))?.credentials.find((c) => c.id === String(id));

    expect(await status(desfire.id)).toMatchObject({ type: 'card', status: 'active', number: desfire.number });
    expect((await status(pin.id))?.type).toBe('pin');
    await driver.setCredentialState(a.id, String(desfire.id), 'suspended');
    expect(desfire.endDate).not.toBeNull();
    expect((await status(desfire.id))?.status).toBe('suspended');
    await driver.setCredentialState(a.id, String(desfire.id), 'lost');
    expect(desfire.isLost).toBe(true);
    expect((await status(desfire.id))?.status).toBe('lost');
    await driver.setCredentialState(a.id, String(desfire.id), 'active');
    expect(desfire).toMatchObject({ isLost: false, endDate: null });
    expect((await status(desfire.id))?.status).toBe('active');

    // A Wiegand card has no isLost: lost deletes it, as revoked does.
    await driver.setCredentialState(a.id, String(wiegand.id), 'lost');
    expect(fake.credentials.has(wiegand.id)).toBe(false);
    await driver.setCredentialState(a.id, String(pin.id), 'revoked');
    expect(fake.credentials.has(pin.id)).toBe(false);
    await expect(driver.setCredentialState(a.id, String(pin.id), 'revoked')).resolves.toBeUndefined();
    await expect(driver.setCredentialState(a.id, String(pin.id), 'suspended')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('leaves a future end date alone when activating', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'C-2', displayName: 'Future End', email: 'fe@example.com' });
    const c = h!.fake.issueCredential(Number(a.id), 'card');
    c.endDate = '2099-01-01T00:00:00.000Z';
    const before = h!.fake.requests.length;
    await driver.setCredentialState(a.id, String(c.id), 'active');
    expect(c.endDate).toBe('2099-01-01T00:00:00.000Z');
    expect(h!.fake.requests.slice(before).filter((r) => r.startsWith('PATCH'))).toEqual([]);
  });
});

describe('Openpath driver: access events', () => {
  it('pages one time-window query through the API cursor, each event once', async () => {
    const { driver, fake } = await start({ driver: { eventsLimit: 1 } });
    const a = await driver.upsertAccount({ externalId: 'EV-1', displayName: 'Event One', email: 'ev1@example.com' });
    const card = fake.issueCredential(Number(a.id), 'card');
    let cursor = (await driver.readAccessEvents(null)).cursor;
    const t = Date.now();
    fake.recordAccess({ userId: Number(a.id), credentialId: card.id, at: new Date(t) });
    fake.recordAccess({ userId: Number(a.id), credentialId: card.id, granted: false, at: new Date(t + 1) });
    fake.recordAccess({ userId: Number(a.id), credentialId: card.id, at: new Date(t + 2) });
    const got: Array<{ granted: boolean; at: string; credentialId: string | null; door: string | null }> = [];
    for (let i = 0; i < 6; i++) {
      const r = await driver.readAccessEvents(cursor);
      got.push(...r.events);
      cursor = r.cursor;
    }
    // Across the API's pages the order is the API's (newest first here); within a page, oldest first.
    expect(got.map((e) => e.granted).sort()).toEqual([false, true, true]);
    expect(got.every((e) => e.credentialId === String(card.id) && e.door === 'Front door')).toBe(true);
    expect(got.map((e) => Date.parse(e.at)).sort()).toEqual([t, t + 1, t + 2]);
    const filters = fake.requests.filter((r) => r.includes('/reports/activity/events')).map((r) => new URL(r.split(' ')[1], 'http://x').searchParams);
    expect(filters.some((q) => q.get('cursor'))).toBe(true);
    // Within one query the filter stays the same, as the document requires.
    const withCursor = filters.filter((q) => q.get('cursor'));
    for (const q of withCursor) expect(filters.filter((p) => p.get('filter') === q.get('filter')).length).toBeGreaterThan(1);
  });

  it('overlaps windows by a second without delivering an event twice, and catches late ones in that second', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'EV-2', displayName: 'Event Two', email: 'ev2@example.com' });
    let cursor = (await driver.readAccessEvents(null)).cursor;
    fake.recordAccess({ userId: Number(a.id) });
    const first = await driver.readAccessEvents(cursor);
    expect(first.events).toHaveLength(1);
    cursor = first.cursor;
    const again = await driver.readAccessEvents(cursor);
    expect(again.events).toHaveLength(0);
    // An event stamped in the second just read, arriving afterwards, is still delivered once.
    fake.recordAccess({ userId: Number(a.id), at: new Date(Date.parse(first.events[0].at)) });
    const late = await driver.readAccessEvents(again.cursor);
    expect(late.events).toHaveLength(1);
    expect(late.events[0].id).not.toBe(first.events[0].id);
  });

  it('reads the window again when the API refuses an expired cursor, instead of getting stuck', async () => {
    const { driver, fake } = await start({ driver: { eventsLimit: 1 } });
    const a = await driver.upsertAccount({ externalId: 'EV-3', displayName: 'Event Three', email: 'ev3@example.com' });
    let cursor = (await driver.readAccessEvents(null)).cursor;
    const t = Date.now();
    for (let i = 0; i < 3; i++) fake.recordAccess({ userId: Number(a.id), at: new Date(t + i) });
    const first = await driver.readAccessEvents(cursor);
    expect(first.events).toHaveLength(1);
    fake.expireEventCursors();
    const ids = new Set(first.events.map((e) => e.id));
    cursor = first.cursor;
    for (let i = 0; i < 8; i++) {
      const r = await driver.readAccessEvents(cursor);
      for (const e of r.events) ids.add(e.id);
      cursor = r.cursor;
      if (i === 0) fake.expireEventCursors(false);
    }
    expect(ids.size).toBe(3);
  });

  it('refuses a cursor it did not make', async () => {
    const { driver } = await start();
    await expect(driver.readAccessEvents('bogus')).rejects.toMatchObject({ code: 'validation' });
  });
});

describe('Openpath driver: auth', () => {
  it('sends the token as the Authorization header and reports a refused one as auth', async () => {
    const { fake } = await start();
    const d = await createOpenpathDriver({ system: 's', options: { url: fake.url, orgId: fake.orgId, token: 'wrong' } });
    try {
      await expect(d.listAccessGroups()).rejects.toMatchObject({ code: 'auth' });
    } finally {
      await d.close();
    }
    const other = await createOpenpathDriver({ system: 's', options: { url: fake.url, orgId: fake.orgId + 1, token: fake.token } });
    try {
      await expect(other.listAccessGroups()).rejects.toMatchObject({ code: 'auth', status: 403 });
    } finally {
      await other.close();
    }
  });

  it('takes the token from OPENPATH_TOKEN, and says what is missing without one', async () => {
    const { fake } = await start();
    const d = await createOpenpathDriver({ system: 's', options: { url: fake.url, orgId: fake.orgId } }, { OPENPATH_TOKEN: fake.token });
    try {
      expect((await d.listAccessGroups()).length).toBe(3);
    } finally {
      await d.close();
    }
    await expect(createOpenpathDriver({ system: 's', options: { url: fake.url, orgId: fake.orgId } }, {})).rejects.toMatchObject({ code: 'config' });
    await expect(createOpenpathDriver({ system: 's', options: { orgId: 'x' } }, {})).rejects.toMatchObject({
      code: 'config',
      field: 'systems.s.options.orgId',
    });
  });

  it('logs in with an API user and logs in again when the token is refused', async () => {
    const { driver, fake } = await start({
      fake: { login: { email: 'api@example.com', password: 'pw' } },
      driver: { token: undefined, login: { email: 'api@example.com', password: 'pw' } },
    });
    await driver.listAccessGroups();
    fake.rotateToken();
    await driver.listAccessGroups();
    expect(fake.requests.filter((r) => r === 'POST /auth/login')).toHaveLength(2);
  });

  it('never puts the token in errors or retry logs', async () => {
    const { fake } = await start();
    const logs: string[] = [];
    const logger = {
      info: (o: object, m?: string) => logs.push(JSON.stringify(o) + m),
      warn: (o: object, m?: string) => logs.push(JSON.stringify(o) + m),
      error: (o: object, m?: string) => logs.push(JSON.stringify(o) + m),
    };
    const d = await createOpenpathDriver({ system: 's', logger, options: { url: fake.url, orgId: fake.orgId, token: fake.token, maxAttempts: 2 } });
    try {
      fake.failNext(503, { times: 5 });
      const err = (await d.listAccessGroups().catch((e: unknown) => e)) as LockstepError;
      expect(err.code).toBe('unavailable');
      expect(logs.length).toBeGreaterThan(0);
      const text = [err.message, JSON.stringify(err.details), ...logs].join('\n');
      expect(text).not.toContain(fake.token);
    } finally {
      await d.close();
    }
  });
});

describe('Openpath driver: names read back as written', () => {
  it('clears a middle name set in the portal, so displayName matches after one update', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'M-1', displayName: 'Grace Hopper', firstName: 'Grace', lastName: 'Hopper', email: 'gh@example.com' });
    userOf(a.id).middleName = 'Brewster';
    expect((await driver.getAccount(a.id))?.displayName).toBe('Grace Brewster Hopper');
    const b = await driver.upsertAccount({ externalId: 'M-1', displayName: 'Grace Hopper', firstName: 'Grace', lastName: 'Hopper' });
    expect(b.displayName).toBe('Grace Hopper');
    expect(userOf(a.id).middleName).toBeNull();
  });
});

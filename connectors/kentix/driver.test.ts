import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { createKentixDriver } from './driver.js';
import { startKentixHarness, type KentixHarness } from './harness.js';

/** Behaviour of the Kentix driver beyond the conformance kit, against the fake over loopback HTTP. */

let h: KentixHarness | undefined;
afterEach(async () => {
  await h?.teardown();
  h = undefined;
});

const start = async (o: Parameters<typeof startKentixHarness>[0] = {}) => (h = await startKentixHarness(o));
const userOf = (id: string) => h!.fake.users.get(Number(id))!;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const failure = async (p: Promise<unknown>): Promise<LockstepError> => {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(LockstepError);
  return e as LockstepError;
};

describe('Kentix driver: accounts and the user they link to', () => {
  it("creates a guest user in the configured group with the identity's externalId as username, and updates the same one", async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({
      externalId: 'E100',
      displayName: 'Ada Lovelace',
      email: 'ada@example.com',
      validity: { from: null, until: '2031-03-31T00:00:00.000Z' },
    });
    expect(userOf(a.id)).toMatchObject({
      username: 'E100',
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      accountType: 'guest',
      usergroupId: 2,
      isActive: true,
      accessProfiles: [],
    });
    expect(iso(userOf(a.id).deactivateFrom)).toBe('2031-03-31T00:00:00.000Z');
    expect(a.validity).toEqual({ from: null, until: '2031-03-31T00:00:00.000Z' });
    // an administrator made the user standard in KentixONE: lockstep leaves type and group alone
    userOf(a.id).accountType = 'standard';
    const b = await driver.upsertAccount({ externalId: 'E100', displayName: 'Ada King', validity: { from: null, until: null } });
    expect(b.id).toBe(a.id);
    expect(userOf(a.id)).toMatchObject({ name: 'Ada King', accountType: 'standard', deactivateFrom: null });
  });

  it('never lists, finds, changes or deletes the SmartAPI user it signs in as', async () => {
    const { driver, fake } = await start();
    const self = String(fake.apiUserId);
    const listed = await driver.listAccounts(null);
    expect(listed.items.map((a) => a.id)).not.toContain(self);
    expect(await driver.findAccount('lockstep-api')).toBeNull();
    expect(await driver.getAccount(self)).toBeNull();
    expect((await failure(driver.upsertAccount({ externalId: 'lockstep-api', displayName: 'X' }))).code).toBe('conflict');
    expect((await failure(driver.setAccountState(self, 'suspended'))).code).toBe('not_found');
    expect((await failure(driver.grant(self, '1', { from: null, until: null }))).code).toBe('not_found');
    await driver.deleteAccount(self).catch(() => undefined);
    expect(fake.users.get(fake.apiUserId)).toMatchObject({ isActive: true });
  });

  it('finds a user created in KentixONE by its exact username, across pages', async () => {
    const { driver, fake } = await start({ driver: { pageSize: 10 } });
    fake.seedUsers(35);
    const e1 = fake.addUser({ username: 'E1' });
    fake.addUser({ username: 'E10' });
    fake.addUser({ username: 'e1' });
    expect((await driver.findAccount('E1'))?.id).toBe(String(e1.id));
    expect(await driver.findAccount('E')).toBeNull();
    // a remembered id whose user was renamed is not trusted
    e1.username = 'E1-old';
    expect(await driver.findAccount('E1')).toBeNull();
  });

  it('suspends with is_active and deletes idempotently', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'S1', displayName: 'Sus Pended' });
    await driver.setAccountState(a.id, 'suspended');
    expect(userOf(a.id).isActive).toBe(false);
    expect((await driver.getAccount(a.id))?.state).toBe('suspended');
    await driver.deleteAccount(a.id);
    await driver.deleteAccount(a.id);
    expect(await driver.getAccount(a.id)).toBeNull();
  });
});

describe('Kentix driver: access profiles and validity on the user', () => {
  it('sets the dates to the window of the only profile, and only widens them while the user holds others', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'V1', displayName: 'Val One' });
    await driver.grant(a.id, '1', { from: '2020-01-01T00:00:00.000Z', until: '2030-12-31T00:00:00.000Z' });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: '2020-01-01T00:00:00.000Z', until: '2030-12-31T00:00:00.000Z' });
    await driver.grant(a.id, '2', { from: '2021-01-01T00:00:00.000Z', until: '2030-01-31T00:00:00.000Z' });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: '2020-01-01T00:00:00.000Z', until: '2030-12-31T00:00:00.000Z' });
    await driver.grant(a.id, '2', { from: null, until: null });
    expect((await driver.getAccount(a.id))?.validity).toEqual({ from: null, until: null });
    expect(userOf(a.id).accessProfiles).toEqual([1, 2]);
    expect((await driver.getAccount(a.id))?.memberships).toEqual([
      { group: '1', from: null, until: null },
      { group: '2', from: null, until: null },
    ]);
  });

  it('revokes by writing the profile list without it, and writes nothing for a profile not held', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'R1', displayName: 'Rev One' });
    userOf(a.id).accessProfiles = [3, 1];
    const before = fake.requests.length;
    await driver.revoke(a.id, '2');
    expect(fake.requests.slice(before).filter((r) => !r.startsWith('GET'))).toEqual([]);
    await driver.revoke(a.id, '3');
    expect(userOf(a.id).accessProfiles).toEqual([1]);
    await expect(driver.revoke('999999', '1')).resolves.toBeUndefined();
    expect((await failure(driver.grant(a.id, 'Server room', { from: null, until: null }))).code).toBe('config');
    expect((await failure(driver.grant(a.id, '99', { from: null, until: null }))).code).toBe('validation');
  });

  it('lands grants of several profiles to one user made at the same time (whole-list writes are serialised)', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'C1', displayName: 'Con Current' });
    await Promise.all(['1', '2', '3'].map((g) => driver.grant(a.id, g, { from: null, until: null })));
    expect([...userOf(a.id).accessProfiles].sort()).toEqual([1, 2, 3]);
    await Promise.all(['1', '3'].map((g) => driver.revoke(a.id, g)));
    expect(userOf(a.id).accessProfiles).toEqual([2]);
  });

  it('lists the access profiles by id and name', async () => {
    const { driver } = await start();
    expect(await driver.listAccessGroups()).toEqual([
      { ref: '1', name: 'Staff entrance' },
      { ref: '2', name: 'Server room' },
      { ref: '3', name: 'Logistics' },
    ]);
  });
});

describe('Kentix driver: RFID tokens and PINs', () => {
  it('reports the token by UID and the PIN without its digits, and clears either when lost or revoked', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K1', displayName: 'Key Holder' });
    const uid = fake.issueRfid(Number(a.id), '04AABBCCDD');
    fake.setPin(Number(a.id), '246810');
    const creds = (await driver.getAccount(a.id))!.credentials;
    expect(creds).toEqual([
      { id: 'rfid-04AABBCCDD', type: 'card', number: uid, status: 'active', lastUsedAt: null },
      { id: `pin-${a.id}`, type: 'pin', status: 'active', lastUsedAt: null },
    ]);
    expect(JSON.stringify(creds)).not.toContain('246810');
    await driver.setCredentialState(a.id, 'rfid-04AABBCCDD', 'lost');
    expect(userOf(a.id).rfid).toBeNull();
    await driver.setCredentialState(a.id, 'rfid-04AABBCCDD', 'revoked');
    await driver.setCredentialState(a.id, `pin-${a.id}`, 'revoked');
    expect(userOf(a.id).pin).toBeNull();
    expect((await driver.getAccount(a.id))!.credentials).toEqual([]);
  });

  it('refuses what the API cannot express: suspending a token, restoring a cleared one', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K2', displayName: 'Key Two' });
    fake.issueRfid(Number(a.id), '04EEFF0011');
    expect((await failure(driver.setCredentialState(a.id, 'rfid-04EEFF0011', 'suspended'))).code).toBe('precondition');
    expect(userOf(a.id).rfid).toBe('04EEFF0011');
    await driver.setCredentialState(a.id, 'rfid-04EEFF0011', 'active');
    await driver.setCredentialState(a.id, 'rfid-04EEFF0011', 'lost');
    expect((await failure(driver.setCredentialState(a.id, 'rfid-04EEFF0011', 'active'))).code).toBe('precondition');
    expect((await failure(driver.setCredentialState(a.id, 'card-1', 'lost'))).code).toBe('not_found');
    // a token replaced by another one is not the lost one: the new token stays
    fake.issueRfid(Number(a.id), '04FFFFFFFF');
    await driver.setCredentialState(a.id, 'rfid-04EEFF0011', 'lost');
    expect(userOf(a.id).rfid).toBe('04FFFFFFFF');
  });
});

describe('Kentix driver: access events', () => {
  it('starts from now, then returns new bookings once, oldest first, across pages, with token, PIN and door', async () => {
    const { driver, fake } = await start({ driver: { eventsPageSize: 3 } });
    const a = await driver.upsertAccount({ externalId: 'EV1', displayName: 'Eve Vent' });
    const uid = fake.issueRfid(Number(a.id), '04ABCDEF12');
    fake.recordAccess({ userId: Number(a.id), granted: true }); // before the first read: not returned
    let r = await driver.readAccessEvents(null);
    expect(r.events).toEqual([]);
    for (let i = 0; i < 7; i++) fake.recordAccess({ userId: Number(a.id), medium: 'rfid', doorlockId: 2, granted: i % 2 === 0 });
    fake.setPin(Number(a.id), '135790');
    fake.recordAccess({ userId: Number(a.id), medium: 'pin', doorlockId: 3, granted: true });
    r = await driver.readAccessEvents(r.cursor);
    expect(r.events).toHaveLength(8);
    expect(r.events.map((e) => Number(e.id))).toEqual([...r.events.map((e) => Number(e.id))].sort((x, y) => x - y));
    expect(r.events[0]).toMatchObject({ accountId: a.id, credentialId: `rfid-${uid}`, door: 'Server room', granted: true });
    expect(r.events[1].granted).toBe(false);
    expect(r.events[7]).toMatchObject({ credentialId: `pin-${a.id}`, door: 'Loading dock' });
    expect((await driver.readAccessEvents(r.cursor)).events).toEqual([]);
    await expect(driver.readAccessEvents('not-a-cursor')).rejects.toMatchObject({ code: 'validation' });
  });
});

describe('Kentix driver: errors', () => {
  it('fails a refused api_token with auth, says it cannot be renewed, and never shows the token', async () => {
    const { driver, fake } = await start();
    const old = fake.token;
    fake.rotateToken();
    const e = await failure(driver.listAccounts(null));
    expect(e.code).toBe('auth');
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/Kentix SmartAPI \(kentix-test\) GET \/api\/users: 401/);
    expect(e.message).toMatch(/Unauthenticated\./);
    expect(e.message).toMatch(/cannot be renewed/);
    expect(e.message).not.toContain(old);
    expect(JSON.stringify(e.details)).not.toContain(old);
  });

  it('fails a call its user group may not make with auth naming the API user', async () => {
    const { driver, fake } = await start();
    fake.deny('accessprofiles');
    const e = await failure(driver.listAccessGroups());
    expect(e).toMatchObject({ code: 'auth', status: 403 });
    expect(e.message).toMatch(/This action is unauthorized\..*lockstep-api lacks the permission/);
  });

  it("names the system, the call and the vendor's message for a refused write", async () => {
    const { driver, fake } = await start();
    fake.addUser({ username: 'taken' });
    const a = await driver.upsertAccount({ externalId: 'W1', displayName: 'Wri Te' });
    const e = await failure(driver.upsertAccount({ externalId: 'W2', displayName: 'Bad Mail', email: 'not-an-address' }));
    expect(e.code).toBe('validation');
    expect(e.message).toMatch(/^Kentix SmartAPI \(kentix-test\) POST \/api\/users: 422 .*The email field must be a valid email address\./);
    expect(a.id).toBeTruthy();
  });

  it("waits out a 429's Retry-After, and hands a long one back to the queue as rate_limited", async () => {
    const { driver, fake } = await start({ driver: { maxRetryAfterMs: 2000 } });
    fake.failNext(429, { retryAfterSeconds: 1 });
    const t0 = Date.now();
    await driver.listAccessGroups();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    fake.failNext(429, { retryAfterSeconds: 120 });
    const e = await failure(driver.listAccounts(null));
    expect(e).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterMs: 120_000 });
    fake.failNext(503, { retryAfterSeconds: 1, times: 1 });
    await expect(driver.listAccounts(null)).resolves.toBeTruthy();
  });

  it('reports a redirect (the login page) as a configuration error', async () => {
    const srv = createServer((_req, res) => {
      res.writeHead(302, { location: '/login' });
      res.end();
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const driver = await createKentixDriver({
      system: 'k',
      options: { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, token: 't', apiUser: 'api', userGroupId: 1 },
    });
    try {
      const e = await failure(driver.listAccounts(null));
      expect(e.code).toBe('config');
      expect(e.message).toMatch(/redirected.*login page/);
    } finally {
      await driver.close();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('warns once when KentixONE evaluates access externally, without refusing to work', async () => {
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') };
    const { fake } = await start();
    fake.settings.external_evaluation = true;
    const driver = await createKentixDriver({
      system: 'k',
      logger,
      options: { url: `${fake.url}/api`, token: fake.token, apiUser: 'lockstep-api', userGroupId: 2 },
    });
    try {
      expect(await driver.listAccessGroups()).toHaveLength(3);
      await driver.listAccessGroups();
      expect(warnings.filter((w) => /external/.test(w))).toHaveLength(1);
    } finally {
      await driver.close();
    }
  });

  it('reads the token from KENTIX_API_TOKEN and refuses a configuration without one', async () => {
    const { fake } = await start();
    const options = { url: fake.url, apiUser: 'lockstep-api', userGroupId: 2 };
    const driver = await createKentixDriver({ system: 'k', options }, { KENTIX_API_TOKEN: fake.token });
    try {
      expect(await driver.listAccessGroups()).toHaveLength(3);
    } finally {
      await driver.close();
    }
    await expect(createKentixDriver({ system: 'k', options }, {})).rejects.toMatchObject({ code: 'config', field: 'systems.k.options.token' });
    await expect(createKentixDriver({ system: 'k', options: { ...options, userGroupId: 'x' } }, {})).rejects.toMatchObject({ code: 'config' });
  });
});

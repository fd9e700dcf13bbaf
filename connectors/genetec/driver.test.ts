import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { createGenetecDriver, namesFor } from './driver.js';
import { fakeConnection, startGenetecHarness, type GenetecHarness } from './harness.js';

/** Behaviour of the Genetec driver beyond the conformance kit, against the fake over loopback HTTP. */

let h: GenetecHarness | undefined;
afterEach(async () => {
  await h?.teardown();
  h = undefined;
});

const start = async (o: Parameters<typeof startGenetecHarness>[0] = {}) => (h = await startGenetecHarness(o));
const DAY = 86_400_000;

describe('Genetec driver: accounts', () => {
  it('links the cardholder through the custom field and finds it by exact value only', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'E1', displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com' });
    expect(fake.cardholders.get(a.id)).toMatchObject({ name: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com' });
    expect(fake.customFieldValue(a.id, 'LockstepId')).toBe('E1');
    fake.addCardholder({ name: 'Other', custom: { LockstepId: 'E10' } });
    expect((await driver.findAccount('E1'))?.id).toBe(a.id);
    expect(await driver.findAccount('E')).toBeNull();
    const again = await driver.upsertAccount({ externalId: 'E1', displayName: 'Countess Lovelace' });
    expect(again.id).toBe(a.id);
    expect(fake.cardholders.get(a.id)).toMatchObject({ name: 'Countess Lovelace', firstName: '', lastName: 'Countess Lovelace' });
  });

  it('refuses two cardholders with one externalId as a conflict naming both', async () => {
    const { driver, fake } = await start();
    const x = fake.addCardholder({ name: 'Twin A', custom: { LockstepId: 'T1' } });
    const y = fake.addCardholder({ name: 'Twin B', custom: { LockstepId: 'T1' } });
    const err = (await driver.findAccount('T1').catch((e: unknown) => e)) as LockstepError;
    expect(err).toBeInstanceOf(LockstepError);
    expect(err.code).toBe('conflict');
    expect(err.details).toEqual({ cardholders: expect.arrayContaining([x.guid, y.guid]) });
  });

  it('says which custom field is missing, or makes it when allowed', async () => {
    const { fake } = await start();
    const strict = await createGenetecDriver({ system: 'sc1', options: { ...fakeConnection(fake), externalIdField: 'EmployeeKey' } });
    const err = (await strict.findAccount('E1').catch((e: unknown) => e)) as LockstepError;
    expect(err.code).toBe('config');
    expect(err.message).toMatch(/system sc1.*EmployeeKey.*createExternalIdField/);
    await strict.close();
    const making = await createGenetecDriver({
      system: 'sc1',
      options: { ...fakeConnection(fake), externalIdField: 'EmployeeKey', createExternalIdField: true },
    });
    const a = await making.upsertAccount({ externalId: 'E2', displayName: 'Made Field' });
    expect(fake.customFields.map((f) => f.name)).toContain('EmployeeKey');
    expect(fake.customFieldValue(a.id, 'EmployeeKey')).toBe('E2');
    await making.close();
  });

  it('keeps the account window in Status dates, and a suspended cardholder suspended', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'W1', displayName: 'Win Dow', validity: { from: null, until: '2031-03-31T00:00:00.000Z' } });
    expect(fake.cardholders.get(a.id)?.expiration).toBe('2031-03-31T00:00:00.000Z');
    expect((await driver.getAccount(a.id))?.validity?.until).toBe('2031-03-31T00:00:00.000Z');
    await driver.setAccountState(a.id, 'suspended');
    await driver.upsertAccount({ externalId: 'W1', displayName: 'Win Dow', validity: { from: null, until: '2032-01-31T00:00:00.000Z' } });
    expect(fake.cardholders.get(a.id)).toMatchObject({ deactivated: true, expiration: '2032-01-31T00:00:00.000Z' });
    // reactivation keeps the expiration still to come
    await driver.setAccountState(a.id, 'active');
    expect(fake.cardholders.get(a.id)).toMatchObject({ deactivated: false, expiration: '2032-01-31T00:00:00.000Z' });
    await driver.upsertAccount({ externalId: 'W1', displayName: 'Win Dow', validity: { from: null, until: null } });
    expect(fake.cardholders.get(a.id)?.expiration).toBeNull();
  });

  it('leaves the cardholder dates alone as a validity: none block', async () => {
    const { driver, fake } = await start({ driver: { validity: 'none' } });
    expect(driver.capabilities.validity).toBe('none');
    const a = await driver.upsertAccount({ externalId: 'N1', displayName: 'No Dates', validity: { from: null, until: '2031-03-31T00:00:00.000Z' } });
    expect(fake.cardholders.get(a.id)?.expiration).toBeNull();
    expect((await driver.getAccount(a.id))?.validity).toBeUndefined();
  });

  it('writes first and last name when they spell the displayName', () => {
    expect(namesFor({ displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' })).toEqual({ firstName: 'Ada', lastName: 'Lovelace' });
    expect(namesFor({ displayName: 'Dr. Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' })).toEqual({ firstName: '', lastName: 'Dr. Ada Lovelace' });
  });
});

describe('Genetec driver: access rules and cardholder groups', () => {
  it('adds and removes the cardholder on the access rule, and sends nothing for a rule not held', async () => {
    const { driver, fake, groups } = await start();
    const a = await driver.upsertAccount({ externalId: 'G1', displayName: 'Grant Me' });
    await driver.grant(a.id, groups[0], { from: null, until: null });
    expect(fake.accessRules.get(groups[0])?.cardholders.has(a.id)).toBe(true);
    const before = fake.exchanges.length;
    await driver.grant(a.id, groups[0], { from: null, until: null });
    await driver.revoke(a.id, groups[1]);
    expect(fake.exchanges.slice(before).filter((x) => x.method !== 'GET')).toEqual([]);
    await driver.revoke(a.id, groups[0]);
    expect(fake.accessRules.get(groups[0])?.cardholders.has(a.id)).toBe(false);
    await expect(driver.revoke('6b29fb61-61b6-49b4-917b-78d1c2ae5690', groups[0])).resolves.toBeUndefined();
  });

  it("reports a temporary rule's window on its memberships and lists no system rules", async () => {
    const { driver } = await start({
      fake: {
        accessRules: [
          { name: 'Summer works', guid: '11111111-2222-4333-8444-555555555555', start: '2030-06-01T00:00:00.000Z', end: '2030-09-01T00:00:00.000Z' },
          { name: 'Perimeter' },
        ],
      },
    });
    const listed = await driver.listAccessGroups();
    expect(listed.map((g) => g.name).sort()).toEqual(['Perimeter', 'Summer works']);
    const a = await driver.upsertAccount({ externalId: 'T1', displayName: 'Temp Worker' });
    await driver.grant(a.id, '11111111-2222-4333-8444-555555555555', { from: null, until: null });
    expect((await driver.getAccount(a.id))?.memberships).toEqual([
      { group: '11111111-2222-4333-8444-555555555555', from: '2030-06-01T00:00:00.000Z', until: '2030-09-01T00:00:00.000Z' },
    ]);
  });

  it('refuses a reference that is not a GUID, a denying rule, and a rule that does not exist', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'G2', displayName: 'Wrong Ref' });
    await expect(driver.grant(a.id, 'Server room', { from: null, until: null })).rejects.toMatchObject({ code: 'config' });
    await expect(driver.grant(a.id, '00000000-0000-0000-0000-000000000009', { from: null, until: null })).rejects.toMatchObject({
      code: 'config',
      message: /Lockdown rule/,
    });
    await expect(driver.grant(a.id, '6b29fb61-61b6-49b4-917b-78d1c2ae5690', { from: null, until: null })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('grants through cardholder groups where the site does', async () => {
    const { driver, fake, groups } = await start({ driver: { accessGroups: 'cardholderGroups' } });
    const a = await driver.upsertAccount({ externalId: 'CG1', displayName: 'Group Member' });
    await driver.grant(a.id, groups[1], { from: null, until: null });
    expect(fake.cardholderGroups.get(groups[1])?.members.has(a.id)).toBe(true);
    expect((await driver.getAccount(a.id))?.memberships.map((m) => m.group)).toEqual([groups[1]]);
    await driver.revoke(a.id, groups[1]);
    expect(fake.cardholders.get(a.id)?.groups.size).toBe(0);
  });
});

describe('Genetec driver: credentials, CLIQ keys and events', () => {
  it('marks lost, suspends, reactivates, and revokes by unassigning', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'C1', displayName: 'Card Holder' });
    const card = fake.issueCredential(a.id).guid;
    await driver.setCredentialState(a.id, card, 'lost');
    expect(fake.credentials.get(card)?.lost).toBe(true);
    await driver.setCredentialState(a.id, card, 'active');
    expect((await driver.getAccount(a.id))?.credentials[0]).toMatchObject({ id: card, type: 'card', status: 'active' });
    await driver.setCredentialState(a.id, card, 'revoked');
    expect(fake.credentials.get(card)).toMatchObject({ cardholder: null, deactivated: true });
    expect((await driver.getAccount(a.id))?.credentials).toEqual([]);
    await expect(driver.setCredentialState(a.id, card, 'revoked')).resolves.toBeUndefined();
    await expect(driver.setCredentialState(a.id, card, 'suspended')).rejects.toMatchObject({ code: 'not_found' });
  });

  it("declares CLIQ keys offline and says when each stops opening: the revalidation bound, or the key's own expiration", async () => {
    const { driver, fake } = await start({ driver: { offline: { revalidationDays: 14 } } });
    expect(driver.capabilities.offline).toEqual({ revalidationDays: 14 });
    const a = await driver.upsertAccount({ externalId: 'K1', displayName: 'Key Holder' });
    const key = fake.issueCredential(a.id).guid;
    const soon = new Date(Date.now() + 3 * DAY).toISOString();
    const short = fake.issueCredential(a.id, { expiration: soon }).guid;
    const creds = (await driver.getAccount(a.id))!.credentials;
    const k = creds.find((c) => c.id === key)!;
    expect(k.type).toBe('key');
    expect(Date.parse(k.keyExpiresAt!)).toBeGreaterThan(Date.now() + 13 * DAY);
    expect(Date.parse(k.keyExpiresAt!)).toBeLessThanOrEqual(Date.now() + 14 * DAY);
    expect(creds.find((c) => c.id === short)?.keyExpiresAt).toBe(soon);
    await driver.setCredentialState(a.id, key, 'suspended');
    expect((await driver.getAccount(a.id))!.credentials.find((c) => c.id === key)?.keyExpiresAt).toBeNull();
  });

  it('reads granted accesses once across a window cut short, and takes last use from LastAccessPoint for a single card', async () => {
    const { driver, fake } = await start({ driver: { eventsLimit: 2 } });
    const a = await driver.upsertAccount({ externalId: 'EV1', displayName: 'Event Person' });
    const card = fake.issueCredential(a.id).guid;
    let { cursor } = await driver.readAccessEvents(null);
    const t = Date.now();
    fake.recordAccess({ cardholder: a.id, credential: card, granted: false, at: new Date(t - 2000) });
    for (let i = 0; i < 5; i++) fake.recordAccess({ cardholder: a.id, credential: card, at: new Date(t - 1000 + i) });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await driver.readAccessEvents(cursor);
      ids.push(...r.events.map((e) => e.id));
      cursor = r.cursor;
    }
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
    const account = (await driver.getAccount(a.id))!;
    expect(account.credentials[0]?.lastUsedAt).toBe(new Date(t - 1000 + 4).toISOString());
    // a late event (an offline lock's audit trail) inside the look-back is still read
    fake.recordAccess({ cardholder: a.id, credential: card, at: new Date(Date.now() - 60_000) });
    const late = [];
    for (let i = 0; i < 6; i++) {
      const r = await driver.readAccessEvents(cursor);
      late.push(...r.events);
      cursor = r.cursor;
    }
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ accountId: a.id, credentialId: card, granted: true });
    await expect(driver.readAccessEvents('not-a-cursor')).rejects.toMatchObject({ code: 'validation' });
  });
});

describe('Genetec driver: errors', () => {
  it("turns a Fail into a LockstepError naming the system, the call and the Web SDK's message", async () => {
    const { driver, fake, groups } = await start({ system: 'dc1-genetec' });
    const a = await driver.upsertAccount({ externalId: 'F1', displayName: 'Fail Me' });
    fake.failNextSdk('InsufficientPrivileges', 'The user does not have the privilege to modify access rules');
    const err = (await driver.grant(a.id, groups[0], { from: null, until: null }).catch((e: unknown) => e)) as LockstepError;
    expect(err).toBeInstanceOf(LockstepError);
    expect(err.code).toBe('auth');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/system dc1-genetec/);
    expect(err.message).toMatch(/read cardholder/);
    expect(err.message).toMatch(/InsufficientPrivileges: The user does not have the privilege/);
  });

  it('opens a revoked session again once, and reports refused credentials as auth', async () => {
    const { driver, fake } = await start();
    fake.revokeSession();
    await expect(driver.listAccessGroups()).resolves.not.toEqual([]);
    expect(fake.exchanges.filter((x) => x.status === 401)).toHaveLength(1);
    const wrong = await createGenetecDriver({ system: 'bad', options: { ...fakeConnection(fake), password: 'nope' } });
    const err = (await wrong.listAccessGroups().catch((e: unknown) => e)) as LockstepError;
    expect(err.code).toBe('auth');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/system bad.*Log on using the SDK/);
    await wrong.close();
  });

  it('reports an unreachable server as retryable unavailable, naming the system and the call', async () => {
    const { driver, fake } = await start({ driver: { maxAttempts: 1 } });
    await fake.close();
    const err = (await driver.findAccount('X').catch((e: unknown) => e)) as LockstepError;
    expect(err.code).toBe('unavailable');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/Genetec Security Center \(system genetec-test\): read custom fields/);
    await fake.restart();
  });

  it('refuses options without a password or ApplicationId, naming the field', async () => {
    const { fake } = await start();
    await expect(createGenetecDriver({ system: 's', options: { url: fake.url, username: 'u', applicationId: 'x' } }, {})).rejects.toMatchObject({
      code: 'config',
      field: 'systems.s.options.password',
    });
    await expect(createGenetecDriver({ system: 's', options: { url: fake.url, username: 'u', password: 'p' } }, {})).rejects.toMatchObject({
      code: 'config',
      field: 'systems.s.options.applicationId',
    });
    await expect(createGenetecDriver({ system: 's', options: { url: fake.url, username: 'u;x', password: 'p', applicationId: 'a' } })).rejects.toMatchObject({
      code: 'config',
    });
  });
});

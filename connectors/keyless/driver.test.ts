import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { parseMappings } from '../../src/policy/index.js';
import { runReconcile, type EngineContext } from '../../src/reconcile/index.js';
import { explainIdentity } from '../../src/governance/index.js';
import { markIdentityDeleted, openStore, upsertIdentity, type Db } from '../../src/store/index.js';
import { MEDIA_TYPE, OPEN_FROM, OPEN_UNTIL } from './assumptions.js';
import { createKeylessDriver } from './driver.js';
import { isoDurationDays } from './duration.js';
import { driverOptionsFor, startKeylessHarness, type KeylessHarness } from './harness.js';

/** Behaviour of the Keyless driver beyond the conformance kit, against the fake over loopback HTTP. */

let h: KeylessHarness | undefined;
let db: Db | undefined;
afterEach(async () => {
  await h?.teardown();
  await db?.close();
  h = undefined;
  db = undefined;
});

const start = async (o: Parameters<typeof startKeylessHarness>[0] = {}) => (h = await startKeylessHarness(o));
const DAY = 86_400_000;
const errorOf = async (p: Promise<unknown>): Promise<LockstepError> => {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(LockstepError);
  return e as LockstepError;
};

describe('Keyless driver: access groups are sets of locking devices, granted as permissions', () => {
  it('grants one OPEN permission per device of the group with the window and the key validity, and reads it back as one membership', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K-1', displayName: 'Kim One', email: 'kim@example.com' });
    await driver.grant(a.id, 'entrance', { from: '2026-01-01T00:00:00.000Z', until: '2030-06-30T00:00:00.000Z' });
    const perms = fake.permissionsOf(a.id);
    expect(perms.map((p) => p.lockingDeviceId).sort()).toEqual(['ld-entrance', 'ld-yard']);
    for (const p of perms) {
      expect(p).toMatchObject({ operationType: 'OPEN', permissionType: 'SINGLE_INTERVAL', operatingKeyValidityDuration: 'P8D' });
      expect([p.start, p.end]).toEqual(['2026-01-01T00:00:00.000Z', '2030-06-30T00:00:00.000Z']);
    }
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: 'entrance', from: '2026-01-01T00:00:00.000Z', until: '2030-06-30T00:00:00.000Z' }]);
    // every request named the vendor's media type and carried the API key
    expect(fake.requests.every((r) => r.accept === MEDIA_TYPE && r.apiKeyOk)).toBe(true);
  });

  it('writes an open window as the assumed far instants and reads them back as open', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K-2', displayName: 'Kim Two' });
    await driver.grant(a.id, 'keys', { from: null, until: null });
    expect(fake.permissionsOf(a.id).map((p) => [p.start, p.end])).toEqual([[OPEN_FROM, OPEN_UNTIL]]);
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: 'keys', from: null, until: null }]);
  });

  it('replaces a permission whose window changed, creating the new one before deleting the old', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K-3', displayName: 'Kim Three' });
    await driver.grant(a.id, 'keys', { from: null, until: '2030-01-01T00:00:00.000Z' });
    const old = fake.permissionsOf(a.id)[0];
    const before = fake.requests.length;
    await driver.grant(a.id, 'keys', { from: null, until: '2031-01-01T00:00:00.000Z' });
    const writes = fake.requests
      .slice(before)
      .filter((r) => r.method !== 'GET')
      .map((r) => `${r.method} ${r.path}`);
    expect(writes).toEqual(['POST /administration/permission', `DELETE /administration/permission/${old.id}`]);
    expect(fake.permissionsOf(a.id).map((p) => p.end)).toEqual(['2031-01-01T00:00:00.000Z']);
  });

  it('reports a group missing a device twice, so the engine grants it again, and the grant makes it whole', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K-4', displayName: 'Kim Four' });
    await driver.grant(a.id, 'entrance', { from: null, until: null });
    // an operator deleted one of the two permissions in the portal
    fake.permissions.delete(fake.permissionsOf(a.id).find((p) => p.lockingDeviceId === 'ld-yard')!.id);
    expect((await driver.getAccount(a.id))?.memberships.map((m) => m.group)).toEqual(['entrance', 'entrance']);
    await driver.grant(a.id, 'entrance', { from: null, until: null });
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: 'entrance', from: null, until: null }]);
  });

  it('revokes only the group’s devices, and leaves permissions lockstep does not manage alone', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'K-5', displayName: 'Kim Five' });
    await driver.grant(a.id, 'entrance', { from: null, until: null });
    await driver.grant(a.id, 'keys', { from: null, until: null });
    const plant = fake.addPermission({ userId: a.id, lockingDeviceId: 'ld-plant', start: OPEN_FROM, end: OPEN_UNTIL });
    const firmware = fake.addPermission({ userId: a.id, lockingDeviceId: 'ld-entrance', operationType: 'UPDATE_FIRMWARE', start: OPEN_FROM, end: OPEN_UNTIL });
    await driver.revoke(a.id, 'entrance');
    expect(
      fake
        .permissionsOf(a.id)
        .map((p) => p.id)
        .sort(),
    ).toEqual(
      [
        plant.id,
        firmware.id,
        ...fake
          .permissionsOf(a.id)
          .filter((p) => p.lockingDeviceId === 'ld-keys')
          .map((p) => p.id),
      ].sort(),
    );
    expect((await driver.getAccount(a.id))?.memberships.map((m) => m.group)).toEqual(['keys']);
    await expect(driver.revoke('no-such-user', 'keys')).resolves.toBeUndefined();
  });

  it('lists the configured groups, and refuses a group whose locking device the system does not have', async () => {
    const { fake } = await start();
    const d = await createKeylessDriver(
      { system: 'kl', options: { ...driverOptionsFor(fake), accessGroups: { a: { name: 'A', lockingDevices: ['ld-entrance', 'ld-gone'] } } } },
      {},
    );
    try {
      const e = await errorOf(d.listAccessGroups());
      expect(e).toMatchObject({ code: 'config', field: 'systems.kl.options.accessGroups.a.lockingDevices' });
      expect(e.message).toContain('ld-gone');
    } finally {
      await d.close();
    }
  });

  it('refuses a locking device in two groups, and a group it was not given', async () => {
    const { fake, driver } = await start();
    const e = await errorOf(
      createKeylessDriver(
        {
          system: 'kl',
          options: {
            ...driverOptionsFor(fake),
            accessGroups: { a: { name: 'A', lockingDevices: ['ld-yard'] }, b: { name: 'B', lockingDevices: ['ld-keys', 'ld-yard'] } },
          },
        },
        {},
      ),
    );
    expect(e).toMatchObject({ code: 'config', field: 'systems.kl.options.accessGroups.b.lockingDevices.1' });
    const a = await driver.upsertAccount({ externalId: 'K-6', displayName: 'Kim Six' });
    expect(await errorOf(driver.grant(a.id, 'plant', { from: null, until: null }))).toMatchObject({ code: 'config' });
  });
});

describe('Keyless driver: users', () => {
  it('invites a user with role USER and the identity’s key, renames it on a second upsert, and never lists administrators', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'U-1', displayName: 'Uma User', email: 'uma@example.com' });
    expect(fake.users.get(a.id)).toMatchObject({ role: 'USER', externalId: 'U-1', name: 'Uma User', email: 'uma@example.com' });
    await driver.upsertAccount({ externalId: 'U-1', displayName: 'Uma B. User' });
    expect(fake.users.get(a.id)?.name).toBe('Uma B. User');
    const all = (await driver.listAccounts()).items.map((x) => x.id);
    expect(all).toContain(a.id);
    expect(all).not.toContain(fake.admin.userId);
    expect(await driver.getAccount(fake.admin.userId)).toBeNull();
  });

  it('deletes a user’s permissions and then the user', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'U-2', displayName: 'Ulf User' });
    await driver.grant(a.id, 'entrance', { from: null, until: null });
    await driver.deleteAccount(a.id);
    expect(fake.users.has(a.id)).toBe(false);
    expect(fake.permissionsOf(a.id)).toEqual([]);
  });

  it('has no account suspension and cannot block an operating device: both say so', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'U-3', displayName: 'Una User' });
    expect(driver.capabilities).toMatchObject({ suspendAccount: false, credentialStates: false, accessEvents: 'none', validity: 'membership' });
    expect(await errorOf(driver.setAccountState(a.id, 'suspended'))).toMatchObject({ code: 'precondition', retryable: false });
    await expect(driver.setAccountState(a.id, 'active')).resolves.toBeUndefined();
    const e = await errorOf(driver.setCredentialState(a.id, 'phone-1', 'lost'));
    expect(e.code).toBe('precondition');
    expect(e.message).toMatch(/revoke/);
  });
});

describe('Keyless driver: errors and authentication', () => {
  it('turns a vendor refusal into a LockstepError naming the system, the call and what the API said', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'E-1', displayName: 'Eve Error' });
    const e = await errorOf(driver.grant(a.id, 'keys', { from: '2031-01-01T00:00:00.000Z', until: '2030-01-01T00:00:00.000Z' }));
    expect(e).toMatchObject({ code: 'validation', status: 400, retryable: false });
    expect(e.message).toContain('Keyless (keyless-test) grant permission on locking device ld-keys');
    expect(e.message).toContain('start must be before end');
  });

  it('logs in again once when the token expired, and carries on', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'E-2', displayName: 'Eve Expired' });
    const logins = () => fake.requests.filter((r) => r.path === '/administration/login').length;
    expect(logins()).toBe(1);
    fake.expireTokens();
    expect((await driver.getAccount(a.id))?.id).toBe(a.id);
    expect(logins()).toBe(2);
  });

  it('fails with code auth, saying it is the API key, when the key is refused (403)', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    fake.rotateApiKey();
    const e = await errorOf(driver.listAccessGroups());
    expect(e).toMatchObject({ code: 'auth', retryable: false });
    expect(e.message).toMatch(/API key \(X-Api-Key\) was refused/);
  });

  it('fails with code auth naming the administrator when the login is refused', async () => {
    const { fake } = await start();
    const d = await createKeylessDriver({ system: 'kl', options: { ...driverOptionsFor(fake), login: { userId: fake.admin.userId, accessKey: 'wrong' } } }, {});
    try {
      const e = await errorOf(d.listAccessGroups());
      expect(e).toMatchObject({ code: 'auth', retryable: false, status: 401 });
      expect(e.message).toContain(`administrator ${fake.admin.userId}`);
    } finally {
      await d.close();
    }
  });

  it('refuses a configuration without an API key or access key, naming the option', async () => {
    const { fake } = await start();
    const o = driverOptionsFor(fake);
    delete o.apiKey;
    expect(await errorOf(createKeylessDriver({ system: 'kl', options: { ...o } }, {}))).toMatchObject({ code: 'config', field: 'systems.kl.options.apiKey' });
    const withEnv = await createKeylessDriver({ system: 'kl', options: { ...o } }, { KEYLESS_API_KEY: fake.apiKey });
    await expect(withEnv.listAccessGroups()).resolves.toHaveLength(2);
    await withEnv.close();
  });

  it('waits out a 429’s Retry-After, then succeeds', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    fake.failNext(429, { times: 1, retryAfterSeconds: 1 });
    const t0 = Date.now();
    await expect(driver.listAccessGroups()).resolves.toHaveLength(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('hands a Retry-After longer than it waits back as rate_limited with the delay, for the queue', async () => {
    const { driver, fake } = await start({ driver: { maxRetryAfterMs: 500 } });
    await driver.listAccessGroups();
    fake.rateLimit(0, 60_000, 120);
    const e = await errorOf(driver.listAccessGroups());
    expect(e).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterMs: 120_000, status: 429 });
    expect(e.message).toContain('Keyless (keyless-test) list locking devices');
  });
});

describe('Keyless driver: offline operating keys', () => {
  it('declares the configured validity as the revalidation period, and reports each activated phone’s latest key expiry', async () => {
    const { driver, fake } = await start();
    expect(driver.capabilities.offline).toEqual({ revalidationDays: 8 });
    const a = await driver.upsertAccount({ externalId: 'O-1', displayName: 'Ola Offline' });
    await driver.grant(a.id, 'entrance', { from: null, until: null });
    const phone = fake.addOperatingDevice(a.id, { name: 'Ola’s phone' });
    const pending = fake.addOperatingDevice(a.id, { activated: false });
    const t0 = Date.now();
    const creds = (await driver.getAccount(a.id))!.credentials;
    const active = creds.find((c) => c.id === phone.id)!;
    expect(active).toMatchObject({ type: 'mobile', number: 'Ola’s phone', status: 'active', lastUsedAt: null });
    expect(Date.parse(active.keyExpiresAt!) - t0).toBeGreaterThanOrEqual(8 * DAY - 1000);
    expect(Date.parse(active.keyExpiresAt!) - t0).toBeLessThanOrEqual(8 * DAY + 5000);
    expect(creds.find((c) => c.id === pending.id)).toMatchObject({ status: 'suspended', keyExpiresAt: null });
  });

  it('widens the revalidation period to a longer validity it reads on a permission', async () => {
    const { driver, fake } = await start({ driver: { operatingKeyValidityDuration: 'PT36H' } });
    expect(driver.capabilities.offline).toEqual({ revalidationDays: 2 });
    const a = await driver.upsertAccount({ externalId: 'O-2', displayName: 'Oda Offline' });
    fake.addPermission({ userId: a.id, lockingDeviceId: 'ld-keys', start: OPEN_FROM, end: OPEN_UNTIL, operatingKeyValidityDuration: 'P30D' });
    fake.addOperatingDevice(a.id);
    const key = (await driver.getAccount(a.id))!.credentials[0];
    expect(Date.parse(key.keyExpiresAt!) - Date.now()).toBeGreaterThan(29 * DAY);
    expect(driver.capabilities.offline).toEqual({ revalidationDays: 30 });
    expect(isoDurationDays('P1W')).toBe(7);
  });

  it('through the engine: a leaver’s permissions go at once, and explain says when offline locks learn it', async () => {
    h = await startKeylessHarness();
    db = await openStore({ dataDir: 'memory://' });
    const { policy } = parseMappings(
      `version: 1
accessGroups:
  - { id: entrance, system: kl, ref: entrance, name: Entrance, protectionClass: 1 }
  - { id: keys, system: kl, ref: keys, name: Key deposit, protectionClass: 2 }
rules:
  - { id: staff, when: 'active eq true', grant: [entrance] }
  - { id: keys, when: 'groups eq "Keys"', grant: [keys] }
lifecycle: { leaver: suspend }
`,
      'kl.yaml',
    );
    const ctx: EngineContext = {
      db,
      policy,
      drivers: new Map([['kl', h.driver]]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      executor: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20, concurrency: 4 },
    };
    const apply = async () => {
      const out = await runReconcile(ctx, { kind: 'full' }, { trigger: 'test', actor: 'test', apply: true, approved: true });
      expect(out.failed).toEqual([]);
      return out;
    };
    const { identity } = await upsertIdentity(db, { source: 'hr', externalId: 'L1', userName: 'lea', displayName: 'Lea Leaver', groups: ['Keys'] });
    await apply();
    const user = h.fake.userByExternalId('L1')!;
    expect(
      h.fake
        .permissionsOf(user.id)
        .map((p) => p.lockingDeviceId)
        .sort(),
    ).toEqual(['ld-entrance', 'ld-keys', 'ld-yard']);
    expect((await apply()).plan.operations).toEqual([]);
    h.fake.addOperatingDevice(user.id);
    expect(h.fake.offlineLockOpens(user.id, 'ld-keys')).toBe(true);

    await markIdentityDeleted(db, identity.id);
    const t0 = Date.now();
    const out = await apply();
    const revokes = out.plan.operations.filter((o) => o.kind === 'revoke');
    expect(revokes.map((o) => o.group?.ref).sort()).toEqual(['entrance', 'keys']);
    for (const r of revokes) {
      expect(Date.parse(r.learnedBy!) - t0).toBeGreaterThanOrEqual(8 * DAY - 1000);
      expect(Date.parse(r.learnedBy!) - t0).toBeLessThanOrEqual(8 * DAY + 10_000);
    }
    // Keyless took it at once; the phone's key still opens the offline lock until it refreshes or expires
    expect(h.fake.permissionsOf(user.id)).toEqual([]);
    expect(h.fake.offlineLockOpens(user.id, 'ld-keys')).toBe(true);
    expect(h.fake.offlineLockOpens(user.id, 'ld-keys', Date.now() + 8 * DAY + 1000)).toBe(false);
    h.fake.refreshKeys(user.id);
    expect(h.fake.offlineLockOpens(user.id, 'ld-keys')).toBe(false);

    const x = await explainIdentity(ctx, 'lea');
    expect(x.offlinePending.map((p) => [p.groupRef, p.learnedBy]).sort()).toEqual(revokes.map((r) => [r.group!.ref, r.learnedBy]).sort());
  });
});

import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { TokenSource } from './auth.js';
import { codeFor, createSaltoDriver, decodeUserId, encodeUserId, namesFor } from './driver.js';
import { EVENT_UNLOCKED } from './fake/index.js';
import { startSaltoHarness, type SaltoHarness } from './harness.js';

/** Behaviour of the Salto Nebula driver beyond the conformance kit, against the fake over loopback gRPC. */

let h: SaltoHarness | undefined;
afterEach(async () => {
  await h?.teardown();
  h = undefined;
});

const start = async (o: Parameters<typeof startSaltoHarness>[0] = {}) => (h = await startSaltoHarness(o));
const errorOf = (p: Promise<unknown>): Promise<LockstepError> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(LockstepError);
      return e as LockstepError;
    },
  );
const callsOf = (method: string) => h!.fake.calls.filter((c) => c.method === method);
const OFFICE = 'installations/lockstep-test/access-rights/office';

describe('Salto driver: validity', () => {
  it('stores each access right window on the user access right, and clears it again', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'val-1', displayName: 'Val One' });
    await driver.grant(a.id, 'office', { from: '2030-01-01T00:00:00.000Z', until: '2030-06-30T12:30:00.250Z' });
    await driver.grant(a.id, 'lab', { from: null, until: null });
    const [uar] = fake.accessRightsOf(h!.userName(a.id)).filter((r) => r.accessRight === OFFICE);
    expect(uar?.activateTime).toBe(Date.parse('2030-01-01T00:00:00.000Z'));
    expect(uar?.expireTime).toBe(Date.parse('2030-06-30T12:30:00.250Z'));
    const got = await driver.getAccount(a.id);
    expect(got?.memberships).toEqual(
      expect.arrayContaining([
        { group: 'office', from: '2030-01-01T00:00:00.000Z', until: '2030-06-30T12:30:00.250Z' },
        { group: 'lab', from: null, until: null },
      ]),
    );
    await driver.grant(a.id, 'office', { from: null, until: null });
    expect((await driver.getAccount(a.id))?.memberships.find((m) => m.group === 'office')).toEqual({ group: 'office', from: null, until: null });
  });

  it('writes nothing when the window is already the one asked for', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'val-2', displayName: 'Val Two' });
    const v = { from: '2030-01-01T00:00:00.000Z', until: null };
    await driver.grant(a.id, 'office', v);
    await driver.grant(a.id, 'office', v);
    expect(callsOf('UserService/CreateUserAccessRight')).toHaveLength(1);
    expect(callsOf('UserService/UpdateUserAccessRight')).toHaveLength(0);
  });

  it('keeps the account window on the user (activate/expire) and moves it with the input', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'val-3', displayName: 'Val Three', validity: { from: null, until: '2031-01-31T00:00:00.000Z' } });
    expect(a.validity).toEqual({ from: null, until: '2031-01-31T00:00:00.000Z' });
    await driver.upsertAccount({ externalId: 'val-3', displayName: 'Val Three', validity: { from: '2030-01-01T00:00:00.000Z', until: null } });
    const u = fake.userByName(h!.userName(a.id))!;
    expect([u.activateTime, u.expireTime]).toEqual([Date.parse('2030-01-01T00:00:00.000Z'), null]);
  });

  it('removes duplicate assignments of one access right, keeping one', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'val-4', displayName: 'Val Four' });
    await driver.grant(a.id, 'office', { from: null, until: null });
    // a second assignment made outside lockstep (the fake refuses duplicates through the API)
    const user = h!.userName(a.id);
    fake.userAccessRights.set(`${user}/access-rights/dup`, {
      name: `${user}/access-rights/dup`,
      user,
      accessRight: OFFICE,
      activateTime: null,
      expireTime: null,
    });
    await driver.grant(a.id, 'office', { from: null, until: '2030-01-01T00:00:00.000Z' });
    expect((await driver.getAccount(a.id))?.memberships).toEqual([{ group: 'office', from: null, until: '2030-01-01T00:00:00.000Z' }]);
  });

  it('refuses a window that ends before it begins as validation, without retrying', async () => {
    const { driver } = await start();
    const a = await driver.upsertAccount({ externalId: 'val-5', displayName: 'Val Five' });
    const e = await errorOf(driver.grant(a.id, 'office', { from: '2030-02-01T00:00:00.000Z', until: '2030-01-01T00:00:00.000Z' }));
    expect([e.code, e.retryable]).toEqual(['validation', false]);
    expect(callsOf('UserService/CreateUserAccessRight')).toHaveLength(1);
  });
});

describe('Salto driver: accounts', () => {
  it('uses the externalId as the user id, and writes other externalIds reversibly', async () => {
    const { driver, fake } = await start();
    const plain = await driver.upsertAccount({ externalId: 'E12345', displayName: 'Plain Id' });
    expect(plain.id).toBe('E12345');
    expect(fake.users.has('installations/lockstep-test/users/E12345')).toBe(true);
    const mail = await driver.upsertAccount({ externalId: 'ada@example.com', displayName: 'Ada Mail' });
    expect(mail.id).toMatch(/^lsx-[a-z2-7]+$/);
    expect(mail.externalId).toBe('ada@example.com');
    expect((await driver.findAccount('ada@example.com'))?.id).toBe(mail.id);
    // an id that looks encoded is encoded too, so no two externalIds share a user
    expect(encodeUserId('lsx-abc')).not.toBe('lsx-abc');
    expect(decodeUserId(encodeUserId('lsx-abc')!)).toBe('lsx-abc');
    expect(decodeUserId('01FF2GQJATHV5Z90S1Y5CC6ECD')).toBe('01FF2GQJATHV5Z90S1Y5CC6ECD');
  });

  it('refuses an externalId too long to write as a user id', async () => {
    const { driver } = await start();
    const e = await errorOf(driver.upsertAccount({ externalId: 'x@'.repeat(40), displayName: 'Too Long' }));
    expect([e.code, e.field]).toEqual(['validation', 'externalId']);
  });

  it('writes given and family name from the parts when they spell the display name', async () => {
    expect(namesFor({ displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' })).toEqual({ given: 'Ada', family: 'Lovelace' });
    expect(namesFor({ displayName: 'Countess of Lovelace', firstName: 'Ada', lastName: 'Lovelace' })).toEqual({ given: 'Countess of Lovelace', family: null });
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'nm-1', displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com' });
    const u = fake.userByName(h!.userName(a.id))!;
    expect([u.givenName, u.familyName, u.email]).toEqual(['Ada', 'Lovelace', 'ada@example.com']);
    await driver.upsertAccount({ externalId: 'nm-1', displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' });
    expect(callsOf('UserService/UpdateUser')).toHaveLength(0);
  });

  it('blocks and unblocks the user, calling Nebula only when the state differs', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'blk-1', displayName: 'Block Me' });
    await driver.setAccountState(a.id, 'suspended');
    await driver.setAccountState(a.id, 'suspended');
    expect(fake.userByName(h!.userName(a.id))?.blocked).toBe(true);
    expect(callsOf('UserService/BlockUser')).toHaveLength(1);
    expect((await driver.getAccount(a.id))?.state).toBe('suspended');
    await driver.setAccountState(a.id, 'active');
    expect(fake.userByName(h!.userName(a.id))?.blocked).toBe(false);
    expect(callsOf('UserService/UnblockUser')).toHaveLength(1);
  });

  it('pages users with Nebula page tokens, memberships and keys on each', async () => {
    const { driver, fake } = await start({ driver: { pageSize: 7 } });
    fake.seedUsers(20);
    const a = await driver.upsertAccount({ externalId: 'zz-last', displayName: 'Last One' });
    await driver.grant(a.id, 'lab', { from: null, until: null });
    fake.issueCardKey(h!.userName(a.id), '04A1B2C3D4E5F6');
    const seen: string[] = [];
    let pages = 0;
    for (let cursor: string | null = null; ; pages++) {
      const p = await driver.listAccounts(cursor);
      seen.push(...p.items.map((x) => x.id));
      const me = p.items.find((x) => x.id === a.id);
      if (me) {
        expect(me.memberships).toEqual([{ group: 'lab', from: null, until: null }]);
        expect(me.credentials).toEqual([expect.objectContaining({ id: `${a.id}/card_key`, type: 'card', number: '04A1B2C3D4E5F6', status: 'active' })]);
      }
      if (p.next === null) break;
      cursor = p.next;
    }
    expect(pages + 1).toBe(3);
    expect(new Set(seen).size).toBe(21);
  });
});

describe('Salto driver: data-on-card keys', () => {
  it('declares the installation key renewal duration as offline.revalidationDays, unless the options set one', async () => {
    const a = await start({ fake: { keyRenewalDays: 14 } });
    expect(a.driver.capabilities.offline).toEqual({ revalidationDays: 14 });
    await a.teardown();
    const b = await start({ fake: { keyRenewalDays: 14 }, driver: { revalidationDays: 10 } });
    expect(b.driver.capabilities.offline).toEqual({ revalidationDays: 10 });
  });

  it('assumes 7 days when the installation cannot be read', async () => {
    const { fake } = await start();
    fake.failNext(grpc.status.PERMISSION_DENIED);
    const warnings: string[] = [];
    const d = await createSaltoDriver({
      system: 'salto-probe',
      options: {
        address: fake.address,
        plaintext: true,
        installation: 'lockstep-test',
        clientId: fake.clientId,
        clientSecret: fake.clientSecret,
        tokenUrl: fake.tokenUrl,
      },
      logger: { info() {}, error() {}, warn: (_o, msg) => warnings.push(msg ?? '') },
    });
    expect(d.capabilities.offline).toEqual({ revalidationDays: 7 });
    expect(warnings.join(' ')).toMatch(/key renewal duration/);
    await d.close();
  });

  it('reports until when a key opens what it learned, and a revocation stays on the key until it is updated', async () => {
    const { driver, fake } = await start({ driver: { encoder: 'installations/lockstep-test/encoders/front-desk' } });
    const a = await driver.upsertAccount({ externalId: 'key-1', displayName: 'Key Holder' });
    const user = h!.userName(a.id);
    await driver.grant(a.id, 'office', { from: null, until: null });
    const key = fake.issueCardKey(user);
    const issued = key.updatedAt!;
    const [cred] = (await driver.getAccount(a.id))!.credentials;
    expect(cred?.keyExpiresAt).toBe(new Date(issued + 7 * 86_400_000).toISOString());
    expect(fake.offlineLockOpens(user, OFFICE)).toBe(true);

    await driver.revoke(a.id, 'office');
    // Nebula no longer holds the right, but the key does: offline locks open until it is updated
    expect((await driver.getAccount(a.id))!.memberships).toEqual([]);
    expect(key.outdated).toBe(true);
    expect(fake.offlineLockOpens(user, OFFICE)).toBe(true);

    const { keyExpiresAt } = await driver.encodeCardKey(a.id);
    expect(key.outdated).toBe(false);
    expect(fake.offlineLockOpens(user, OFFICE)).toBe(false);
    expect(Date.parse(keyExpiresAt!)).toBeGreaterThanOrEqual(issued + 7 * 86_400_000);
    expect(callsOf('OperationService/GetOperation').length).toBeGreaterThanOrEqual(1);
  });

  it('marks keys outdated when the user is blocked, and the block reaches offline locks at the key update', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'key-2', displayName: 'Blocked Holder' });
    const user = h!.userName(a.id);
    await driver.grant(a.id, 'office', { from: null, until: null });
    const key = fake.issueCardKey(user);
    await driver.setAccountState(a.id, 'suspended');
    expect(key.outdated).toBe(true);
    expect(fake.offlineLockOpens(user, OFFICE)).toBe(true);
    fake.presentKey(user); // at an online access point
    expect(fake.offlineLockOpens(user, OFFICE)).toBe(false);
  });

  it('reports an encode the fake refuses (no card key) as precondition', async () => {
    const { driver } = await start({ driver: { encoder: 'installations/lockstep-test/encoders/front-desk' } });
    const a = await driver.upsertAccount({ externalId: 'key-3', displayName: 'No Key' });
    expect((await errorOf(driver.encodeCardKey(a.id))).code).toBe('precondition');
  });

  it('cancels a key for revoked and lost, idempotently; suspended has no Nebula equivalent', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'key-4', displayName: 'Lost Card' });
    fake.issueCardKey(h!.userName(a.id));
    expect((await errorOf(driver.setCredentialState(a.id, `${a.id}/card_key`, 'suspended'))).code).toBe('precondition');
    await driver.setCredentialState(a.id, `${a.id}/card_key`, 'lost');
    expect(fake.userByName(h!.userName(a.id))?.keys.card_key.state).toBe('NOT_ASSIGNED');
    await driver.setCredentialState(a.id, `${a.id}/card_key`, 'revoked');
    expect(callsOf('UserService/CancelCardKey')).toHaveLength(1);
    expect((await driver.getAccount(a.id))?.credentials).toEqual([]);
    expect((await errorOf(driver.setCredentialState(a.id, 'someone-else/card_key', 'revoked'))).code).toBe('not_found');
  });
});

describe('Salto driver: access events', () => {
  it('starts from now, then returns each event once, across pages, in order', async () => {
    // the fake's clock: a minute ago for the event before the first read, a minute ahead after it
    let clock = Date.now() - 60_000;
    const { driver, fake } = await start({ fake: { now: () => clock }, driver: { eventsPageSize: 2 } });
    const a = await driver.upsertAccount({ externalId: 'ev-1', displayName: 'Event One' });
    fake.issueCardKey(h!.userName(a.id));
    fake.recordAccess(h!.userName(a.id)); // before the first read: not returned
    let { cursor } = await driver.readAccessEvents(null);
    clock = Date.now() + 60_000;
    const recorded = [
      fake.recordAccess(h!.userName(a.id)),
      fake.recordOther('com.saltosystems.nebula.event.v1.usercreated'),
      fake.recordAccess(h!.userName(a.id), { granted: false }),
      fake.recordAccess(h!.userName(a.id), { accessPoint: 'installations/lockstep-test/access-points/lab-door' }),
      fake.recordAccess(h!.userName(a.id)),
    ];
    const got = [];
    for (let i = 0; i < 10; i++) {
      const r = await driver.readAccessEvents(cursor);
      got.push(...r.events);
      cursor = r.cursor;
    }
    expect(got.map((e) => e.id)).toEqual(recorded.filter((e) => e.type !== 'com.saltosystems.nebula.event.v1.usercreated').map((e) => e.name));
    expect(got.map((e) => e.granted)).toEqual([true, false, true, true]);
    expect(got[2]).toMatchObject({ accountId: a.id, credentialId: `${a.id}/card_key`, door: 'lab-door' });
    expect(callsOf('EventService/ListEvents').length).toBeGreaterThan(3);
  });

  it('loses nothing and repeats nothing when many events share one create_time', async () => {
    const frozen = Date.parse('2030-05-05T10:00:00.000Z');
    const { driver, fake } = await start({ fake: { now: () => frozen }, driver: { eventsPageSize: 3 } });
    const a = await driver.upsertAccount({ externalId: 'ev-2', displayName: 'Same Instant' });
    let cursor: string | null = Buffer.from(JSON.stringify({ v: 1, t: new Date(frozen).toISOString(), seen: [] })).toString('base64url');
    const names = Array.from({ length: 8 }, () => fake.recordAccess(h!.userName(a.id)).name);
    const got: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await driver.readAccessEvents(cursor);
      got.push(...r.events.map((e) => e.id));
      cursor = r.cursor;
      if (i === 3) names.push(fake.recordAccess(h!.userName(a.id)).name);
    }
    expect(got).toEqual(names);
  });

  it('reads events with camelCase payload keys too', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'ev-3', displayName: 'Camel Case' });
    const { cursor } = await driver.readAccessEvents(null);
    fake.recordOther(EVENT_UNLOCKED, {
      accessPoint: { name: 'installations/lockstep-test/access-points/gate', displayName: 'Gate' },
      user: { name: h!.userName(a.id) },
      appKey: { name: 'x' },
    });
    const r = await driver.readAccessEvents(cursor);
    expect(r.events).toEqual([expect.objectContaining({ accountId: a.id, credentialId: `${a.id}/app_key`, door: 'Gate', granted: true })]);
  });

  it('refuses a cursor it did not make', async () => {
    const { driver } = await start();
    expect((await errorOf(driver.readAccessEvents('not-a-cursor'))).code).toBe('validation');
  });
});

describe('Salto driver: auth', () => {
  it('fetches a token once, and a new one when Nebula refuses the old one', async () => {
    const { driver, fake } = await start();
    await driver.listAccessGroups();
    await driver.listAccessGroups();
    // one token served the installation read at start and every call since
    expect(fake.tokensIssued).toBe(1);
    fake.revokeTokens();
    expect((await driver.listAccessGroups()).map((g) => g.ref)).toContain('office');
    expect(fake.tokensIssued).toBe(2);
  });

  it('renews a token shortly before it expires', async () => {
    const { fake } = await start();
    let clock = 1_000_000;
    const src = new TokenSource(
      { tokenUrl: fake.tokenUrl, clientId: fake.clientId, clientSecret: fake.clientSecret, scopes: ['https://saltoapis.com/auth/nebula'], timeoutMs: 5000 },
      () => clock,
    );
    const first = await src.get();
    clock += 3000 * 1000;
    expect(await src.get()).toBe(first);
    clock += 600 * 1000 - 60 * 1000; // inside the last minute of its hour
    expect(await src.get()).not.toBe(first);
    expect(src.fetched).toBe(2);
  });

  it('reports refused client credentials as auth, not worth retrying, without the secret', async () => {
    const { fake } = await start();
    const d = await createSaltoDriver({
      system: 'salto-bad',
      options: {
        address: fake.address,
        plaintext: true,
        installation: 'lockstep-test',
        clientId: fake.clientId,
        clientSecret: 'wrong-secret',
        tokenUrl: fake.tokenUrl,
        revalidationDays: 7,
      },
    });
    const e = await errorOf(d.listAccessGroups());
    expect([e.code, e.retryable]).toEqual(['auth', false]);
    expect(e.message).not.toContain('wrong-secret');
    await d.close();
  });

  it('reports a token Nebula refuses twice as auth', async () => {
    const { driver, fake } = await start();
    fake.failNext(grpc.status.UNAUTHENTICATED, { times: 2 });
    const e = await errorOf(driver.listAccessGroups());
    expect([e.code, e.retryable]).toEqual(['auth', false]);
  });
});

describe('Salto driver: gRPC errors', () => {
  it('maps gRPC status codes to lockstep error codes', () => {
    expect(codeFor(grpc.status.UNAUTHENTICATED)).toBe('auth');
    expect(codeFor(grpc.status.PERMISSION_DENIED)).toBe('auth');
    expect(codeFor(grpc.status.NOT_FOUND)).toBe('not_found');
    expect(codeFor(grpc.status.ALREADY_EXISTS)).toBe('conflict');
    expect(codeFor(grpc.status.ABORTED)).toBe('conflict');
    expect(codeFor(grpc.status.RESOURCE_EXHAUSTED)).toBe('rate_limited');
    expect(codeFor(grpc.status.UNAVAILABLE)).toBe('unavailable');
    expect(codeFor(grpc.status.DEADLINE_EXCEEDED)).toBe('timeout');
    expect(codeFor(grpc.status.INVALID_ARGUMENT)).toBe('validation');
    expect(codeFor(grpc.status.FAILED_PRECONDITION)).toBe('precondition');
  });

  it('retries UNAVAILABLE transparently', async () => {
    const { driver, fake } = await start();
    fake.failNext(grpc.status.UNAVAILABLE, { times: 2 });
    expect((await driver.listAccessGroups()).length).toBe(3);
  });

  it('retries DEADLINE_EXCEEDED for a read, not for a create', async () => {
    const { driver, fake } = await start();
    const a = await driver.upsertAccount({ externalId: 'err-1', displayName: 'Errors' });
    fake.failNext(grpc.status.DEADLINE_EXCEEDED, { method: 'UserService/GetUser' });
    expect((await driver.getAccount(a.id))?.id).toBe(a.id);
    // a create whose answer was lost may have happened: it is not sent again
    fake.failNext(grpc.status.DEADLINE_EXCEEDED, { method: 'UserService/CreateUserAccessRight' });
    const e = await errorOf(driver.grant(a.id, 'office', { from: null, until: null }));
    expect([e.code, e.retryable]).toEqual(['timeout', true]);
    expect(callsOf('UserService/CreateUserAccessRight')).toHaveLength(1);
  });

  it('surfaces a retry delay longer than it waits as rate_limited with retryAfterMs, from RetryInfo or a retry-after trailer', async () => {
    const { driver, fake } = await start({ driver: { maxRetryAfterMs: 500 } });
    fake.failNext(grpc.status.RESOURCE_EXHAUSTED, { retryAfterSeconds: 120 });
    const e = await errorOf(driver.listAccessGroups());
    expect([e.code, e.retryable, e.retryAfterMs]).toEqual(['rate_limited', true, 120_000]);
    fake.failNext(grpc.status.UNAVAILABLE, { retryAfterSeconds: 90, retryAfterAs: 'trailer' });
    const t = await errorOf(driver.listAccessGroups());
    expect([t.code, t.retryable, t.retryAfterMs]).toEqual(['unavailable', true, 90_000]);
  });

  it('reports a missing user as not_found on grant, an unknown access right as not_found, and a bad page token as validation', async () => {
    const { driver } = await start();
    expect((await errorOf(driver.grant('nobody', 'office', { from: null, until: null }))).code).toBe('not_found');
    const a = await driver.upsertAccount({ externalId: 'err-2', displayName: 'Errors Two' });
    expect((await errorOf(driver.grant(a.id, 'no-such-right', { from: null, until: null }))).code).toBe('not_found');
    const e = await errorOf(driver.listAccounts('garbage'));
    expect([e.code, e.retryable]).toEqual(['validation', false]);
    await expect(driver.revoke('nobody', 'office')).resolves.toBeUndefined();
  });
});

describe('Salto driver: options', () => {
  it('names the offending option in a config error', async () => {
    const bad = async (options: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => {
      const e = await errorOf(createSaltoDriver({ system: 'nebula', options }, env));
      expect(e.code).toBe('config');
      return e.field;
    };
    expect(await bad({ clientId: 'c', clientSecret: 's' })).toBe('systems.nebula.options.installation');
    expect(await bad({ installation: 'a/b', clientId: 'c', clientSecret: 's' })).toBe('systems.nebula.options.installation');
    expect(await bad({ installation: 'hq', clientId: 'c' })).toBe('systems.nebula.options.clientSecret');
    expect(await bad({ installation: 'hq', clientId: 'c', clientSecret: 's', clientSecretFile: '/x' })).toBe('systems.nebula.options.clientSecret');
    expect(await bad({ installation: 'hq', clientId: 'c', clientSecretFile: '/nonexistent/secret' })).toBe('systems.nebula.options.clientSecretFile');
    expect(await bad({ installation: 'hq', clientId: 'c', clientSecret: 's', revalidationDays: 0 })).toBe('systems.nebula.options.revalidationDays');
    expect(await bad({ installation: 'hq', clientId: 'c', clientSecret: 's', colour: 'red' })).toBe('systems.nebula.options');
  });

  it('takes the secret from SALTO_CLIENT_SECRET and the installation as a resource name', async () => {
    const { fake } = await start();
    const d = await createSaltoDriver(
      {
        system: 'nebula',
        options: {
          address: fake.address,
          plaintext: true,
          installation: fake.installation,
          clientId: fake.clientId,
          tokenUrl: fake.tokenUrl,
          revalidationDays: 3,
        },
      },
      { SALTO_CLIENT_SECRET: fake.clientSecret },
    );
    expect(d.installation).toBe(fake.installation);
    expect((await d.listAccessGroups()).map((g) => g.ref).sort()).toEqual(['lab', 'office', 'server-room']);
    await d.close();
  });
});

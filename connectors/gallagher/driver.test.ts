import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { makeTestCertificates } from '../../test/helpers/certs.js';
import { createGallagherDriver, factory } from './driver.js';
import { startGallagherHarness, type GallagherHarness } from './harness.js';
import { startFakeCommandCentre, type FakeCommandCentre } from './fake/index.js';

const LINK = 'lockstep id';
let h: GallagherHarness | undefined;
const extra: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await h?.teardown();
  h = undefined;
  for (const x of extra.splice(0)) await x.close();
});

async function harness(opts: Parameters<typeof startGallagherHarness>[0] = {}): Promise<GallagherHarness> {
  h = await startGallagherHarness(opts);
  return h;
}

/** A cardholder made directly in the fake, linked to lockstep the way the driver links them. */
function linkedCardholder(fake: FakeCommandCentre, externalId: string, memberships: Array<{ groupId: string; from?: string; until?: string }> = []) {
  return fake.addCardholder({
    firstName: 'Mara',
    lastName: 'Quint',
    pdfs: { [LINK]: externalId },
    memberships: [{ groupId: '360' }, ...memberships],
  });
}

const accountIdOf = (fake: FakeCommandCentre, id: string) => fake.cardholderPath(id);
const groupMemberships = (fake: FakeCommandCentre, cardholderId: string, groupId: string) =>
  fake.model.cardholders.get(cardholderId)!.memberships.filter((m) => m.groupId === groupId);

describe('Gallagher driver: discovery', () => {
  it('follows the hrefs of GET /api and never builds a URL of its own', async () => {
    const { driver, fake } = await harness();
    const a = await driver.upsertAccount({ externalId: 'E-1', displayName: 'Ada Lovelace', firstName: 'Ada', lastName: 'Lovelace' });
    await driver.grant(a.id, '352', { from: null, until: null });
    await driver.listAccounts();
    await driver.readAccessEvents(null);
    const paths = fake.requests.map((r) => new URL(r.url, fake.url).pathname);
    expect(paths.filter((p) => p === '/api')).toHaveLength(1);
    // The scrambled layout keeps nothing under /api/: a hard-coded CC path would show up here.
    expect(paths.filter((p) => p.startsWith('/api/'))).toEqual([]);
    expect(fake.requests.every((r) => r.status < 400)).toBe(true);
  });

  it('reports a missing licence feature as a config error that names it', async () => {
    const { driver } = await harness({ fake: { omitFeatures: ['cardholders'] } });
    const err = await driver.listAccounts().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('config');
    expect((err as LockstepError).message).toMatch(/features\.cardholders\.cardholders/);
  });

  it('finds the link PDF through the items controller when the PDF controller is not offered', async () => {
    const { driver, fake } = await harness({ fake: { omitFeatures: ['personalDataFields'] } });
    const ch = linkedCardholder(fake, 'E-items');
    expect((await driver.findAccount('E-items'))?.id).toBe(accountIdOf(fake, ch.id));
  });

  it('refuses to start work when the link PDF does not exist', async () => {
    const { driver } = await harness({ driver: { externalIdField: 'employee number' } });
    const err = await driver.findAccount('x').catch((e: unknown) => e);
    expect((err as LockstepError).code).toBe('config');
    expect((err as LockstepError).field).toBe('externalIdField');
  });
});

describe('Gallagher driver: accounts', () => {
  it('creates a cardholder authorised, in the division, linked by the PDF through the link group', async () => {
    const { driver, fake } = await harness();
    const a = await driver.upsertAccount({ externalId: 'E-2', displayName: 'Grace Hopper', firstName: 'Grace', lastName: 'Hopper' });
    const ch = fake.resolveCardholder(a.id)!;
    expect(ch).toMatchObject({ firstName: 'Grace', lastName: 'Hopper', authorised: true, divisionId: '2' });
    expect(ch.pdfValues.get('8801')).toBe('E-2');
    expect(ch.memberships.map((m) => m.groupId)).toEqual(['360']);
    // The link group is plumbing, not access: it is neither a membership nor a group to map.
    expect(a.memberships).toEqual([]);
    expect((await driver.listAccessGroups()).map((g) => g.ref)).not.toContain('360');
    expect(a).toMatchObject({ externalId: 'E-2', displayName: 'Grace Hopper', state: 'active' });
  });

  it('does not find an account whose link value differs only in case', async () => {
    const { driver, fake } = await harness();
    linkedCardholder(fake, 'ABC-1');
    expect(await driver.findAccount('abc-1')).toBeNull();
    expect((await driver.findAccount('ABC-1'))?.externalId).toBe('ABC-1');
  });

  it('refuses to pick between two cardholders with the same link value', async () => {
    const { driver, fake } = await harness({
      fake: {
        seed: {
          pdfs: [{ id: '8801', name: LINK, type: 'string', unique: false, accessGroupIds: ['360'] }],
        },
      },
    });
    linkedCardholder(fake, 'DUP');
    linkedCardholder(fake, 'DUP');
    const err = await driver.findAccount('DUP').catch((e: unknown) => e);
    expect((err as LockstepError).code).toBe('conflict');
  });

  it('returns the cardholder another writer created first instead of a duplicate', async () => {
    const { driver, fake } = await harness();
    fake.onRequest = (r) => {
      if (r.method === 'POST') {
        fake.onRequest = undefined;
        linkedCardholder(fake, 'E-race');
      }
    };
    const a = await driver.upsertAccount({ externalId: 'E-race', displayName: 'Race Winner' });
    const linked = [...fake.model.cardholders.values()].filter((c) => c.pdfValues.get('8801') === 'E-race');
    expect(linked).toHaveLength(1);
    expect(a.id).toBe(accountIdOf(fake, linked[0].id));
  });

  it('issues a card of the configured type to a cardholder it creates', async () => {
    const { driver } = await harness({ driver: { cardType: 'Staff card' } });
    const a = await driver.upsertAccount({ externalId: 'E-card', displayName: 'Card Holder' });
    expect(a.credentials).toHaveLength(1);
    expect(a.credentials[0]).toMatchObject({ type: 'card', status: 'active', number: expect.any(String) });
  });

  it('writes the email PDF when configured', async () => {
    const { driver, fake } = await harness({ driver: { emailField: 'email' } });
    const a = await driver.upsertAccount({ externalId: 'E-mail', displayName: 'Mail Person', email: 'm@example.com' });
    await driver.upsertAccount({ externalId: 'E-mail', displayName: 'Mail Person', email: 'new@example.com' });
    expect(fake.resolveCardholder(a.id)!.pdfValues.get('5516')).toBe('new@example.com');
  });

  it('suspends through `authorised`, which CC uses to deny every access decision', async () => {
    const { driver, fake } = await harness();
    const a = await driver.upsertAccount({ externalId: 'E-3', displayName: 'Sus Pended' });
    await driver.setAccountState(a.id, 'suspended');
    expect(fake.resolveCardholder(a.id)!.authorised).toBe(false);
    expect((await driver.getAccount(a.id))?.state).toBe('suspended');
  });

  it('reports a cardholder held open by an operator as a retryable conflict', async () => {
    const { driver, fake } = await harness();
    const a = await driver.upsertAccount({ externalId: 'E-4', displayName: 'Locked Out' });
    fake.lockCardholder(fake.resolveCardholder(a.id)!.id);
    const err = await driver.setAccountState(a.id, 'suspended').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('conflict');
    expect((err as LockstepError).retryable).toBe(true);
  });
});

describe('Gallagher driver: memberships', () => {
  it('collapses several memberships of one group into one with the wanted validity', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-5', [
      { groupId: '352', until: '2020-01-01T00:00:00Z' },
      { groupId: '352', from: '2031-01-01T00:00:00Z' },
      { groupId: '352' },
      { groupId: '353' },
    ]);
    const want = { from: '2030-01-01T00:00:00.000Z', until: '2030-12-31T23:59:59.000Z' };
    await driver.grant(accountIdOf(fake, ch.id), '352', want);
    const left = groupMemberships(fake, ch.id, '352');
    expect(left).toHaveLength(1);
    expect(Date.parse(left[0].from!)).toBe(Date.parse(want.from));
    expect(Date.parse(left[0].until!)).toBe(Date.parse(want.until));
    expect(groupMemberships(fake, ch.id, '353')).toHaveLength(1);
    const a = await driver.getAccount(accountIdOf(fake, ch.id));
    expect(a?.memberships.filter((m) => m.group === '352')).toHaveLength(1);
  });

  it('keeps the membership that already has the validity and only removes the others', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-6', [{ groupId: '352', until: '2020-01-01T00:00:00Z' }, { groupId: '352' }]);
    const keeper = groupMemberships(fake, ch.id, '352')[1].key;
    fake.clearLog();
    await driver.grant(accountIdOf(fake, ch.id), '352', { from: null, until: null });
    expect(groupMemberships(fake, ch.id, '352').map((m) => m.key)).toEqual([keeper]);
    const patch = fake.exchanges.find((x) => x.method === 'PATCH');
    expect(patch?.requestBody).toEqual({ accessGroups: { remove: [{ href: expect.stringContaining('/groupships/') }] } });
  });

  it('clears a bound by sending "" when the new validity has none', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-7', [{ groupId: '352', until: '2031-01-01T00:00:00Z' }]);
    await driver.grant(accountIdOf(fake, ch.id), '352', { from: null, until: null });
    expect(groupMemberships(fake, ch.id, '352')[0].until).toBeUndefined();
  });

  it('works across membership hrefs that change on every update', async () => {
    const { driver, fake } = await harness();
    const a = await driver.upsertAccount({ externalId: 'E-8', displayName: 'Href Change' });
    const cid = fake.resolveCardholder(a.id)!.id;
    const hrefs: string[] = [];
    for (const until of ['2030-01-01T00:00:00Z', '2030-02-01T00:00:00Z', '2030-03-01T00:00:00Z']) {
      await driver.grant(a.id, '352', { from: null, until });
      hrefs.push(groupMemberships(fake, cid, '352')[0].key);
    }
    expect(new Set(hrefs).size).toBe(3);
    expect(groupMemberships(fake, cid, '352')).toHaveLength(1);
    expect(groupMemberships(fake, cid, '352')[0].until).toBe('2030-03-01T00:00:00Z');
  });

  it('re-reads and retries when a membership href went stale between its read and its PATCH', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-9', [{ groupId: '352', until: '2030-01-01T00:00:00Z' }]);
    let raced = false;
    fake.onRequest = (r) => {
      if (r.method === 'PATCH' && !raced) {
        raced = true;
        fake.rotateMembershipHrefs(ch.id);
      }
    };
    fake.clearLog();
    await driver.grant(accountIdOf(fake, ch.id), '352', { from: null, until: '2032-01-01T00:00:00.000Z' });
    expect(fake.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([400, 204]);
    expect(groupMemberships(fake, ch.id, '352')[0].until).toBe('2032-01-01T00:00:00Z');
  });

  it('revokes every membership of the group, and nothing when there is none', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-10', [{ groupId: '352' }, { groupId: '352', from: '2031-01-01T00:00:00Z' }, { groupId: '353' }]);
    await driver.revoke(accountIdOf(fake, ch.id), '352');
    expect(groupMemberships(fake, ch.id, '352')).toHaveLength(0);
    expect(groupMemberships(fake, ch.id, '353')).toHaveLength(1);
    expect(groupMemberships(fake, ch.id, '360')).toHaveLength(1);
    fake.clearLog();
    await driver.revoke(accountIdOf(fake, ch.id), '352');
    expect(fake.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
  });

  it('names an unknown access group id in a not_found error', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-11');
    const err = await driver.grant(accountIdOf(fake, ch.id), '999', { from: null, until: null }).catch((e: unknown) => e);
    expect((err as LockstepError).code).toBe('not_found');
    expect((err as LockstepError).message).toMatch(/999/);
  });
});

describe('Gallagher driver: cards', () => {
  it('marks a card lost, and reports it lost', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-12');
    const { href } = fake.issueCard(ch.id);
    const credentialId = new URL(href).pathname;
    await driver.setCredentialState(accountIdOf(fake, ch.id), credentialId, 'lost');
    // The fake replaces a cardholder on every PATCH: read the card again.
    const card = fake.resolveCard(href)!.card;
    expect(card.state).toBe('Lost');
    expect(fake.model.cardStatus(card).type).toBe('inactive');
    const a = await driver.getAccount(accountIdOf(fake, ch.id));
    expect(a?.credentials.find((c) => c.id === credentialId)?.status).toBe('lost');
  });

  it('revokes a card by ending its validity, keeps it on record, and can reactivate it', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-13');
    const { href } = fake.issueCard(ch.id);
    const id = new URL(href).pathname;
    await driver.setCredentialState(accountIdOf(fake, ch.id), id, 'revoked');
    expect(fake.model.cardStatus(fake.resolveCard(href)!.card, Date.now() + 1000).type).toBe('expired');
    expect((await driver.getAccount(accountIdOf(fake, ch.id)))?.credentials[0].status).toBe('revoked');
    await driver.setCredentialState(accountIdOf(fake, ch.id), id, 'active');
    expect(fake.resolveCard(href)!.card).toMatchObject({ state: 'Active', until: undefined });
    expect((await driver.getAccount(accountIdOf(fake, ch.id)))?.credentials[0].status).toBe('active');
  });

  it("uses the site's own card state names", async () => {
    const states = ['Enabled', 'Switched off', 'Reported lost'];
    const { driver, fake } = await harness({
      fake: {
        seed: {
          cardTypes: [{ id: '700', name: 'Site card', credentialClass: 'card', states, minimumNumber: 1, maximumNumber: 9999 }],
        },
      },
      driver: { cardStates: { active: 'Enabled', suspended: 'Switched off', lost: 'Reported lost' } },
    });
    const ch = linkedCardholder(fake, 'E-14');
    const { href } = fake.issueCard(ch.id);
    await driver.setCredentialState(accountIdOf(fake, ch.id), new URL(href).pathname, 'lost');
    expect(fake.resolveCard(href)!.card.state).toBe('Reported lost');
    expect((await driver.getAccount(accountIdOf(fake, ch.id)))?.credentials[0].status).toBe('lost');
  });

  it('reports the last use of a card', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-15');
    const { card } = fake.issueCard(ch.id, { typeId: '654' });
    fake.recordAccess({ cardholderId: ch.id, cardKey: card.key, at: '2030-05-01T08:00:00Z' });
    const c = (await driver.getAccount(accountIdOf(fake, ch.id)))?.credentials[0];
    expect(c).toMatchObject({ type: 'mobile', lastUsedAt: '2030-05-01T08:00:00Z' });
  });
});

describe('Gallagher driver: access events', () => {
  it('reads granted and denied card events after the cursor, with account, card and door', async () => {
    const { driver, fake } = await harness({ driver: { eventsTop: 2 } });
    const ch = linkedCardholder(fake, 'E-16');
    fake.recordAccess({ cardholderId: ch.id });
    const start = await driver.readAccessEvents(null);
    expect(start.events).toEqual([]);
    const { card } = fake.issueCard(ch.id);
    fake.recordAccess({ cardholderId: ch.id, cardKey: card.key });
    fake.recordOperatorEvent(ch.id);
    fake.recordAccess({ cardholderId: ch.id, cardKey: card.key, granted: false, doorId: '746' });
    fake.recordAccess({ cardholderId: ch.id, cardKey: card.key });
    const seen = [];
    let cursor = start.cursor;
    for (let i = 0; i < 5; i++) {
      const r = await driver.readAccessEvents(cursor);
      seen.push(...r.events);
      cursor = r.cursor;
    }
    expect(seen.map((e) => e.granted)).toEqual([true, false, true]);
    expect(seen[1]).toMatchObject({
      accountId: accountIdOf(fake, ch.id),
      credentialId: fake.cardPath(ch.id, card.key),
      door: 'DC1 cage door',
    });
    expect(new Set(seen.map((e) => e.id)).size).toBe(3);
  });

  it('continues from a stored cursor in a new driver instance', async () => {
    const { driver, fake } = await harness();
    const ch = linkedCardholder(fake, 'E-17');
    const { cursor } = await driver.readAccessEvents(null);
    fake.recordAccess({ cardholderId: ch.id });
    const other = await createGallagherDriver({
      system: 'other',
      options: { url: fake.url, apiKey: fake.apiKey, division: `${fake.url}${fake.layout.divisions}/2` },
    });
    extra.push(other);
    const r = await other.readAccessEvents(cursor);
    expect(r.events).toHaveLength(1);
    expect((await other.readAccessEvents(r.cursor)).events).toHaveLength(0);
  });

  it('uses event type ids instead of the location block for servers older than 9.00', async () => {
    const { driver, fake } = await harness({ driver: { eventTypes: ['20001'] } });
    const ch = linkedCardholder(fake, 'E-18');
    const { cursor } = await driver.readAccessEvents(null);
    fake.recordAccess({ cardholderId: ch.id });
    fake.recordAccess({ cardholderId: ch.id, granted: false });
    const r = await driver.readAccessEvents(cursor);
    expect(r.events.map((e) => e.granted)).toEqual([true]);
    const asked = fake.requests.filter((x) => x.url.includes(fake.layout.events)).map((x) => new URL(x.url, fake.url).searchParams);
    expect(asked.every((q) => !(q.get('fields') ?? '').includes('location'))).toBe(true);
  });
});

describe('Gallagher driver: HTTP failures', () => {
  it('turns a refused API key into an auth error without retrying', async () => {
    const fake = await startFakeCommandCentre();
    extra.push(fake);
    const driver = await createGallagherDriver({
      system: 'cc',
      options: { url: fake.url, apiKey: 'WRONG-KEY', division: '/api/divisions/2' },
    });
    extra.push(driver);
    const err = await driver.listAccessGroups().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('auth');
    expect((err as LockstepError).retryable).toBe(false);
    expect((err as LockstepError).message).not.toContain('WRONG-KEY');
    expect(fake.requests.map((r) => r.status)).toEqual([401]);
  });

  it('retries a 429 after its Retry-After and succeeds', async () => {
    const { driver, fake } = await harness();
    await driver.listAccessGroups();
    fake.clearLog();
    fake.failNext(429, { times: 2, retryAfterSeconds: 0 });
    expect((await driver.listAccessGroups()).length).toBeGreaterThan(0);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('surfaces a Retry-After too long to wait in-process as rate_limited with the delay', async () => {
    const { driver, fake } = await harness();
    await driver.listAccessGroups();
    fake.failNext(429, { retryAfterSeconds: 120 });
    const err = (await driver.listAccessGroups().catch((e: unknown) => e)) as LockstepError;
    expect(err.code).toBe('rate_limited');
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(120_000);
  });
});

describe('Gallagher driver: configuration', () => {
  it('is registered as the gallagher factory and rejects bad options with the field', async () => {
    expect(factory.type).toBe('gallagher');
    const err = (await Promise.resolve(factory.create({ system: 'cc1', options: { url: 'ftp://x', apiKey: 'k', division: '/d' } })).catch(
      (e: unknown) => e,
    )) as LockstepError;
    expect(err.code).toBe('config');
    expect(err.field).toBe('systems.cc1.options.url');
    const both = (await Promise.resolve(factory.create({ system: 'cc1', options: { url: 'https://cc', apiKey: 'k', apiKeyFile: '/k', division: '/d' } })).catch(
      (e: unknown) => e,
    )) as LockstepError;
    expect(both.code).toBe('config');
  });

  it('presents the client certificate that Command Centre pins', async (ctx) => {
    let dir: string;
    try {
      dir = makeCertificates();
    } catch {
      return ctx.skip('openssl is not available to make test certificates');
    }
    try {
      const read = (f: string) => readFileSync(join(dir, f), 'utf8');
      const thumbprint = execFileSync('openssl', ['x509', '-in', join(dir, 'client.crt'), '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' });
      const fake = await startFakeCommandCentre({
        tls: { key: read('server.key'), cert: read('server.crt'), clientCertThumbprint: thumbprint.split('=')[1] },
      });
      extra.push(fake);
      const base = { url: fake.url, apiKey: fake.apiKey, division: '/api/divisions/2' };
      const withCert = await createGallagherDriver({
        system: 'cc',
        options: { ...base, clientCertificate: { cert: join(dir, 'client.crt'), key: join(dir, 'client.key'), ca: join(dir, 'ca.crt') } },
      });
      extra.push(withCert);
      expect((await withCert.listAccessGroups()).length).toBeGreaterThan(0);
      const withoutCert = await createGallagherDriver({ system: 'cc', options: { ...base, caFile: join(dir, 'ca.crt') } });
      extra.push(withoutCert);
      expect(((await withoutCert.listAccessGroups().catch((e: unknown) => e)) as LockstepError).code).toBe('auth');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const makeCertificates = () => makeTestCertificates('cc', 'lockstep REST client');

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockstepError } from '../../src/domain/errors.js';
import { makeTestCertificates } from '../../test/helpers/certs.js';
import { createConfiguredDriver } from '../../src/runtime/drivers.js';
import { createUhppotedDriver, factory, fromCardDates, toCardDates, type UhppotedDriver, type UhppotedOptions } from './driver.js';
import { startFakeUhppoted, type FakeUhppoted } from './fake/index.js';
import { HARNESS_CONTROLLERS, startUhppotedHarness, type UhppotedHarness } from './harness.js';

const [C1, C2] = HARNESS_CONTROLLERS;

describe('card dates', () => {
  it('round a window inwards to whole UTC days, and read back what they hold', () => {
    expect(toCardDates({ from: '2030-02-01T00:00:00.000Z', until: '2031-01-31T00:00:00.000Z' })).toEqual({ start: '2030-02-01', end: '2031-01-30' });
    // A from during a day starts the next day; an until during a day ends the day before.
    expect(toCardDates({ from: '2030-02-01T09:00:00.000Z', until: '2031-01-31T18:00:00.000Z' })).toEqual({ start: '2030-02-02', end: '2031-01-30' });
    expect(toCardDates({ from: null, until: null })).toEqual({ start: '2000-01-01', end: '2099-12-31' });
    expect(fromCardDates('2030-02-01', '2031-01-30')).toEqual({ from: '2030-02-01T00:00:00.000Z', until: '2031-01-31T00:00:00.000Z' });
    expect(fromCardDates('2000-01-01', '2099-12-31')).toEqual({ from: null, until: null });
  });
});

describe('uhppoted driver against the fake', () => {
  let h: UhppotedHarness | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await h?.teardown();
    h = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const card = (controller: number, id: string) => h!.fake.controller(controller).cards.get(Number(id));

  it('keeps a new card on every controller with no doors, and grants a group as door permissions (with its time profile)', async () => {
    h = await startUhppotedHarness();
    const a = await h.driver.upsertAccount({ externalId: 'E-1', displayName: 'Ada' });
    expect(Number(a.id)).toBeGreaterThanOrEqual(3_000_000_000);
    for (const c of HARNESS_CONTROLLERS) expect(card(c, a.id)?.doors).toEqual({ '1': false, '2': false, '3': false, '4': false });
    await h.driver.grant(a.id, 'entrance', { from: null, until: null });
    await h.driver.grant(a.id, 'vault', { from: null, until: null });
    expect(card(C1, a.id)?.doors).toEqual({ '1': true, '2': false, '3': false, '4': false });
    expect(card(C2, a.id)?.doors).toEqual({ '1': true, '2': false, '3': 29, '4': false });
    const got = await h.driver.getAccount(a.id);
    expect(got?.memberships.map((m) => m.group).sort()).toEqual(['entrance', 'vault']);
    expect(got?.credentials).toEqual([{ id: a.id, type: 'card', number: a.id, status: 'active', lastUsedAt: null }]);
    // A second grant writes nothing.
    const puts = h.fake.exchanges.filter((x) => x.method === 'PUT').length;
    await h.driver.grant(a.id, 'vault', { from: null, until: null });
    expect(h.fake.exchanges.filter((x) => x.method === 'PUT').length).toBe(puts);
  });

  it('revokes only the doors no other held group needs', async () => {
    h = await startUhppotedHarness({
      driver: {
        groups: {
          wing: [
            { controller: C1, door: 1 },
            { controller: C1, door: 2 },
          ],
          lab: [
            { controller: C1, door: 2 },
            { controller: C2, door: 4 },
          ],
        },
      },
    });
    const a = await h.driver.upsertAccount({ externalId: 'E-2', displayName: 'Bea' });
    await h.driver.grant(a.id, 'wing', { from: null, until: null });
    await h.driver.grant(a.id, 'lab', { from: null, until: null });
    await h.driver.revoke(a.id, 'lab');
    expect(card(C1, a.id)?.doors).toMatchObject({ '1': true, '2': true });
    expect(card(C2, a.id)?.doors['4']).toBe(false);
    expect((await h.driver.getAccount(a.id))?.memberships.map((m) => m.group)).toEqual(['wing']);
    await h.driver.revoke(a.id, 'wing');
    expect(card(C1, a.id)?.doors).toMatchObject({ '1': false, '2': false });
  });

  it('gives the card the hull of its groups’ windows, and narrows it when a group goes', async () => {
    h = await startUhppotedHarness();
    const a = await h.driver.upsertAccount({ externalId: 'E-3', displayName: 'Cy' });
    await h.driver.grant(a.id, 'entrance', { from: '2030-01-01T00:00:00.000Z', until: '2030-06-30T00:00:00.000Z' });
    await h.driver.grant(a.id, 'lab', { from: '2030-03-01T00:00:00.000Z', until: '2031-01-01T00:00:00.000Z' });
    expect(card(C1, a.id)).toMatchObject({ 'start-date': '2030-01-01', 'end-date': '2030-12-31' });
    expect(card(C2, a.id)).toMatchObject({ 'start-date': '2030-01-01', 'end-date': '2030-12-31' });
    expect((await h.driver.getAccount(a.id))?.validity).toEqual({ from: '2030-01-01T00:00:00.000Z', until: '2031-01-01T00:00:00.000Z' });
    await h.driver.revoke(a.id, 'lab');
    expect(card(C1, a.id)).toMatchObject({ 'start-date': '2030-01-01', 'end-date': '2030-06-29' });
    await h.driver.revoke(a.id, 'entrance');
    expect(card(C1, a.id)).toMatchObject({ 'start-date': '2000-01-01', 'end-date': '2099-12-31' });
  });

  it('reports the account window it wrote to the instant while the card holds it, and the card’s days once changed elsewhere', async () => {
    h = await startUhppotedHarness();
    const until = '2030-06-30T17:00:00.000Z';
    const a = await h.driver.upsertAccount({ externalId: 'E-8', displayName: 'Kim', validity: { from: null, until } });
    expect(card(C1, a.id)?.['end-date']).toBe('2030-06-29');
    expect((await h.driver.getAccount(a.id))?.validity).toEqual({ from: null, until });
    await h.driver.grant(a.id, 'lab', { from: '2030-01-01T08:00:00.000Z', until });
    expect((await h.driver.getAccount(a.id))?.validity).toEqual({ from: null, until });
    h.fake.putCard(C1, Number(a.id), { ...card(C1, a.id), 'end-date': '2030-12-31' });
    h.fake.putCard(C2, Number(a.id), { ...card(C2, a.id), 'end-date': '2030-12-31' });
    expect((await h.driver.getAccount(a.id))?.validity).toEqual({ from: null, until: '2031-01-01T00:00:00.000Z' });
  });

  it('suspends with a past end date on every controller and restores the dates, also across a grant while suspended', async () => {
    h = await startUhppotedHarness();
    const a = await h.driver.upsertAccount({ externalId: 'E-4', displayName: 'Di' });
    await h.driver.grant(a.id, 'entrance', { from: null, until: '2090-07-01T00:00:00.000Z' });
    const swipe = () =>
      fetch(`${h!.fake.url}/device/${C1}/door/1/swipes`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('lockstep:secret').toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ 'card-number': Number(a.id) }),
      }).then((r) => r.status);
    expect(await swipe()).toBe(200);
    await h.driver.setAccountState(a.id, 'suspended');
    for (const c of HARNESS_CONTROLLERS) expect(card(c, a.id)?.['end-date']).toBe('2000-01-01');
    const s = await h.driver.getAccount(a.id);
    expect(s?.state).toBe('suspended');
    expect(s?.credentials[0]?.status).toBe('suspended');
    expect(s?.validity).toEqual({ from: null, until: '2090-07-01T00:00:00.000Z' });
    expect(await swipe()).toBe(401);
    await h.driver.grant(a.id, 'lab', { from: null, until: '2090-09-01T00:00:00.000Z' });
    expect(card(C1, a.id)?.['end-date']).toBe('2000-01-01');
    expect(await swipe()).toBe(401);
    await h.driver.setAccountState(a.id, 'active');
    for (const c of HARNESS_CONTROLLERS) expect(card(c, a.id)).toMatchObject({ 'start-date': '2000-01-01', 'end-date': '2090-08-31' });
    expect((await h.driver.getAccount(a.id))?.state).toBe('active');
    expect(await swipe()).toBe(200);
  });

  it('keeps the dates of a group it does not know the window of when granting another to a suspended card', async () => {
    h = await startUhppotedHarness();
    const a = await h.driver.upsertAccount({ externalId: 'E-9', displayName: 'Lu' });
    // Doors and dates set outside lockstep: the registry knows no window for entrance.
    for (const c of HARNESS_CONTROLLERS) h.fake.putCard(c, Number(a.id), { 'start-date': '2024-01-01', 'end-date': '2090-12-31', doors: { '1': true } });
    await h.driver.setAccountState(a.id, 'suspended');
    await h.driver.grant(a.id, 'lab', { from: null, until: '2030-01-01T00:00:00.000Z' });
    await h.driver.setAccountState(a.id, 'active');
    expect(card(C1, a.id)).toMatchObject({ 'start-date': '2000-01-01', 'end-date': '2090-12-31', doors: { '1': true, '2': true } });
  });

  it('keeps names, externalIds, windows and suspended dates in the registry file across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uhppoted-'));
    dirs.push(dir);
    const registryFile = join(dir, 'holders.json');
    h = await startUhppotedHarness({ driver: { registryFile } });
    const a = await h.driver.upsertAccount({ externalId: 'E-5', displayName: 'Eve' });
    await h.driver.grant(a.id, 'lab', { from: '2030-01-01T00:00:00.000Z', until: '2030-02-01T00:00:00.000Z' });
    await h.driver.setAccountState(a.id, 'suspended');
    expect(statSync(registryFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(registryFile, 'utf8')).holders[a.id]).toMatchObject({ externalId: 'E-5', displayName: 'Eve' });

    const again = await createUhppotedDriver({ system: 's', options: driverOptions(h.fake, { registryFile }) });
    try {
      const found = await again.findAccount('E-5');
      expect(found).toMatchObject({ id: a.id, externalId: 'E-5', displayName: 'Eve', state: 'suspended' });
      await again.setAccountState(a.id, 'active');
      expect(card(C1, a.id)).toMatchObject({ 'start-date': '2030-01-01', 'end-date': '2030-01-31' });
    } finally {
      await again.close();
    }
    // Without the file, a restarted driver still finds the card by its derived number, but knows no name.
    const forgetful = await createUhppotedDriver({ system: 's', options: driverOptions(h.fake) });
    try {
      expect(await forgetful.findAccount('E-5')).toMatchObject({ id: a.id, externalId: 'E-5', displayName: `Card ${a.id}` });
    } finally {
      await forgetful.close();
    }
  });

  it('with cardNumbers externalId, the externalId is the card number; cards pins others; cards from elsewhere list without an externalId', async () => {
    h = await startUhppotedHarness({ driver: { cardNumbers: 'externalId', cards: { 'HR-7': 8165538 } } });
    const a = await h.driver.upsertAccount({ externalId: '10058400', displayName: 'Fay' });
    expect(a.id).toBe('10058400');
    const b = await h.driver.upsertAccount({ externalId: 'HR-7', displayName: 'Gus' });
    expect(b).toMatchObject({ id: '8165538', externalId: 'HR-7' });
    const err = await h.driver.upsertAccount({ externalId: 'HR-8', displayName: 'Hal' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockstepError);
    expect((err as LockstepError).code).toBe('validation');
    expect(await h.driver.findAccount('HR-8')).toBeNull();
    h.fake.putCard(C1, 555, {});
    const listed = (await h.driver.listAccounts(null)).items;
    expect(listed.find((x) => x.id === '555')).toMatchObject({ externalId: '555', displayName: 'Card 555' });
    expect(listed.find((x) => x.id === '8165538')?.externalId).toBe('HR-7');
  });

  it('refuses an upsert whose card number is already another holder’s', async () => {
    h = await startUhppotedHarness({ driver: { cards: { 'X-1': 4242, 'X-2': 4242 } } });
    await h.driver.upsertAccount({ externalId: 'X-1', displayName: 'One' });
    await expect(h.driver.upsertAccount({ externalId: 'X-2', displayName: 'Two' })).rejects.toMatchObject({ code: 'conflict' });
    expect(await h.driver.findAccount('X-2')).toBeNull();
  });

  it('reads swipes by index per controller: null is from now on, door events are skipped, overwritten events are passed over', async () => {
    h = await startUhppotedHarness({ fake: { maxEvents: 3 } });
    const a = await h.driver.upsertAccount({ externalId: 'E-6', displayName: 'Ida' });
    h.fake.swipe(C1, 1, Number(a.id), true);
    const start = await h.driver.readAccessEvents(null);
    expect(start.events).toEqual([]);
    // Controllers in serial-number order: C2 (303986753) before C1.
    expect(start.cursor).toBe(`${C2}=0,${C1}=1`);
    h.fake.swipe(C1, 2, Number(a.id), false);
    h.fake.doorEvent(C2, 3);
    h.fake.swipe(C2, 1, Number(a.id), true);
    const r = await h.driver.readAccessEvents(start.cursor);
    expect(r.events.map((e) => ({ id: e.id, door: e.door, granted: e.granted, accountId: e.accountId, credentialId: e.credentialId }))).toEqual([
      { id: `${C2}:2`, door: `${C2}:1`, granted: true, accountId: a.id, credentialId: a.id },
      { id: `${C1}:2`, door: `${C1}:2`, granted: false, accountId: a.id, credentialId: a.id },
    ]);
    expect(r.cursor).toBe(`${C2}=2,${C1}=2`);
    expect((await h.driver.readAccessEvents(r.cursor)).events).toEqual([]);
    // Five more on C1: the controller keeps three (indices 5..7), so 3 and 4 are gone.
    for (let i = 0; i < 5; i++) h.fake.swipe(C1, 1, Number(a.id), true);
    const later = await h.driver.readAccessEvents(r.cursor);
    expect(later.events.map((e) => e.id)).toEqual([`${C1}:5`, `${C1}:6`, `${C1}:7`]);
  });

  it('reads events in batches and starts over from the last event when a controller’s index goes back', async () => {
    const warnings: string[] = [];
    const fake = await startFakeUhppoted({ controllers: [C1] });
    const d = await createUhppotedDriver({
      system: 's',
      options: { url: fake.url, groups: { g: [{ controller: C1, door: 1 }] }, cardNumbers: 'derive', eventsBatch: 2 },
      logger: { info: () => {}, warn: (_o, m) => warnings.push(m ?? ''), error: () => {} },
    });
    try {
      const { cursor } = await d.readAccessEvents(null);
      for (let i = 0; i < 3; i++) fake.swipe(C1, 1, 1000 + i, true);
      const one = await d.readAccessEvents(cursor);
      expect(one.events.map((e) => e.accountId)).toEqual(['1000', '1001']);
      const two = await d.readAccessEvents(one.cursor);
      expect(two.events.map((e) => e.accountId)).toEqual(['1002']);
      const back = await d.readAccessEvents(`${C1}=500`);
      expect(back).toEqual({ events: [], cursor: `${C1}=3` });
      expect(warnings.some((w) => /went back/.test(w))).toBe(true);
      await expect(d.readAccessEvents('garbage')).rejects.toMatchObject({ code: 'validation' });
    } finally {
      await d.close();
      await fake.close();
    }
  });

  it('states what it cannot do: no lost/revoked card states, no unknown groups, no card for a foreign id', async () => {
    h = await startUhppotedHarness();
    const a = await h.driver.upsertAccount({ externalId: 'E-7', displayName: 'Jo' });
    await expect(h.driver.setCredentialState(a.id, a.id, 'lost')).rejects.toMatchObject({ code: 'precondition' });
    await h.driver.setCredentialState(a.id, a.id, 'suspended');
    expect((await h.driver.getAccount(a.id))?.state).toBe('suspended');
    await expect(h.driver.grant(a.id, 'nowhere', { from: null, until: null })).rejects.toMatchObject({ code: 'validation' });
    expect(await h.driver.getAccount('not-a-card')).toBeNull();
    await expect(h.driver.grant('12', 'lab', { from: null, until: null })).rejects.toMatchObject({ code: 'not_found' });
    await expect(h.driver.revoke('12', 'lab')).resolves.toBeUndefined();
  });

  it('talks HTTPS with the client certificate uhppoted-rest asks for, and reports a missing one as auth', async (ctx) => {
    let dir: string;
    try {
      dir = makeCertificates();
    } catch {
      return ctx.skip('openssl is not available to make test certificates');
    }
    dirs.push(dir);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    const fake = await startFakeUhppoted({ tls: { key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt') } });
    const withCert = await createUhppotedDriver({
      system: 's',
      options: { ...driverOptions(fake), caFile: join(dir, 'ca.crt'), clientCertificate: { cert: join(dir, 'client.crt'), key: join(dir, 'client.key') } },
    });
    const withoutCert = await createUhppotedDriver({ system: 's', options: { ...driverOptions(fake), caFile: join(dir, 'ca.crt'), maxAttempts: 1 } });
    try {
      expect(fake.url.startsWith('https://')).toBe(true);
      expect((await withCert.listAccessGroups()).map((g) => g.ref)).toEqual(['entrance', 'lab']);
      const a = await withCert.upsertAccount({ externalId: 'T-1', displayName: 'Tls' });
      expect(fake.controller(C1).cards.has(Number(a.id))).toBe(true);
      await expect(withoutCert.listAccessGroups()).rejects.toMatchObject({ code: 'auth' });
    } finally {
      await withCert.close();
      await withoutCert.close();
      await fake.close();
    }
  });

  it('is registered as type uhppoted and validates its options', async () => {
    const fake = await startFakeUhppoted();
    try {
      expect(factory.type).toBe('uhppoted');
      const registered = await createConfiguredDriver('uhppoted', { system: 'door', options: driverOptions(fake) });
      expect(registered).toBeInstanceOf((await import('./driver.js')).UhppotedDriver);
      await registered.close?.();
      const d = (await factory.create({ system: 'door', options: driverOptions(fake) })) as UhppotedDriver;
      expect(d.capabilities).toMatchObject({ validity: 'account', suspendAccount: true, credentialStates: false, accessEvents: 'cursor', deleteAccount: true });
      expect(d.controllers).toEqual([C2, C1].sort((x, y) => x - y));
      await d.close();
      const { cardNumbers: _n, ...noNumbers } = driverOptions(fake);
      await expect(createUhppotedDriver({ system: 'door', options: noNumbers })).rejects.toMatchObject({
        code: 'config',
        field: 'systems.door.options.cardNumbers',
      });
      await expect(
        createUhppotedDriver({ system: 'door', options: { ...driverOptions(fake), groups: { g: [{ controller: C1, door: 5 }] } } }),
      ).rejects.toMatchObject({
        code: 'config',
      });
      await expect(createUhppotedDriver({ system: 'door', options: { ...driverOptions(fake), caFile: '/nonexistent/ca.pem' } })).rejects.toMatchObject({
        code: 'config',
        field: 'systems.door.options.caFile',
      });
      const { password: _p, ...noPassword } = driverOptions(fake);
      await expect(createUhppotedDriver({ system: 'door', options: noPassword })).rejects.toMatchObject({
        code: 'config',
        field: 'systems.door.options.username',
      });
    } finally {
      await fake.close();
    }
  });
});

function driverOptions(fake: FakeUhppoted, extra: Partial<UhppotedOptions> = {}): UhppotedOptions & Record<string, unknown> {
  return {
    url: fake.url,
    username: 'lockstep',
    password: 'secret',
    groups: {
      entrance: [
        { controller: C1, door: 1 },
        { controller: C2, door: 1 },
      ],
      lab: [{ controller: C1, door: 2 }],
    },
    cardNumbers: 'derive',
    ...extra,
  };
}

const makeCertificates = () => makeTestCertificates('uhppoted', 'lockstep');

import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createUhppotedDriver, type UhppotedDriver, type UhppotedOptions } from './driver.js';
import { startFakeUhppoted, type FakeUhppoted, type FakeUhppotedOptions } from './fake/index.js';

/**
 * A fake uhppoted-rest with two controllers and a driver connected to it over real HTTP, plus
 * the levers the conformance kit needs. For tests and demos; no test framework imports here.
 */
export interface UhppotedHarness extends ConformanceHarness {
  driver: UhppotedDriver;
  fake: FakeUhppoted;
}

export const HARNESS_CONTROLLERS = [405419896, 303986753] as const;

/** Groups over the two controllers: `entrance` spans both, `lab` and `vault` one door each. */
export const HARNESS_GROUPS: UhppotedOptions['groups'] = {
  entrance: {
    name: 'Entrance',
    doors: [
      { controller: 405419896, door: 1 },
      { controller: 303986753, door: 1 },
    ],
  },
  lab: [{ controller: 405419896, door: 2 }],
  vault: { name: 'Vault', doors: [{ controller: 303986753, door: 3, profile: 29 }] },
};

export async function startUhppotedHarness(opts: { fake?: FakeUhppotedOptions; driver?: Partial<UhppotedOptions> } = {}): Promise<UhppotedHarness> {
  const fake = await startFakeUhppoted({ controllers: [...HARNESS_CONTROLLERS], auth: { username: 'lockstep', password: 'secret' }, ...opts.fake });
  const driver = await createUhppotedDriver({
    system: 'uhppoted-test',
    options: {
      url: fake.url,
      username: 'lockstep',
      password: 'secret',
      groups: HARNESS_GROUPS,
      cardNumbers: 'derive',
      pageSize: 100,
      ...opts.driver,
    },
  });
  let seeded = 0;
  return {
    fake,
    driver,
    groups: ['entrance', 'lab'],
    async addCredential(accountId) {
      // The card is the account: it is already issued.
      return accountId;
    },
    async recordAccess(accountId, credentialId) {
      if (credentialId !== accountId) throw new Error(`fake: ${credentialId} is not the card of ${accountId}`);
      const n = Number(accountId);
      if (!fake.controller(HARNESS_CONTROLLERS[0]).cards.has(n)) throw new Error(`fake: no card ${accountId}`);
      fake.swipe(HARNESS_CONTROLLERS[0], 1, n, true);
    },
    async seedAccounts(count) {
      // Cards issued on the controllers directly (say, by uhppoted-app-sheets): no name, no externalId.
      for (let i = 0; i < count; i++) {
        const n = 10_000_000 + ++seeded;
        for (const c of HARNESS_CONTROLLERS) fake.putCard(c, n, { 'start-date': '2024-01-01', 'end-date': '2030-12-31' });
      }
    },
    async failNext(status, o) {
      fake.failNext(status, o);
    },
    async teardown() {
      await driver.close();
      await fake.close();
    },
  };
}

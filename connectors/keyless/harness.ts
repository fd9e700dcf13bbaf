import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createKeylessDriver, type KeylessDriver, type KeylessOptions } from './driver.js';
import { startFakeKeyless, type FakeKeyless, type FakeKeylessOptions } from './fake/index.js';

/**
 * A fake Keyless Administration API and a driver connected to it over real HTTP on loopback,
 * plus the levers the conformance kit needs. For tests and demos; no test framework imports here.
 *
 * Access groups: `entrance` (the swing handle and the yard padlock) and `keys` (the key deposit).
 */
export interface KeylessHarness extends ConformanceHarness {
  driver: KeylessDriver;
  fake: FakeKeyless;
}

export const HARNESS_GROUPS = {
  entrance: { name: 'Entrance', lockingDevices: ['ld-entrance', 'ld-yard'] },
  keys: { name: 'Key deposit', lockingDevices: ['ld-keys'] },
} as const;

/** The options a driver needs to talk to this fake (for a lockstep.yaml in end-to-end tests too). */
export function driverOptionsFor(fake: FakeKeyless, extra: Partial<KeylessOptions> = {}): KeylessOptions {
  return {
    url: fake.url,
    apiKey: fake.apiKey,
    login: { userId: fake.admin.userId, accessKey: fake.admin.accessKey },
    accessGroups: {
      entrance: { ...HARNESS_GROUPS.entrance, lockingDevices: [...HARNESS_GROUPS.entrance.lockingDevices] },
      keys: { ...HARNESS_GROUPS.keys, lockingDevices: [...HARNESS_GROUPS.keys.lockingDevices] },
    },
    pageSize: 100,
    ...extra,
  };
}

export async function startKeylessHarness(opts: { fake?: FakeKeylessOptions; driver?: Partial<KeylessOptions> } = {}): Promise<KeylessHarness> {
  const fake = await startFakeKeyless(opts.fake);
  const driver = await createKeylessDriver({ system: 'keyless-test', options: { ...driverOptionsFor(fake, opts.driver) } }, {});
  return {
    fake,
    driver,
    groups: ['entrance', 'keys'],
    async addCredential(accountId) {
      return fake.addOperatingDevice(accountId).id;
    },
    async recordAccess() {
      // The Administration API lockstep read of has no access events (capabilities.accessEvents: 'none').
      throw new Error('fake Keyless records no access events');
    },
    async seedAccounts(count) {
      fake.seedUsers(count, { externalIdPrefix: 'seed-' });
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

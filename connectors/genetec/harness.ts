import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createGenetecDriver, type GenetecDriver, type GenetecOptions } from './driver.js';
import { startFakeGenetec, type FakeGenetec, type FakeGenetecOptions } from './fake/index.js';

/**
 * A fake Security Center Web SDK and a driver connected to it over real HTTP on loopback, plus
 * the levers the conformance kit needs. For tests and demos; no test framework imports here.
 */
export interface GenetecHarness extends ConformanceHarness {
  driver: GenetecDriver;
  fake: FakeGenetec;
}

export const HARNESS_FIELD = 'LockstepId';

/** Options that connect a driver to this fake (url, user, ApplicationId, password). */
export function fakeConnection(fake: FakeGenetec): Pick<GenetecOptions, 'url' | 'username' | 'applicationId' | 'password'> {
  return { url: fake.url, username: fake.username, applicationId: fake.applicationId, password: fake.password };
}

export async function startGenetecHarness(
  opts: { fake?: FakeGenetecOptions; driver?: Partial<GenetecOptions>; system?: string } = {},
): Promise<GenetecHarness> {
  const fake = await startFakeGenetec({ customFields: [HARNESS_FIELD], ...opts.fake });
  const driver = await createGenetecDriver({
    system: opts.system ?? 'genetec-test',
    options: { ...fakeConnection(fake), pageSize: 100, ...opts.driver },
  });
  const cardholder = (accountId: string): string => {
    if (!fake.cardholders.has(accountId)) throw new Error(`fake has no cardholder ${accountId}`);
    return accountId;
  };
  const groups =
    opts.driver?.accessGroups === 'cardholderGroups'
      ? [...fake.cardholderGroups.keys()]
      : [...fake.accessRules.values()].filter((r) => !r.system).map((r) => r.guid);
  return {
    fake,
    driver,
    groups,
    async addCredential(accountId) {
      return fake.issueCredential(cardholder(accountId)).guid;
    },
    async recordAccess(accountId, credentialId) {
      const c = fake.credentials.get(credentialId);
      if (!c || c.cardholder !== cardholder(accountId)) throw new Error(`fake: ${credentialId} is not a credential of ${accountId}`);
      fake.recordAccess({ cardholder: accountId, credential: credentialId });
    },
    async seedAccounts(count) {
      fake.seedCardholders(count, { customField: HARNESS_FIELD });
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

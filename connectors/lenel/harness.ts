import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createLenelDriver, type LenelDriver, type LenelOptions } from './driver.js';
import { startFakeLenel, type FakeLenel, type FakeLenelOptions } from './fake/index.js';

/**
 * A fake OpenAccess and a driver connected to it over real HTTP on loopback, plus the levers the
 * conformance kit needs. For tests and demos; no test framework imports here.
 */
export interface LenelHarness extends ConformanceHarness {
  driver: LenelDriver;
  fake: FakeLenel;
}

export async function startLenelHarness(opts: { fake?: FakeLenelOptions; driver?: Partial<LenelOptions> } = {}): Promise<LenelHarness> {
  const fake = await startFakeLenel(opts.fake);
  const driver = await createLenelDriver({
    system: 'lenel-test',
    options: {
      url: fake.url,
      applicationId: fake.applicationId,
      userName: fake.user.user_name,
      password: fake.user.password,
      directoryId: fake.user.directory_id,
      issueBadge: { typeId: 1 },
      pageSize: 100,
      ...opts.driver,
    },
  });
  const personId = (accountId: string): number => {
    const id = Number(accountId);
    if (!fake.cardholders().some((c) => c.ID === id)) throw new Error(`fake has no cardholder ${accountId}`);
    return id;
  };
  return {
    fake,
    driver,
    groups: ['1', '2'],
    async addCredential(accountId) {
      return String(fake.issueBadge(personId(accountId)).BADGEKEY);
    },
    async recordAccess(accountId, credentialId) {
      const b = fake.badgesOf(personId(accountId)).find((x) => String(x.BADGEKEY) === credentialId);
      if (!b) throw new Error(`fake: ${credentialId} is not a badge of ${accountId}`);
      fake.recordAccess({ badgeKey: b.BADGEKEY as number });
    },
    async seedAccounts(count) {
      fake.seedCardholders(count, { ssnoPrefix: 'seed-' });
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

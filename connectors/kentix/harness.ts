import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { credentialIds } from './api.js';
import { createKentixDriver, type KentixDriver, type KentixOptions } from './driver.js';
import { startFakeKentix, type FakeKentix, type FakeKentixOptions } from './fake/index.js';

/**
 * A fake Kentix SmartAPI and a driver connected to it over real HTTP on loopback, plus the levers
 * the conformance kit needs. For tests and demos; no test framework imports here.
 */
export interface KentixHarness extends ConformanceHarness {
  driver: KentixDriver;
  fake: FakeKentix;
}

export async function startKentixHarness(opts: { fake?: FakeKentixOptions; driver?: Partial<KentixOptions> } = {}): Promise<KentixHarness> {
  const fake = await startFakeKentix(opts.fake);
  const driver = await createKentixDriver({
    system: 'kentix-test',
    options: { url: fake.url, token: fake.token, apiUser: fake.users.get(fake.apiUserId)!.username, userGroupId: 2, pageSize: 100, ...opts.driver },
  });
  const userId = (accountId: string): number => {
    const id = Number(accountId);
    if (!fake.users.has(id)) throw new Error(`fake has no user ${accountId}`);
    return id;
  };
  return {
    fake,
    driver,
    groups: ['1', '2'],
    async addCredential(accountId) {
      return credentialIds.rfid(fake.issueRfid(userId(accountId)));
    },
    async recordAccess(accountId, credentialId) {
      const u = fake.users.get(userId(accountId))!;
      if (credentialId !== credentialIds.rfid(u.rfid ?? '')) throw new Error(`fake: ${credentialId} is not the token of ${accountId}`);
      // the kit's account holds no profile: the booking is recorded as granted, as asked
      fake.recordAccess({ userId: u.id, medium: 'rfid', granted: true });
    },
    async seedAccounts(count) {
      fake.seedUsers(count);
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

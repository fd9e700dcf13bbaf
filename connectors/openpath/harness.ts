import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createOpenpathDriver, type OpenpathDriver, type OpenpathOptions } from './driver.js';
import { startFakeOpenpath, type FakeCredentialKind, type FakeOpenpath, type FakeOpenpathOptions } from './fake/index.js';

/**
 * A fake Openpath API and a driver connected to it over real HTTP on loopback, plus the levers
 * the conformance kit needs. For tests and demos; no test framework imports here.
 */
export interface OpenpathHarness extends ConformanceHarness {
  driver: OpenpathDriver;
  fake: FakeOpenpath;
}

export async function startOpenpathHarness(
  opts: { fake?: FakeOpenpathOptions; driver?: Partial<OpenpathOptions>; credentialKind?: FakeCredentialKind } = {},
): Promise<OpenpathHarness> {
  const fake = await startFakeOpenpath(opts.fake);
  const driver = await createOpenpathDriver({
    system: 'openpath-test',
    options: {
      url: fake.url,
      orgId: fake.orgId,
      token: fake.token,
      placeholderEmailDomain: 'badges.example.com',
      pageSize: 100,
      ...opts.driver,
    },
  });
  const userId = (accountId: string): number => {
    const id = Number(accountId);
    if (!fake.users.has(id)) throw new Error(`fake has no user ${accountId}`);
    return id;
  };
  return {
    fake,
    driver,
    groups: ['101', '102'],
    async addCredential(accountId) {
      return String(fake.issueCredential(userId(accountId), opts.credentialKind ?? 'cardOpenpathDesfireEv1').id);
    },
    async recordAccess(accountId, credentialId) {
      const c = fake.credentials.get(Number(credentialId));
      if (!c || c.userId !== userId(accountId)) throw new Error(`fake: ${credentialId} is not a credential of ${accountId}`);
      fake.recordAccess({ userId: c.userId, credentialId: c.id });
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

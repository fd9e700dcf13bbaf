import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createGallagherDriver, type GallagherDriver, type GallagherOptions } from './driver.js';
import { startFakeCommandCentre, type FakeCommandCentre, type FakeCommandCentreOptions } from './fake/index.js';

/**
 * A fake Command Centre and a driver connected to it over real HTTP, plus the levers the
 * conformance kit needs. For tests and demos; no test framework imports here.
 */
export interface GallagherHarness extends ConformanceHarness {
  driver: GallagherDriver;
  fake: FakeCommandCentre;
}

export async function startGallagherHarness(opts: { fake?: FakeCommandCentreOptions; driver?: Partial<GallagherOptions> } = {}): Promise<GallagherHarness> {
  // Scrambled paths by default: a driver that builds URLs instead of following hrefs fails here.
  const fake = await startFakeCommandCentre({ layout: 'scrambled', ...opts.fake });
  const driver = await createGallagherDriver({
    system: 'cc-test',
    options: {
      url: fake.url,
      apiKey: fake.apiKey,
      externalIdField: 'lockstep id',
      linkAccessGroup: '360',
      division: `${fake.url}${fake.layout.divisions}/2`,
      pageSize: 100,
      ...opts.driver,
    },
  });
  const cardholder = (accountId: string) => {
    const ch = fake.resolveCardholder(accountId);
    if (!ch) throw new Error(`fake has no cardholder ${accountId}`);
    return ch;
  };
  return {
    fake,
    driver,
    groups: ['352', '353'],
    async addCredential(accountId) {
      return new URL(fake.issueCard(cardholder(accountId).id).href).pathname;
    },
    async recordAccess(accountId, credentialId) {
      const hit = fake.resolveCard(credentialId);
      if (!hit || hit.cardholder.id !== cardholder(accountId).id) throw new Error(`fake: ${credentialId} is not a card of ${accountId}`);
      fake.recordAccess({ cardholderId: hit.cardholder.id, cardKey: hit.card.key });
    },
    async seedAccounts(count) {
      fake.seedCardholders(count, { linkPdf: 'lockstep id', linkGroupId: '360' });
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

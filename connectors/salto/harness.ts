import * as grpc from '@grpc/grpc-js';
import type { ConformanceHarness } from '../../src/drivers/contract.js';
import { createSaltoDriver, type SaltoDriver, type SaltoOptions } from './driver.js';
import { startFakeNebula, type FakeNebula, type FakeNebulaOptions } from './fake/index.js';

/**
 * A fake Salto Nebula (gRPC on loopback, with its OAuth2 token endpoint) and a driver connected
 * to it over real gRPC, plus the levers the conformance kit needs. For tests and demos; no test
 * framework imports here.
 */
export interface SaltoHarness extends ConformanceHarness {
  driver: SaltoDriver;
  fake: FakeNebula;
  /** The fake's user resource name for a driver account id. */
  userName(accountId: string): string;
}

/** The kit speaks HTTP statuses; the fake answers with the gRPC status Nebula would send for each. */
export function grpcStatusFor(httpStatus: number): grpc.status {
  switch (httpStatus) {
    case 400:
      return grpc.status.INVALID_ARGUMENT;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.NOT_FOUND;
    case 409:
      return grpc.status.ALREADY_EXISTS;
    case 412:
      return grpc.status.FAILED_PRECONDITION;
    case 429:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 501:
      return grpc.status.UNIMPLEMENTED;
    case 503:
      return grpc.status.UNAVAILABLE;
    case 504:
      return grpc.status.DEADLINE_EXCEEDED;
    default:
      return httpStatus >= 500 ? grpc.status.INTERNAL : grpc.status.UNKNOWN;
  }
}

export async function startSaltoHarness(opts: { fake?: FakeNebulaOptions; driver?: Partial<SaltoOptions> } = {}): Promise<SaltoHarness> {
  const fake = await startFakeNebula(opts.fake);
  const driver = await createSaltoDriver({
    system: 'salto-test',
    options: {
      address: fake.address,
      plaintext: true,
      installation: fake.installation,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      tokenUrl: fake.tokenUrl,
      pageSize: 100,
      ...opts.driver,
    },
  });
  const userName = (accountId: string): string => {
    const name = `${fake.installation}/users/${accountId}`;
    if (!fake.users.has(name)) throw new Error(`fake has no user ${accountId}`);
    return name;
  };
  return {
    fake,
    driver,
    userName,
    groups: ['office', 'lab'],
    async addCredential(accountId) {
      fake.issueCardKey(userName(accountId));
      return `${accountId}/card_key`;
    },
    async recordAccess(accountId, credentialId) {
      const kind = credentialId.slice(credentialId.lastIndexOf('/') + 1);
      if (credentialId !== `${accountId}/${kind}`) throw new Error(`fake: ${credentialId} is not a key of ${accountId}`);
      fake.recordAccess(userName(accountId), { kind: kind as 'card_key' });
    },
    async seedAccounts(count) {
      fake.seedUsers(count);
    },
    async failNext(status, o) {
      fake.failNext(grpcStatusFor(status), o);
    },
    async teardown() {
      await driver.close();
      await fake.close();
    },
  };
}

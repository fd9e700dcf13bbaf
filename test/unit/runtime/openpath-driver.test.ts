import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenpath, type FakeOpenpath } from '../../../connectors/openpath/index.js';
import { createConfiguredDriver } from '../../../src/runtime/drivers.js';

/** The composition root registers the Openpath driver as type `openpath` (loaded on first use). */

let fake: FakeOpenpath | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('built-in driver type openpath', () => {
  it('creates the Openpath driver from a system block, talking to the API it names', async () => {
    fake = await startFakeOpenpath();
    const d = await createConfiguredDriver('openpath', { system: 'alta', options: { url: fake.url, orgId: fake.orgId, token: fake.token } });
    try {
      expect(d.name).toBe('alta');
      expect(d.capabilities).toMatchObject({ validity: 'account', suspendAccount: true, credentialStates: true, accessEvents: 'cursor', deleteAccount: true });
      expect((await d.listAccessGroups()).map((g) => g.ref)).toEqual(['101', '102', '103']);
    } finally {
      await d.close?.();
    }
  });

  it('reports bad options as a config error naming the field', async () => {
    await expect(createConfiguredDriver('openpath', { system: 'alta', options: { orgId: 'twelve', token: 't' } })).rejects.toMatchObject({
      code: 'config',
      field: 'systems.alta.options.orgId',
    });
  });
});

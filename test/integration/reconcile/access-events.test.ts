import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { pullAccessEvents } from '../../../src/reconcile/index.js';
import { credentialFactsFor, getSyncState, recordCredentialUse } from '../../../src/store/index.js';

const credentialUsageFor = async (...a: Parameters<typeof credentialFactsFor>) => (await credentialFactsFor(...a)).lastUsed;
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';
import { MAPPINGS } from './mappings.js';

describe.each(storeKinds)('credential last use on %s', (kind) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await createTestStore(kind);
  });
  afterAll(async () => {
    await store.drop();
  });

  describe('in the store', () => {
    it('keeps the latest of several uses of one card in one batch', async () => {
      await recordCredentialUse(store.db, 'dc1', [
        { credentialId: 'C1', accountId: 'A1', at: '2026-06-01T08:00:00.000Z' },
        { credentialId: 'C1', accountId: 'A1', at: '2026-06-01T09:30:00.000Z' },
        { credentialId: 'C2', accountId: 'A2', at: '2026-06-01T07:00:00.000Z' },
        { credentialId: 'C1', accountId: 'A1', at: '2026-06-01T09:00:00.000Z' },
      ]);
      const usage = await credentialUsageFor(store.db, 'dc1', ['C1', 'C2']);
      expect(Object.fromEntries(usage)).toEqual({ C1: '2026-06-01T09:30:00.000Z', C2: '2026-06-01T07:00:00.000Z' });
    });

    it('never moves a stored last use back for events read late, and keeps its account', async () => {
      await recordCredentialUse(store.db, 'dc1', [{ credentialId: 'C3', accountId: 'A3', at: '2026-06-02T12:00:00.000Z' }]);
      await recordCredentialUse(store.db, 'dc1', [
        { credentialId: 'C3', accountId: 'A-old', at: '2026-06-01T08:00:00.000Z' },
        { credentialId: 'C3', accountId: null, at: '2026-06-01T08:30:00.000Z' },
      ]);
      expect((await credentialUsageFor(store.db, 'dc1', ['C3'])).get('C3')).toBe('2026-06-02T12:00:00.000Z');
      const { rows } = await store.db.query<{ account_id: string | null }>(
        "SELECT account_id FROM credential_usage WHERE system = 'dc1' AND credential_id = 'C3'",
      );
      expect(rows[0]?.account_id).toBe('A3');
    });
  });

  describe('read from the lock system', () => {
    let e: TestEngine;
    beforeEach(async () => {
      e = await createTestEngine(kind, MAPPINGS, { store });
    });
    afterEach(async () => {
      await e.close();
    });

    it('records the last use when one card is used twice in a batch, and moves on to the next batch', async () => {
      const acc = e.sim.state.createAccount({ externalId: 'E1', displayName: 'Ada' });
      e.sim.state.putMembership(acc.id, 'AG-PERIM', {});
      const card = e.sim.state.issueCredential(acc.id, { number: '4711' });
      const first = e.sim.state.swipe({ credentialId: card.id, door: 'AG-PERIM-door' });
      await sleep(2); // two swipes a moment apart, as at a door and a turnstile behind it
      const second = e.sim.state.swipe({ credentialId: card.id, door: 'AG-PERIM-door' });
      expect([first.granted, second.granted]).toEqual([true, true]);

      await expect(pullAccessEvents(e.ctx, 'dc1')).resolves.toEqual({ events: 2 });
      expect((await credentialUsageFor(e.ctx.db, 'dc1', [card.id])).get(card.id)).toBe(second.event.at);
      expect(await getSyncState(e.ctx.db, 'events:dc1')).toEqual({ cursor: second.event.id });

      // the next interval reads only what is new
      await sleep(2);
      const third = e.sim.state.swipe({ credentialId: card.id, door: 'AG-PERIM-door' });
      await expect(pullAccessEvents(e.ctx, 'dc1')).resolves.toEqual({ events: 1 });
      expect((await credentialUsageFor(e.ctx.db, 'dc1', [card.id])).get(card.id)).toBe(third.event.at);
    });
  });
});

/**
 * SCIM writes in `serve` record the identities they change as pending in the write's own
 * transaction: a change acknowledged to the client is pending in the store even when nothing
 * after the commit happens (the queue unreachable, the process killed), so it is reconciled
 * when the queue is back (recoverPending) instead of at the next full run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKinds } from '../../helpers/db.js';
import { pendingStats } from '../../../src/store/index.js';
import { startScim, type ScimHarness } from './harness.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe.each(storeKinds)('SCIM pending changes on %s', (kind) => {
  let h: ScimHarness;
  beforeAll(async () => {
    h = await startScim(kind, {}, {}, { markPending: true, failOnChange: true });
  });
  afterAll(async () => {
    await h?.close();
  });

  const lanes = async () => {
    const { rows } = await h.store.db.query<{ identity_id: string; lane: string; reason: string }>(
      'SELECT identity_id, lane, reason FROM queue_pending ORDER BY reason',
    );
    return rows;
  };

  it('keeps a joiner and then a leaver pending when onChange fails after the commit', async () => {
    const created = await h.req('POST', '/Users', { schemas: [USER], userName: 'pending.one@example.test', active: true });
    expect(created.status).toBe(201);
    const call = h.calls.at(-1)!;
    expect(call.pendingAt).toBeTypeOf('number');
    const [id] = call.ids;
    expect(await lanes()).toEqual([{ identity_id: id, lane: 'normal', reason: 'scim:change' }]);

    const off = await h.req('PATCH', `/Users/${created.body.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(off.status).toBe(200);
    // one row per identity, moved up to the revocation lane
    expect(await lanes()).toEqual([{ identity_id: id, lane: 'revocation', reason: 'scim:leaver' }]);
    expect((await pendingStats(h.store.db)).count).toBe(1);
  });

  it('records nothing for a write that changes nothing, and nothing for a write that fails', async () => {
    const before = (await pendingStats(h.store.db)).count;
    const created = await h.req('POST', '/Users', { schemas: [USER], userName: 'pending.two@example.test', active: true });
    const after = (await pendingStats(h.store.db)).count;
    expect(after).toBe(before + 1);
    // the same value again: no write, no pending change
    const same = await h.req('PATCH', `/Users/${created.body.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: true }] });
    expect(same.status).toBe(200);
    // a taken userName: the transaction rolls back with its pending mark
    const taken = await h.req('POST', '/Users', { schemas: [USER], userName: 'pending.one@example.test' });
    expect(taken.status).toBe(409);
    expect((await pendingStats(h.store.db)).count).toBe(after);
  });
});

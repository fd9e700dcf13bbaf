/**
 * The usual PATCH goes without a transaction (read, then one statement that writes only at the
 * version read). Concurrent PATCHes of one user must still lose nothing: each one that lost the
 * race tries again or takes the locking path, and every change, audit entry and version lands.
 * Real PostgreSQL with a pool, so the writes really overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScimService } from '../../../src/sources/scim/service.js';
import { iterateAudit } from '../../../src/store/audit.js';
import { getIdentity } from '../../../src/store/index.js';
import { createTestStore, type TestStore } from '../../helpers/db.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('concurrent PATCHes of one user on PostgreSQL', () => {
  let store: TestStore;
  let scim: ScimService;
  beforeAll(async () => {
    store = await createTestStore('postgres', { poolSize: 8 });
    scim = new ScimService({ db: store.db, source: 'scim', markPending: true });
  });
  afterAll(async () => {
    await store?.drop();
  });

  it('applies every one of 16 overlapping PATCHes: all phone numbers, one version each, one audit entry each', async () => {
    const created = await scim.createUser({ schemas: [USER], userName: 'race@example.com', externalId: 'R-1', displayName: 'Race Condition' });
    const id = created.row.id;
    const n = 16;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        scim.patchUser(id, { schemas: [PATCH], Operations: [{ op: 'add', path: 'phoneNumbers', value: [{ value: `+49 30 ${1000 + i}`, type: 'work' }] }] }),
      ),
    );
    expect(results.every((r) => r.written)).toBe(true);
    const row = (await scim.getUser(id))!;
    const phones = ((row.resource.phoneNumbers as Array<{ value: string }>) ?? []).map((p) => p.value).sort();
    expect(phones).toEqual(Array.from({ length: n }, (_, i) => `+49 30 ${1000 + i}`).sort());
    expect(row.version).toBe(1 + n);
    const versions = new Set(results.map((r) => r.row.version));
    expect(versions.size).toBe(n);
    let patched = 0;
    for await (const e of iterateAudit(store.db, { subject: created.row.identity_id })) if (e.action === 'scim.user.patched') patched++;
    expect(patched).toBe(n);
  });

  it('deactivates through the optimistic path: the identity becomes a leaver and is pending in the revocation lane', async () => {
    const created = await scim.createUser({ schemas: [USER], userName: 'leaving@example.com', externalId: 'R-2', displayName: 'Leaving' });
    const r = await scim.patchUser(created.row.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect([...r.changes.leavers]).toEqual([created.row.identity_id]);
    expect(r.changes.pendingAt).toBeDefined();
    expect((await getIdentity(store.db, created.row.identity_id))?.active).toBe(false);
    const { rows } = await store.db.query<{ lane: string }>('SELECT lane FROM queue_pending WHERE identity_id = $1', [created.row.identity_id]);
    expect(rows).toEqual([{ lane: 'revocation' }]);
  });

  it('refuses a stale If-Match and writes nothing', async () => {
    const created = await scim.createUser({ schemas: [USER], userName: 'etag@example.com', externalId: 'R-3' });
    await scim.patchUser(created.row.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Second' }] });
    await expect(
      scim.patchUser(created.row.id, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'displayName', value: 'Third' }] }, 'W/"1"'),
    ).rejects.toMatchObject({ status: 412 });
    expect((await scim.getUser(created.row.id))!.resource.displayName).toBe('Second');
  });
});

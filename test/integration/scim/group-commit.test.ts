/**
 * The group commit of SCIM creates (issue 28): POSTs of new people that arrive together share one
 * autocommit statement, and each behaves as it would alone: a taken userName is a 409 for exactly
 * the request that lost, a rehire brings its identity back, two creates of one externalId see each
 * other as they would one after the other, and every user has its identity, its audit entry (in
 * order, the chain intact) and its pending mark.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestStore, resetStore, storeKinds, type TestStore } from '../../helpers/db.js';
import { getIdentity, iterateAudit, verifyAudit, type Db } from '../../../src/store/index.js';
import { ScimService, type UserResult } from '../../../src/sources/scim/service.js';
import { ScimError } from '../../../src/sources/scim/errors.js';
import { startScim, type ScimHarness } from './harness.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const user = (userName: string, extra: Record<string, unknown> = {}) => ({ schemas: [USER], userName, active: true, ...extra });

/** How many transactions wrote these users (one: they shared a statement). */
async function transactionsOf(db: Db, ids: string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(DISTINCT xmin::text)::int AS n FROM scim_users WHERE id = ANY($1::uuid[])', [ids]);
  return Number(rows[0].n);
}

async function pendingOf(db: Db, ids: string[]) {
  const { rows } = await db.query<{ identity_id: string; lane: string; reason: string }>(
    'SELECT identity_id, lane, reason FROM queue_pending WHERE identity_id = ANY($1::uuid[]) ORDER BY identity_id',
    [ids],
  );
  return rows;
}

async function createdEntries(db: Db) {
  const out: Array<{ seq: number; subject: string | null; data: Record<string, unknown> }> = [];
  for await (const e of iterateAudit(db)) if (e.action === 'scim.user.created') out.push({ seq: e.seq, subject: e.subject, data: e.data });
  return out;
}

const ok = (r: PromiseSettledResult<UserResult>): UserResult => {
  if (r.status !== 'fulfilled') throw r.reason;
  return r.value;
};

describe.each(storeKinds)('SCIM group commit of creates on %s', (kind) => {
  describe('over HTTP', () => {
    let h: ScimHarness;
    beforeAll(async () => {
      h = await startScim(kind, {}, {}, { markPending: true });
    });
    afterAll(async () => {
      await h?.close();
    });

    it('answers 64 concurrent POSTs 201, each user with its identity, one audit entry and a pending mark', async () => {
      const names = Array.from({ length: 64 }, (_, i) => `burst-${String(i).padStart(2, '0')}@example.com`);
      const res = await Promise.all(names.map((n) => h.req('POST', '/Users', user(n, { displayName: n }))));
      expect(res.map((r) => r.status)).toEqual(names.map(() => 201));
      expect(res.map((r) => r.body.userName)).toEqual(names);
      const ids = res.map((r) => r.body.id as string);
      expect(new Set(ids).size).toBe(64);
      const listed = await h.req('GET', `/Users?filter=${encodeURIComponent('userName sw "burst-"')}&count=100`);
      expect(listed.body.totalResults).toBe(64);
      for (const r of res) {
        expect(await getIdentity(h.store.db, r.body.id)).toMatchObject({ source: 'scim', userName: r.body.userName, active: true, deletedAt: null });
      }
      const entries = await createdEntries(h.store.db);
      expect(entries.map((e) => e.subject).sort()).toEqual([...ids].sort());
      for (const e of entries) {
        const r = res.find((x) => x.body.id === e.subject)!;
        expect(e.data).toEqual({ scimId: r.body.id, userName: r.body.userName, externalId: null, active: true, version: 1 });
      }
      expect(await pendingOf(h.store.db, ids)).toEqual([...ids].sort().map((identity_id) => ({ identity_id, lane: 'normal', reason: 'scim:change' })));
      // each request handed its own change to onChange, recorded as pending with the write
      for (const id of ids) expect(h.calls.filter((c) => c.ids.includes(id))).toEqual([{ ids: [id], leaver: false, pendingAt: expect.any(Number) }]);
      expect(await verifyAudit(h.store.db)).toMatchObject({ ok: true, entries: 64 });
    });

    it('answers a duplicate userName among concurrent POSTs 409 naming userName, and only that one', async () => {
      const bodies = [user('dup.one@example.com'), user('fresh.a@example.com'), user('DUP.ONE@example.com'), user('fresh.b@example.com')];
      const res = await Promise.all(bodies.map((b) => h.req('POST', '/Users', b)));
      const dups = [res[0], res[2]];
      expect(dups.map((r) => r.status).sort()).toEqual([201, 409]);
      expect(dups.find((r) => r.status === 409)!.body).toMatchObject({ status: '409', scimType: 'uniqueness', detail: expect.stringContaining('userName') });
      expect([res[1].status, res[3].status]).toEqual([201, 201]);
      expect((await h.req('GET', `/Users?filter=${encodeURIComponent('userName eq "dup.one@example.com"')}`)).body.totalResults).toBe(1);
    });
  });

  describe('in the service', () => {
    let store: TestStore;
    let service: ScimService;
    beforeAll(async () => {
      store = await createTestStore(kind);
    });
    beforeEach(async () => {
      await resetStore(store.db);
      service = new ScimService({ db: store.db, source: 'scim', markPending: true });
    });
    afterAll(async () => {
      await store?.drop();
    });

    it('commits creates that arrive together in one statement, their audit entries in the order they came', async () => {
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => service.createUser(user(`together-${i}@example.com`))));
      const ids = results.map((r) => r.row.id);
      expect(await transactionsOf(store.db, ids)).toBe(1);
      expect((await createdEntries(store.db)).map((e) => e.subject)).toEqual(ids);
      for (const r of results) {
        expect(r.changes.changed).toEqual(new Set([r.row.id]));
        expect(r.changes.pendingAt).toBeTypeOf('number');
      }
      expect(await pendingOf(store.db, ids)).toHaveLength(16);
      expect(await verifyAudit(store.db)).toMatchObject({ ok: true, entries: 16 });
    });

    it('stores for each create in a batch exactly what a create alone stores', async () => {
      const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
      const body = (tag: string, i: number) =>
        user(`full-${i}-${tag}@example.com`, {
          schemas: [USER, ENT],
          externalId: `E-FULL-${i}-${tag}`,
          name: { givenName: 'Ada', familyName: `Lovelace ${i}`, formatted: `Ada Lovelace ${i}` },
          displayName: `Ada Lovelace ${i}`,
          title: 'Engineer',
          emails: [{ value: `ada.${i}.${tag}@example.com`, type: 'work', primary: true }],
          phoneNumbers: [{ value: '+49 30 1234', type: 'work' }],
          [ENT]: { employeeNumber: `${1000 + i}`, department: 'Data Centre', manager: { value: 'boss' } },
          active: i !== 1,
        });
      const aloneService = new ScimService({ db: store.db, source: 'scim', markPending: true, groupCommit: false });
      const alone = [];
      for (let i = 0; i < 3; i++) alone.push(await aloneService.createUser(body('alone', i)));
      const batch = await Promise.all([0, 1, 2].map((i) => service.createUser(body('batch', i))));
      expect(
        await transactionsOf(
          store.db,
          batch.map((r) => r.row.id),
        ),
      ).toBe(1);
      /** Everything stored for a user, with its ids, tag and instants taken out. */
      const stored = async (id: string, tag: string) => {
        const u = await store.db.query('SELECT user_name_key, external_id, identity_key, active, resource, version FROM scim_users WHERE id = $1', [id]);
        const i = await store.db.query('SELECT source, external_id, user_name, active, data, keyed_by_id, deleted_at FROM identities WHERE id = $1', [id]);
        const p = await store.db.query('SELECT lane, reason FROM queue_pending WHERE identity_id = $1', [id]);
        const a: unknown[] = [];
        for await (const e of iterateAudit(store.db, { subject: id })) a.push({ actor: e.actor, action: e.action, data: e.data, runId: e.runId });
        const text = JSON.stringify({ u: u.rows, i: i.rows, p: p.rows, a })
          .replaceAll(id, '<id>')
          .replaceAll(tag, '<tag>')
          .replace(/\d{4}-\d\d-\d\dT[0-9:.]+Z/g, '<at>');
        return JSON.parse(text) as unknown;
      };
      for (let i = 0; i < 3; i++) {
        expect(batch[i].changes.leavers.size).toBe(alone[i].changes.leavers.size);
        expect(await stored(batch[i].row.id, 'batch')).toEqual(await stored(alone[i].row.id, 'alone'));
      }
      expect(await stored(batch[1].row.id, 'batch')).toMatchObject({ i: [{ active: false }], p: [{ lane: 'revocation', reason: 'scim:leaver' }] });
    });

    it('a create alone is its own statement, answered without waiting for others', async () => {
      const a = await service.createUser(user('alone-a@example.com'));
      const b = await service.createUser(user('alone-b@example.com'));
      expect(await transactionsOf(store.db, [a.row.id, b.row.id])).toBe(2);
    });

    it('refuses, within a batch, the second of one userName and one a live user holds, and writes the rest', async () => {
      const held = await service.createUser(user('held@example.com'));
      const bodies = [user('same@example.com'), user('ok-1@example.com'), user('SAME@example.com'), user('HELD@example.com'), user('ok-2@example.com')];
      const settled = await Promise.allSettled(bodies.map((b) => service.createUser(b)));
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
      for (const k of [2, 3]) {
        const e = (settled[k] as PromiseRejectedResult).reason as ScimError;
        expect(e).toBeInstanceOf(ScimError);
        expect(e).toMatchObject({ httpStatus: 409, scimType: 'uniqueness', field: 'userName' });
        expect(e.message).toContain('userName');
      }
      const written = [0, 1, 4].map((k) => ok(settled[k]).row.id);
      expect(await transactionsOf(store.db, written)).toBe(1);
      // the losers left nothing: no identity, no audit entry, no pending mark
      const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM identities');
      expect(Number(rows[0].n)).toBe(4);
      expect((await createdEntries(store.db)).map((e) => e.subject)).toEqual([held.row.id, ...written]);
      expect((await pendingOf(store.db, [held.row.id, ...written])).length).toBe(4);
      expect((await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM queue_pending')).rows[0].n).toBe(4);
      expect(await verifyAudit(store.db)).toMatchObject({ ok: true, entries: 4 });
    });

    it('brings a deleted identity back for a rehire among new people in one batch', async () => {
      const gone = await service.createUser(user('leaver@example.com', { externalId: 'E-REHIRE' }));
      await service.deleteUser(gone.row.id);
      const settled = await Promise.allSettled([
        service.createUser(user('new-1@example.com')),
        service.createUser(user('rehired@example.com', { externalId: 'E-REHIRE' })),
        service.createUser(user('new-2@example.com')),
      ]);
      const [n1, back, n2] = settled.map(ok);
      expect(back.row.identity_id).toBe(gone.row.identity_id);
      expect(back.row.id).not.toBe(gone.row.id);
      expect(back.changes.changed).toEqual(new Set([gone.row.identity_id]));
      expect(await getIdentity(store.db, gone.row.identity_id)).toMatchObject({ deletedAt: null, userName: 'rehired@example.com', externalId: 'E-REHIRE' });
      expect(n1.row.identity_id).toBe(n1.row.id);
      expect(n2.row.identity_id).toBe(n2.row.id);
      expect(await transactionsOf(store.db, [n1.row.id, n2.row.id])).toBe(1);
      const subjects = (await createdEntries(store.db)).map((e) => e.subject);
      expect(subjects.filter((s) => s === gone.row.identity_id)).toHaveLength(2);
      expect(subjects).toEqual(expect.arrayContaining([n1.row.id, n2.row.id]));
      const pending = new Map((await pendingOf(store.db, [gone.row.identity_id, n1.row.id, n2.row.id])).map((p) => [p.identity_id, p]));
      expect(pending.get(n1.row.id)).toMatchObject({ lane: 'normal', reason: 'scim:change' });
      expect(pending.get(n2.row.id)).toMatchObject({ lane: 'normal', reason: 'scim:change' });
      // the rehire's change joins the leaver's, still pending: the revocation lane is kept
      expect(pending.get(gone.row.identity_id)).toMatchObject({ lane: 'revocation', reason: 'scim:change' });
      expect(await verifyAudit(store.db)).toMatchObject({ ok: true });
    });

    it('two new people with one externalId in a batch are both created and see each other as one after the other would', async () => {
      const holder = await service.createUser(user('holder@example.com', { externalId: 'E-SHARED' }));
      const [a, b, c] = (
        await Promise.allSettled([
          service.createUser(user('twin-a@example.com', { externalId: 'E-TWIN' })),
          service.createUser(user('twin-b@example.com', { externalId: 'E-TWIN' })),
          service.createUser(user('third@example.com', { externalId: 'E-SHARED' })),
        ])
      ).map(ok);
      expect(await transactionsOf(store.db, [a.row.id, b.row.id, c.row.id])).toBe(1);
      // as two creates in a row: the first sees no holder, the second sees the first
      expect(a.changes.changed).toEqual(new Set([a.row.id]));
      expect(b.changes.changed).toEqual(new Set([a.row.id, b.row.id]));
      // one already stored holds the key: it gets a look too
      expect(c.changes.changed).toEqual(new Set([holder.row.id, c.row.id]));
      // pending with the write when it concerns only the new person; otherwise the queue records them
      expect(a.changes.pendingAt).toBeTypeOf('number');
      expect(b.changes.pendingAt).toBeUndefined();
      expect(c.changes.pendingAt).toBeUndefined();
      for (const r of [a, b]) expect(await getIdentity(store.db, r.row.id)).toMatchObject({ externalId: 'E-TWIN', deletedAt: null });
      expect(await getIdentity(store.db, holder.row.id)).toMatchObject({ externalId: 'E-SHARED', deletedAt: null });
    });

    /** The store, with the batch statement failing once with this error. */
    const failingOnce = (error: Error) => {
      const state = { failed: false };
      const db = new Proxy(store.db, {
        get(target, prop) {
          if (prop === 'query')
            return async (sql: string, params?: unknown[]) => {
              if (!state.failed && sql.includes('WITH ORDINALITY AS t(id, source')) {
                state.failed = true;
                throw error;
              }
              return target.query(sql, params);
            };
          const v: unknown = Reflect.get(target, prop);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      return { db, state };
    };

    it('runs each create alone when PostgreSQL refuses the batch statement, and loses none', async () => {
      const { db, state } = failingOnce(Object.assign(new Error('deadlock detected'), { code: '40P01' }));
      const s = new ScimService({ db, source: 'scim', markPending: true });
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => s.createUser(user(`retry-${i}@example.com`))));
      expect(state.failed).toBe(true);
      const ids = results.map((r) => r.row.id);
      expect(await transactionsOf(store.db, ids)).toBe(5);
      expect((await createdEntries(store.db)).map((e) => e.subject).sort()).toEqual([...ids].sort());
      expect(await pendingOf(store.db, ids)).toHaveLength(5);
      expect(await verifyAudit(store.db)).toMatchObject({ ok: true, entries: 5 });
    });

    it('fails every create of the batch when the connection is lost under it (it may have committed), as a create alone fails', async () => {
      const { db, state } = failingOnce(new Error('Connection terminated unexpectedly'));
      const s = new ScimService({ db, source: 'scim', markPending: true });
      const settled = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => s.createUser(user(`lost-${i}@example.com`))));
      expect(state.failed).toBe(true);
      expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(settled.map((r) => (r as PromiseRejectedResult).reason.message)).toEqual(settled.map(() => 'Connection terminated unexpectedly'));
      // the next create goes on as usual
      expect((await s.createUser(user('after@example.com'))).row.id).toBeTypeOf('string');
    });

    it('with the group commit off, concurrent creates are a statement each', async () => {
      const s = new ScimService({ db: store.db, source: 'scim', groupCommit: false });
      const results = await Promise.all(Array.from({ length: 4 }, (_, i) => s.createUser(user(`single-${i}@example.com`))));
      expect(
        await transactionsOf(
          store.db,
          results.map((r) => r.row.id),
        ),
      ).toBe(4);
    });
  });
});

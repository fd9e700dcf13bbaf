import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, storeKinds, type TestStore } from '../../helpers/db.js';
import {
  appendAudit,
  findIdentityByUserName,
  getIdentity,
  listIdentities,
  markIdentityDeleted,
  migrate,
  upsertIdentity,
  verifyAudit,
  entryHash,
  createRun,
  transitionRun,
  findRun,
  syncAnchors,
  loadAnchors,
  upsertIdentities,
  findIdentityBySourceKey,
  iterateAudit,
  openStore,
  sealAudit,
  loadIdentityScope,
  saveLink,
} from '../../../src/store/index.js';

describe.each(storeKinds)('store on %s', (kind) => {
  let s: TestStore;
  beforeAll(async () => {
    s = await createTestStore(kind);
  });
  afterAll(async () => {
    await s.drop();
  });

  it('applies migrations once, even when asked again', async () => {
    expect(await migrate(s.db)).toEqual([]);
  });

  it('creates an identity, and an identical upsert changes nothing', async () => {
    const input = { source: 'hr', externalId: 'E1', userName: 'ada@example.com', department: 'DC Ops', groups: ['DC Operations'] };
    const a = await upsertIdentity(s.db, input);
    expect(a.created).toBe(true);
    const b = await upsertIdentity(s.db, { ...input, groups: ['DC Operations'] });
    expect(b.changed).toBe(false);
    expect(b.identity.version).toBe(a.identity.version);
    const c = await upsertIdentity(s.db, { ...input, department: 'Security' });
    expect(c.changed).toBe(true);
    expect(c.identity.version).toBe(a.identity.version + 1);
    expect((await getIdentity(s.db, a.identity.id))?.department).toBe('Security');
  });

  it('finds userName case-insensitively', async () => {
    const found = await findIdentityByUserName(s.db, 'ADA@example.com');
    expect(found?.externalId).toBe('E1');
  });

  it('rejects a malformed record naming the field, storing nothing', async () => {
    await expect(upsertIdentity(s.db, { source: 'hr', externalId: 'E2', userName: 'bob', hireDate: 'next tuesday' })).rejects.toMatchObject({
      code: 'validation',
      field: 'hireDate',
    });
    expect((await listIdentities(s.db)).map((i) => i.externalId)).toEqual(['E1']);
  });

  it('keeps a deleted identity for history and restores it on a later upsert', async () => {
    const { identity } = await upsertIdentity(s.db, { source: 'hr', externalId: 'E3', userName: 'carol' });
    const del = await markIdentityDeleted(s.db, identity.id);
    expect(del?.deletedAt).not.toBeNull();
    expect(del?.active).toBe(false);
    expect((await listIdentities(s.db)).some((i) => i.id === identity.id)).toBe(false);
    expect((await listIdentities(s.db, { includeDeleted: true })).some((i) => i.id === identity.id)).toBe(true);
    const back = await upsertIdentity(s.db, { source: 'hr', externalId: 'E3', userName: 'carol' });
    expect(back.identity.deletedAt).toBeNull();
    expect(back.identity.id).toBe(identity.id);
  });

  it('rolls a transaction back whole', async () => {
    await expect(
      s.db.transaction(async (tx) => {
        await upsertIdentity(tx, { source: 'hr', externalId: 'E4', userName: 'dan' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await listIdentities(s.db)).some((i) => i.externalId === 'E4')).toBe(false);
  });

  it('chains audit entries and verify finds an altered, a removed and a truncated entry', async () => {
    await appendAudit(s.db, [
      { actor: 'test', action: 'grant', subject: 'x', data: { group: 'A', reason: 'rule r1' } },
      { actor: 'test', action: 'revoke', subject: 'x', data: { group: 'B' } },
      { actor: 'test', action: 'grant', subject: 'y', data: { group: 'C' } },
    ]);
    await appendAudit(s.db, [{ actor: 'test', action: 'grant', subject: 'z', data: { group: 'D' } }]);
    expect(await verifyAudit(s.db)).toMatchObject({ ok: true, entries: 4 });

    await s.db.query(`UPDATE audit_log SET data = '{"group":"EVIL"}'::jsonb WHERE seq = 2`);
    expect(await verifyAudit(s.db)).toMatchObject({ ok: false, firstBadSeq: 2 });
    await s.db.query(`UPDATE audit_log SET data = '{"group":"B"}'::jsonb WHERE seq = 2`);
    expect((await verifyAudit(s.db)).ok).toBe(true);

    const saved = await s.db.query<Record<string, unknown>>('SELECT * FROM audit_log WHERE seq = 3');
    await s.db.query('DELETE FROM audit_log WHERE seq = 3');
    expect(await verifyAudit(s.db)).toMatchObject({ ok: false, firstBadSeq: 3 });
    const r = saved.rows[0];
    await s.db.query('INSERT INTO audit_log (seq, at, actor, action, subject, run_id, data, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)', [
      r.seq,
      r.at,
      r.actor,
      r.action,
      r.subject,
      r.run_id,
      JSON.stringify(r.data),
      r.prev_hash,
      r.hash,
    ]);
    expect((await verifyAudit(s.db)).ok).toBe(true);

    await s.db.query('DELETE FROM audit_log WHERE seq = 4');
    expect(await verifyAudit(s.db)).toMatchObject({
      ok: false,
      firstBadSeq: 4,
      problem: 'the log ends at 3 but its head says 4: entry 4 was removed from the end',
    });
  });

  it('names the first entry appended after the head, and says it was appended (not removed)', async () => {
    await sealAudit(s.db);
    await s.db.exec(`TRUNCATE audit_log, audit_pending; UPDATE audit_head SET seq = 0, hash = '${'0'.repeat(64)}' WHERE id = 1`);
    await appendAudit(s.db, [
      { actor: 'test', action: 'grant', subject: 'x', data: { group: 'A' } },
      { actor: 'test', action: 'grant', subject: 'y', data: { group: 'B' } },
    ]);
    expect(await verifyAudit(s.db)).toMatchObject({ ok: true, entries: 2 });
    // a well-formed entry 3, chained to entry 2, written straight into the table past the head
    const last = (await s.db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = 2')).rows[0].hash;
    const forged = { seq: 3, at: new Date().toISOString(), actor: 'mallory', action: 'grant', subject: 'z', runId: null, data: { group: 'VAULT' } };
    await s.db.query('INSERT INTO audit_log (seq, at, actor, action, subject, run_id, data, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)', [
      forged.seq,
      forged.at,
      forged.actor,
      forged.action,
      forged.subject,
      null,
      JSON.stringify(forged.data),
      last,
      entryHash(last, forged),
    ]);
    expect(await verifyAudit(s.db)).toMatchObject({
      ok: false,
      firstBadSeq: 3,
      problem: "entry 3 was appended after the head (which says 2): written outside lockstep's chain",
    });
    await s.db.exec(`TRUNCATE audit_log, audit_pending; UPDATE audit_head SET seq = 0, hash = '${'0'.repeat(64)}' WHERE id = 1`);
  });

  // the test above leaves a broken chain on purpose; the ones below start from an empty log
  const clearAudit = async () => {
    await sealAudit(s.db);
    await s.db.exec(`TRUNCATE audit_log, audit_pending; UPDATE audit_head SET seq = 0, hash = '${'0'.repeat(64)}' WHERE id = 1`);
  };

  it('keeps audit entries of a rolled-back transaction out of the log, and shows committed ones to the next reader', async () => {
    await clearAudit();
    const before = (await verifyAudit(s.db)).entries;
    await expect(
      s.db.transaction(async (tx) => {
        await appendAudit(tx, [{ actor: 'test', action: 'grant', subject: 'rolled-back', data: {} }]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await s.db.transaction(async (tx) => {
      await appendAudit(tx, [{ actor: 'test', action: 'grant', subject: 'committed', data: { at: 'tx' }, at: '2026-03-01T10:00:00Z' }]);
    });
    const seen: string[] = [];
    for await (const e of iterateAudit(s.db, { subject: 'committed' })) seen.push(`${e.action} ${e.at}`);
    expect(seen).toEqual(['grant 2026-03-01T10:00:00.000Z']);
    for await (const e of iterateAudit(s.db, { subject: 'rolled-back' })) seen.push(e.action);
    expect(seen).toHaveLength(1);
    expect(await verifyAudit(s.db)).toMatchObject({ ok: true, entries: before + 1, pending: 0 });
  });

  it('rejects an audit entry whose time is not an instant, and writes none of its batch', async () => {
    await clearAudit();
    const before = (await verifyAudit(s.db)).entries;
    await expect(
      appendAudit(s.db, [
        { actor: 'test', action: 'grant', subject: 'ok', data: {} },
        { actor: 'test', action: 'grant', subject: 'bad', data: {}, at: 'yesterday' },
      ]),
    ).rejects.toThrow(/at "yesterday" is not an instant/);
    expect((await verifyAudit(s.db)).entries).toBe(before);
  });

  it('chains entries from many concurrent transactions and two handles into one unbroken chain', async () => {
    await clearAudit();
    const before = (await verifyAudit(s.db)).entries;
    // a second handle on the same database stands for a second process (PostgreSQL only)
    const other = s.url ? await openStore({ databaseUrl: s.url, poolSize: 3 }) : s.db;
    try {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? other : s.db).transaction(async (tx) => {
            await appendAudit(tx, [
              { actor: 'test', action: 'grant', subject: `c${i}`, data: { n: i } },
              { actor: 'test', action: 'revoke', subject: `c${i}`, data: { n: i } },
            ]);
          }),
        ),
      );
      await sealAudit(other);
    } finally {
      if (other !== s.db) await other.close();
    }
    const v = await verifyAudit(s.db);
    expect(v).toMatchObject({ ok: true, entries: before + 80, pending: 0 });
    // a transaction's entries keep their order in the chain
    const order = new Map<string, string[]>();
    for await (const e of iterateAudit(s.db)) if (e.subject && /^c\d+$/.test(e.subject)) order.set(e.subject, [...(order.get(e.subject) ?? []), e.action]);
    expect(order.size).toBe(40);
    for (const actions of order.values()) expect(actions).toEqual(['grant', 'revoke']);
  });

  it('lets only one caller move a held run on', async () => {
    const run = await createRun(s.db, { kind: 'apply', trigger: 'test', status: 'held', scope: 'full', plan: null });
    const [a, b] = await Promise.all([transitionRun(s.db, run.id, ['held'], 'approved', 'alice'), transitionRun(s.db, run.id, ['held'], 'approved', 'bob')]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect((await findRun(s.db, run.id.slice(0, 8)))?.status).toBe('approved');
  });

  it('keeps entitlement anchors stable until the entitlement goes', async () => {
    const { identity } = await upsertIdentity(s.db, { source: 'hr', externalId: 'E9', userName: 'eve' });
    await syncAnchors(s.db, identity.id, { g1: '2026-01-01T00:00:00Z', g2: '2026-01-01T00:00:00Z' });
    await syncAnchors(s.db, identity.id, { g1: '2026-02-01T00:00:00Z' });
    await syncAnchors(s.db, identity.id, { g1: '2026-03-01T00:00:00Z', g2: '2026-03-01T00:00:00Z' });
    const a = (await loadAnchors(s.db, [identity.id])).get(identity.id)!;
    expect(a.g1).toBe('2026-01-01T00:00:00.000Z');
    expect(a.g2).toBe('2026-03-01T00:00:00.000Z');
  });

  it('reads an identity scope in one go: identities (a deleted one too) in id order, their anchors and links', async () => {
    const a = (await upsertIdentity(s.db, { source: 'scope', externalId: 'S1', userName: 'sa', department: 'Ops' })).identity;
    const b = (await upsertIdentity(s.db, { source: 'scope', externalId: 'S2', userName: 'sb' })).identity;
    const other = (await upsertIdentity(s.db, { source: 'scope', externalId: 'S3', userName: 'sc' })).identity;
    await markIdentityDeleted(s.db, b.id);
    await syncAnchors(s.db, a.id, { g1: '2026-01-01T00:00:00Z' });
    await syncAnchors(s.db, other.id, { g9: '2026-01-01T00:00:00Z' });
    await saveLink(s.db, { system: 'dc1', identityId: a.id, accountId: 'acc-a', externalId: 'S1' });
    await saveLink(s.db, { system: 'dc2', identityId: a.id, accountId: 'x-a', externalId: 'S1' });
    await saveLink(s.db, { system: 'dc1', identityId: other.id, accountId: 'acc-c', externalId: 'S3' });
    const scope = await loadIdentityScope(s.db, [b.id, a.id, 'not-a-uuid', a.id]);
    expect(scope.identities.map((i) => i.id)).toEqual([a.id, b.id].sort());
    // the same identities as the one-by-one reads give
    expect(scope.identities.find((i) => i.id === a.id)).toEqual(await getIdentity(s.db, a.id));
    expect(scope.identities.find((i) => i.id === b.id)?.deletedAt).not.toBeNull();
    expect(Object.fromEntries(scope.anchors)).toEqual({ [a.id]: { g1: '2026-01-01T00:00:00.000Z' } });
    expect(scope.links.sort((x, y) => x.system.localeCompare(y.system))).toEqual([
      { system: 'dc1', identityId: a.id, accountId: 'acc-a', externalId: 'S1' },
      { system: 'dc2', identityId: a.id, accountId: 'x-a', externalId: 'S1' },
    ]);
    // nobody else holds their externalIds: no correlation conflicts
    expect(scope.conflicts).toEqual(new Map());
    expect(scope.governance).toEqual({ exceptions: new Map(), grants: new Map() });
    expect(await loadIdentityScope(s.db, ['nope'])).toEqual({
      identities: [],
      anchors: new Map(),
      links: [],
      conflicts: new Map(),
      governance: { exceptions: new Map(), grants: new Map() },
    });
  });

  it.runIf(kind === 'postgres')('keeps answering when another process changes a table under a prepared statement', async () => {
    await s.db.exec("CREATE TABLE scratch_prepared (id int, a text); INSERT INTO scratch_prepared VALUES (1, 'x')");
    const read = () => s.db.query<Record<string, unknown>>('SELECT * FROM scratch_prepared WHERE id = $1', [1]);
    // prepared on several of the pool's connections
    await Promise.all(Array.from({ length: 8 }, read));
    const other = new pg.Client({ connectionString: s.url });
    await other.connect();
    await other.query("ALTER TABLE scratch_prepared ADD COLUMN b text DEFAULT 'new'");
    await other.end();
    const rows = await Promise.all(Array.from({ length: 8 }, read));
    for (const r of rows) expect(r.rows).toEqual([{ id: 1, a: 'x', b: 'new' }]);
  });

  it('upserts many identities at once with the meaning of one upsert each', async () => {
    const base = (i: number, extra: Record<string, unknown> = {}) => ({ source: 'bulk', externalId: `B${i}`, userName: `b${i}`, department: 'Ops', ...extra });
    const first = await upsertIdentities(
      s.db,
      Array.from({ length: 1500 }, (_, i) => base(i)),
    );
    expect(first.every((r) => r.created && r.changed)).toBe(true);
    const gone = await markIdentityDeleted(s.db, first[7].identity.id);
    expect(gone?.deletedAt).not.toBeNull();
    const second = await upsertIdentities(s.db, [
      base(1),
      base(2, { department: 'Security' }),
      base(7),
      base(9999),
      base(3, { department: 'A' }),
      base(3, { department: 'B' }),
    ]);
    expect(second.map((r) => [r.created, r.changed])).toEqual([
      [false, false], // identical: no change, no version bump
      [false, true],
      [false, true], // deleted one restored
      [true, true],
      [false, true], // a key twice: the last record wins
      [false, true],
    ]);
    expect(second[1].identity.version).toBe(first[2].identity.version + 1);
    expect(second[2].identity.deletedAt).toBeNull();
    expect(second[2].identity.id).toBe(first[7].identity.id);
    expect((await findIdentityBySourceKey(s.db, 'bulk', 'B3'))!.department).toBe('B');
    await expect(upsertIdentities(s.db, [base(5000), { ...base(5001), hireDate: 'soon' }])).rejects.toMatchObject({ code: 'validation', field: 'hireDate' });
    expect(await findIdentityBySourceKey(s.db, 'bulk', 'B5000')).toBeNull();
  });
});

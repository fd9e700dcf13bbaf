import { createHash } from 'node:crypto';
import type { Db, Queryable } from './db.js';
import { canonicalJson } from './identities.js';
import { LockstepError } from '../domain/errors.js';

export interface AuditEntryInput {
  /** Who: `system`, `cli:<user>`, `api:<token id>`, `scim`, `worker`. */
  actor: string;
  /** What: `grant`, `revoke`, `run.held`, `run.approved`, `credential.lost`, `identity.deleted`... */
  action: string;
  /** About whom or what: an identity id, `system:account`, a run id. */
  subject?: string | null;
  runId?: string | null;
  /** The details: reasons, validity, result. */
  data: Record<string, unknown>;
  /** Defaults to now. */
  at?: string;
}

export interface AuditEntry extends Required<Omit<AuditEntryInput, 'at'>> {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** sha256 over the previous hash and the entry's canonical JSON: altering, inserting or removing breaks the chain. */
export function entryHash(prevHash: string, e: Omit<AuditEntry, 'hash' | 'prevHash'>): string {
  const body = canonicalJson({ seq: e.seq, at: e.at, actor: e.actor, action: e.action, subject: e.subject, runId: e.runId, data: e.data });
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

/** Entries moved into the chain per sealing transaction. */
const SEAL_BATCH = 2000;

/**
 * Records audit entries. In a transaction (`tx`), they are written with the change they record
 * and commit or roll back with it; on the database itself they are written at once. Either way
 * they land in `audit_pending` without taking the chain's lock, and a sealer chains them
 * (sequence number, previous hash, hash) right after the commit, in batches: concurrent writers
 * no longer wait for each other's transactions on the chain's head row. Readers of the log
 * (`iterateAudit`, `verifyAudit`) seal first, so they see every committed entry.
 */
export async function appendAudit(q: Queryable | Db, entries: AuditEntryInput[]): Promise<void> {
  if (entries.length === 0) return;
  await q.query(`INSERT INTO audit_pending (at, actor, action, subject, run_id, data) ${pendingAuditSelect('$1')}`, [pendingAuditJson(entries)]);
  if ('transaction' in q) auditWritten(q);
  else q.afterCommit?.((db) => auditWritten(db));
}

/**
 * For statements that write audit entries together with other rows (one round trip): the
 * entries as one JSON parameter, and the SELECT that turns it into audit_pending's columns.
 * Call auditWritten(db) once the statement has committed.
 */
export function pendingAuditJson(entries: AuditEntryInput[]): string {
  return JSON.stringify(
    entries.map((e) => {
      const at = e.at === undefined ? new Date().toISOString() : isoInstant(e.at);
      // JSON round trip drops undefined so the stored jsonb and the hashed value agree.
      return { at, actor: e.actor, action: e.action, subject: e.subject ?? null, run_id: e.runId ?? null, data: JSON.parse(JSON.stringify(e.data)) as unknown };
    }),
  );
}

export function pendingAuditSelect(param: string): string {
  return `SELECT x.at, x.actor, x.action, x.subject, x.run_id, x.data
       FROM jsonb_to_recordset(${param}::jsonb) AS x(at text, actor text, action text, subject text, run_id uuid, data jsonb)`;
}

/**
 * How long a sealer waits after an entry is written before it starts: entries written in the
 * meantime (by this process) are chained in the same pass. Readers do not wait for it.
 */
const SEAL_DELAY_MS = 50;

/** Committed audit entries are waiting: chain them soon (in the background). */
export function auditWritten(db: Db): void {
  const s = sealState(db);
  // A pass that starts later will see these entries anyway.
  if (s.timer || s.queued) return;
  const t = new Promise<void>((resolve) => setTimeout(resolve, SEAL_DELAY_MS)).then(() => {
    s.timer = null;
    return scheduleSeal(db);
  });
  s.timer = t;
  db.track(t);
  t.catch(() => undefined);
}

function isoInstant(at: string): string {
  const ms = Date.parse(at);
  if (Number.isNaN(ms)) throw new LockstepError('validation', `audit entry: at ${JSON.stringify(at)} is not an instant`, { field: 'at' });
  return new Date(ms).toISOString();
}

/**
 * Chains every entry committed so far (and any committed while it runs); resolves with how
 * many it sealed. Concurrent calls share one sealing pass per database handle.
 */
export async function sealAudit(db: Db): Promise<number> {
  let total = 0;
  // A pass can leave rows behind when another process's sealer took part of its batch; a
  // reader goes on until nothing committed is left.
  for (let pass = 0; pass < 100; pass++) {
    total += await scheduleSeal(db);
    const any = await db.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM audit_pending) AS any');
    if (!any.rows[0]?.any) break;
  }
  return total;
}

interface SealState {
  /** A delayed pass (auditWritten) not started yet. */
  timer: Promise<number> | null;
  running: Promise<number> | null;
  /** A pass that starts when the running one ends: callers that came during a pass wait for it. */
  queued: Promise<number> | null;
}
const seals = new WeakMap<Db, SealState>();

function sealState(db: Db): SealState {
  let s = seals.get(db);
  if (!s) seals.set(db, (s = { timer: null, running: null, queued: null }));
  return s;
}

function scheduleSeal(db: Db): Promise<number> {
  const s = sealState(db);
  if (s.queued) return s.queued;
  const start = (): Promise<number> => {
    const p: Promise<number> = sealPending(db).finally(() => {
      if (s.running === p) s.running = null;
    });
    s.running = p;
    return p;
  };
  let p: Promise<number>;
  if (!s.running) p = start();
  else {
    p = s.running
      .catch(() => 0)
      .then(() => {
        s.queued = null;
        return start();
      });
    s.queued = p;
  }
  db.track(p);
  return p;
}

interface PendingRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  run_id: string | null;
  data: Record<string, unknown>;
}

async function sealPending(db: Db): Promise<number> {
  let total = 0;
  for (;;) {
    // No transaction (and no lock) when there is nothing to seal.
    const any = await db.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM audit_pending) AS any');
    if (!any.rows[0]?.any) return total;
    const n = await db.transaction(async (tx) => {
      // The head row's lock orders sealers (of every process) and is held until COMMIT; the
      // head read is its newest version (a sealer that waited for the lock sees the previous
      // one's head). The DELETE refers to h, so the lock is taken before any pending row is;
      // rows another sealer deleted and committed meanwhile are skipped.
      const { rows } = await tx.query<PendingRow & { head_seq: number; head_hash: string }>(
        `WITH h AS (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE),
              d AS (DELETE FROM audit_pending
                     WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT ${SEAL_BATCH}) AND EXISTS (SELECT 1 FROM h)
                    RETURNING id, at, actor, action, subject, run_id, data)
         SELECT h.seq AS head_seq, h.hash AS head_hash, d.* FROM h LEFT JOIN d ON true ORDER BY d.id`,
      );
      const head = rows[0];
      if (!head) throw new LockstepError('internal', 'the audit log has no head row (migration 1 creates it)');
      const taken = rows.filter((r) => r.id !== null);
      if (taken.length === 0) return 0;
      let seq = Number(head.head_seq);
      let prev = head.head_hash;
      const out: Record<string, unknown>[] = [];
      for (const r of taken) {
        seq += 1;
        const base = { seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, runId: r.run_id, data: r.data };
        const hash = entryHash(prev, base);
        out.push({ seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, run_id: r.run_id, data: r.data, prev_hash: prev, hash });
        prev = hash;
      }
      await tx.query(
        `WITH ins AS (
           INSERT INTO audit_log (seq, at, actor, action, subject, run_id, data, prev_hash, hash)
           SELECT x.seq, x.at, x.actor, x.action, x.subject, x.run_id, x.data, x.prev_hash, x.hash
             FROM jsonb_to_recordset($1::jsonb)
               AS x(seq bigint, at timestamptz, actor text, action text, subject text, run_id uuid, data jsonb, prev_hash text, hash text)
         )
         UPDATE audit_head SET seq = $2, hash = $3 WHERE id = 1`,
        [JSON.stringify(out), seq, prev],
      );
      return taken.length;
    });
    total += n;
    // A short batch is the end, unless another process's sealer took part of it meanwhile
    // (sealAudit checks again; background passes leave that to the next write's pass).
    if (n < SEAL_BATCH) return total;
  }
}

/** An audit_log row as pg returns it. */
export interface AuditRow {
  seq: number | string;
  at: Date | string;
  actor: string;
  action: string;
  subject: string | null;
  run_id: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** An audit_log row as an entry (every reader of the log maps it so). */
export function auditEntryFromRow(r: AuditRow): AuditEntry {
  return {
    seq: Number(r.seq),
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    runId: r.run_id,
    data: r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export async function* iterateAudit(q: Queryable, opts: { pageSize?: number; subject?: string; since?: string } = {}): AsyncGenerator<AuditEntry> {
  if ('transaction' in q) await sealAudit(q as Db);
  let after = 0;
  const size = opts.pageSize ?? 2000;
  for (;;) {
    const params: unknown[] = [after, size];
    let where = 'seq > $1';
    if (opts.subject) {
      params.push(opts.subject);
      where += ` AND subject = $${params.length}`;
    }
    if (opts.since) {
      params.push(opts.since);
      where += ` AND at >= $${params.length}`;
    }
    const { rows } = await q.query<AuditRow>(`SELECT * FROM audit_log WHERE ${where} ORDER BY seq LIMIT $2`, params);
    for (const r of rows) yield auditEntryFromRow(r);
    if (rows.length < size) return;
    after = Number(rows[rows.length - 1].seq);
  }
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** The first sequence number at which the chain is broken. */
  firstBadSeq: number | null;
  problem: string | null;
  /** Committed entries not yet chained (only when sealing them failed). */
  pending: number;
}

/**
 * Walks the whole chain. Finds an altered entry (its hash no longer matches), an inserted or
 * removed one (sequence gap or prev-hash mismatch), and a truncated tail (head disagrees).
 */
export async function verifyAudit(q: Queryable): Promise<AuditVerifyResult> {
  if ('transaction' in q) await sealAudit(q as Db).catch(() => 0);
  const pending = Number((await q.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_pending')).rows[0]?.n ?? 0);
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let n = 0;
  for await (const e of iterateAudit(q)) {
    n++;
    const bad = (problem: string): AuditVerifyResult => ({ ok: false, entries: n, firstBadSeq: Math.min(e.seq, expectSeq), problem, pending });
    if (e.seq !== expectSeq) return bad(`sequence gap: expected ${expectSeq}, found ${e.seq} (an entry was removed)`);
    if (e.prevHash !== prev) return bad(`entry ${e.seq} does not follow entry ${e.seq - 1} (prev_hash mismatch: inserted or removed entry)`);
    if (entryHash(prev, e) !== e.hash) return bad(`entry ${e.seq} was altered (its hash does not match its content)`);
    prev = e.hash;
    expectSeq++;
  }
  const head = await q.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
  const h = head.rows[0];
  if (h) {
    const last = expectSeq - 1;
    const headSeq = Number(h.seq);
    // entries past the head were written around lockstep's sealing: the first of them is the bad one
    if (last > headSeq) {
      const extra = last - headSeq;
      return {
        ok: false,
        entries: n,
        firstBadSeq: headSeq + 1,
        problem: `${extra === 1 ? `entry ${headSeq + 1} was` : `entries ${headSeq + 1} to ${last} were`} appended after the head (which says ${headSeq}): written outside lockstep's chain`,
        pending,
      };
    }
    if (last < headSeq) {
      return {
        ok: false,
        entries: n,
        firstBadSeq: expectSeq,
        problem: `the log ends at ${last} but its head says ${headSeq}: ${headSeq - last === 1 ? `entry ${headSeq} was` : `entries ${expectSeq} to ${headSeq} were`} removed from the end`,
        pending,
      };
    }
    if (h.hash !== prev)
      return {
        ok: false,
        entries: n,
        firstBadSeq: last,
        problem: `entry ${last} is not the one the head sealed (its hash differs from the head's): the tail was rewritten`,
        pending,
      };
  }
  return { ok: true, entries: n, firstBadSeq: null, problem: null, pending };
}

/**
 * One page of the log, newest first (the console's audit view, issue 26): entries before `before`
 * (a sequence number: the cursor of the next page), about one of `subjects` (the subject, or the
 * identity an entry's data names), at or after `since`. Reads `limit + 1` rows to say whether
 * there is more.
 */
export async function auditPageNewestFirst(
  q: Queryable | Db,
  opts: { limit: number; before?: number | null; subjects?: string[] | null; since?: string | null; action?: string | null },
): Promise<{ entries: AuditEntry[]; more: boolean; next: number | null }> {
  if ('transaction' in q) await sealAudit(q);
  const params: unknown[] = [opts.limit + 1];
  const where: string[] = [];
  if (opts.before != null) {
    params.push(opts.before);
    where.push(`seq < $${params.length}`);
  }
  if (opts.subjects) {
    params.push(opts.subjects);
    where.push(`(subject = ANY($${params.length}::text[]) OR data->>'identityId' = ANY($${params.length}::text[]))`);
  }
  if (opts.since) {
    params.push(opts.since);
    where.push(`at >= $${params.length}`);
  }
  if (opts.action) {
    params.push(opts.action);
    where.push(`action = $${params.length}`);
  }
  const { rows } = await q.query<AuditRow>(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $1`, params);
  const more = rows.length > opts.limit;
  const entries = rows.slice(0, opts.limit).map(auditEntryFromRow);
  return { entries, more, next: more ? entries.at(-1)!.seq : null };
}

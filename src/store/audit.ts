import { createHash } from 'node:crypto';
import type { Db, Queryable } from './db.js';
import { canonicalJson } from './identities.js';

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

/**
 * Appends entries in one transaction. The single audit_head row is locked for the append, so
 * concurrent writers (several workers) chain one after the other, never fork the chain.
 * Pass a transaction to make the audit entries part of a larger atomic write.
 */
export async function appendAudit(q: Queryable | Db, entries: AuditEntryInput[]): Promise<AuditEntry[]> {
  if (entries.length === 0) return [];
  const run = async (tx: Queryable) => {
    const head = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');
    let seq = Number(head.rows[0]!.seq);
    let prev = head.rows[0]!.hash;
    const out: AuditEntry[] = [];
    for (const e of entries) {
      seq += 1;
      // JSON round trip drops undefined so the stored jsonb and the hashed value agree.
      const data = JSON.parse(JSON.stringify(e.data)) as Record<string, unknown>;
      const base = { seq, at: e.at ?? new Date().toISOString(), actor: e.actor, action: e.action, subject: e.subject ?? null, runId: e.runId ?? null, data };
      const hash = entryHash(prev, base);
      out.push({ ...base, prevHash: prev, hash });
      prev = hash;
    }
    // one multi-row insert: audit appends sit on the apply path
    const cols = 9;
    const values: unknown[] = [];
    const tuples = out.map((e, i) => {
      values.push(e.seq, e.at, e.actor, e.action, e.subject, e.runId, JSON.stringify(e.data), e.prevHash, e.hash);
      return `(${Array.from({ length: cols }, (_, k) => `$${i * cols + k + 1}`).join(',')})`;
    });
    await tx.query(
      `INSERT INTO audit_log (seq, at, actor, action, subject, run_id, data, prev_hash, hash) VALUES ${tuples.join(',')}`,
      values,
    );
    await tx.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [seq, prev]);
    return out;
  };
  return 'transaction' in q ? (q as Db).transaction(run) : run(q);
}

interface Row {
  seq: number;
  at: Date | string;
  actor: string;
  action: string;
  subject: string | null;
  run_id: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

function fromRow(r: Row): AuditEntry {
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
    const { rows } = await q.query<Row>(`SELECT * FROM audit_log WHERE ${where} ORDER BY seq LIMIT $2`, params);
    for (const r of rows) yield fromRow(r);
    if (rows.length < size) return;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  /** The first sequence number at which the chain is broken. */
  firstBadSeq: number | null;
  problem: string | null;
}

/**
 * Walks the whole chain. Finds an altered entry (its hash no longer matches), an inserted or
 * removed one (sequence gap or prev-hash mismatch), and a truncated tail (head disagrees).
 */
export async function verifyAudit(q: Queryable): Promise<AuditVerifyResult> {
  let prev = GENESIS_HASH;
  let expectSeq = 1;
  let n = 0;
  for await (const e of iterateAudit(q)) {
    n++;
    const bad = (problem: string): AuditVerifyResult => ({ ok: false, entries: n, firstBadSeq: Math.min(e.seq, expectSeq), problem });
    if (e.seq !== expectSeq) return bad(`sequence gap: expected ${expectSeq}, found ${e.seq} (an entry was removed)`);
    if (e.prevHash !== prev) return bad(`entry ${e.seq} does not follow entry ${e.seq - 1} (prev_hash mismatch: inserted or removed entry)`);
    if (entryHash(prev, e) !== e.hash) return bad(`entry ${e.seq} was altered (its hash does not match its content)`);
    prev = e.hash;
    expectSeq++;
  }
  const head = await q.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
  const h = head.rows[0];
  if (h && (Number(h.seq) !== expectSeq - 1 || h.hash !== prev)) {
    return { ok: false, entries: n, firstBadSeq: expectSeq, problem: `the log ends at ${expectSeq - 1} but its head says ${Number(h.seq)}: entries were removed from the end` };
  }
  return { ok: true, entries: n, firstBadSeq: null, problem: null };
}

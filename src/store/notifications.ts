import { sealAudit, type AuditEntry } from './audit.js';
import type { Db } from './db.js';

/** The audit log's newest sequence number (every committed entry chained first). */
export async function auditHeadSeq(db: Db): Promise<number> {
  await sealAudit(db);
  const { rows } = await db.query<{ seq: number | string }>('SELECT coalesce(max(seq), 0) AS seq FROM audit_log');
  return Number(rows[0]?.seq ?? 0);
}

/** Entries after `afterSeq` with one of these actions, oldest first (every committed entry chained first). */
export async function auditEntriesAfter(db: Db, afterSeq: number, actions: readonly string[], limit = 500): Promise<AuditEntry[]> {
  await sealAudit(db);
  const { rows } = await db.query<{
    seq: number | string;
    at: Date | string;
    actor: string;
    action: string;
    subject: string | null;
    run_id: string | null;
    data: Record<string, unknown>;
    prev_hash: string;
    hash: string;
  }>('SELECT * FROM audit_log WHERE seq > $1 AND action = ANY($2::text[]) ORDER BY seq LIMIT $3', [afterSeq, actions, limit]);
  return rows.map((r) => ({
    seq: Number(r.seq),
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    runId: r.run_id,
    data: r.data,
    prevHash: r.prev_hash,
    hash: r.hash,
  }));
}

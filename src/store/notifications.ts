import { auditEntryFromRow, sealAudit, type AuditEntry, type AuditRow } from './audit.js';
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
  const { rows } = await db.query<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 AND action = ANY($2::text[]) ORDER BY seq LIMIT $3', [
    afterSeq,
    actions,
    limit,
  ]);
  return rows.map(auditEntryFromRow);
}

import type { Queryable } from './db.js';

/**
 * Revocations offline locks have not learned yet (migration 10): taken by a data-on-card lock
 * system, but still on keys updated before them until `learnedBy`.
 */
export interface OfflinePending {
  system: string;
  accountId: string;
  groupRef: string;
  identityId: string | null;
  userName: string | null;
  /** The operation that took the access away (revoke, suspend_account, ...). */
  kind: string;
  revokedAt: string;
  /** When the last key that may carry it expires (or is updated): the offline locks know by then. */
  learnedBy: string;
  runId: string | null;
}

interface Row {
  system: string;
  account_id: string;
  group_ref: string;
  identity_id: string | null;
  user_name: string | null;
  kind: string;
  revoked_at: Date | string;
  learned_by: Date | string;
  run_id: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

export async function recordOfflinePending(q: Queryable, rows: OfflinePending[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO offline_pending (system, account_id, group_ref, identity_id, user_name, kind, revoked_at, learned_by, run_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::uuid[])
     ON CONFLICT (system, account_id, group_ref) DO UPDATE SET
       kind = EXCLUDED.kind, revoked_at = EXCLUDED.revoked_at, learned_by = GREATEST(offline_pending.learned_by, EXCLUDED.learned_by), run_id = EXCLUDED.run_id`,
    [
      rows.map((r) => r.system),
      rows.map((r) => r.accountId),
      rows.map((r) => r.groupRef),
      rows.map((r) => r.identityId),
      rows.map((r) => r.userName),
      rows.map((r) => r.kind),
      rows.map((r) => r.revokedAt),
      rows.map((r) => r.learnedBy),
      rows.map((r) => r.runId),
    ],
  );
}

/** Pending offline revocations that have not reached the locks by `now` (one identity's, or all); older ones are dropped. */
export async function listOfflinePending(q: Queryable, now: Date, opts: { identityId?: string } = {}): Promise<OfflinePending[]> {
  await q.query('DELETE FROM offline_pending WHERE learned_by <= $1', [now.toISOString()]);
  const { rows } = opts.identityId
    ? await q.query<Row>('SELECT * FROM offline_pending WHERE identity_id = $1 ORDER BY learned_by', [opts.identityId])
    : await q.query<Row>('SELECT * FROM offline_pending ORDER BY learned_by');
  return rows.map((r) => ({
    system: r.system,
    accountId: r.account_id,
    groupRef: r.group_ref,
    identityId: r.identity_id,
    userName: r.user_name,
    kind: r.kind,
    revokedAt: iso(r.revoked_at),
    learnedBy: iso(r.learned_by),
    runId: r.run_id,
  }));
}

/** The account holds the group again (a re-grant): nothing is pending for it. */
export async function clearOfflinePending(q: Queryable, keys: Array<{ system: string; accountId: string; groupRef: string }>): Promise<void> {
  if (keys.length === 0) return;
  await q.query(
    'DELETE FROM offline_pending p USING unnest($1::text[], $2::text[], $3::text[]) AS k(s, a, g) WHERE p.system = k.s AND p.account_id = k.a AND p.group_ref = k.g',
    [keys.map((k) => k.system), keys.map((k) => k.accountId), keys.map((k) => k.groupRef)],
  );
}

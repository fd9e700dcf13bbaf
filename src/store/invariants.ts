/**
 * Invariants (issue 27) in the store: how many people hold each access group (lockstep's own
 * record: the anchors of what it granted), and the violations plans found (migration 019).
 */
import type { InvariantViolation } from '../domain/plan.js';
import { appendAudit, type AuditEntryInput } from './audit.js';
import type { Db, Queryable } from './db.js';

/** People lockstep granted each of these access groups (their anchors), for maxHolders. */
export async function holderCountsOf(q: Queryable, accessGroupIds: string[]): Promise<Map<string, number>> {
  if (accessGroupIds.length === 0) return new Map();
  const { rows } = await q.query<{ g: string; n: string | number }>(
    'SELECT access_group_id AS g, count(*) AS n FROM entitlement_anchors WHERE access_group_id = ANY($1::text[]) GROUP BY access_group_id',
    [accessGroupIds],
  );
  return new Map(rows.map((r) => [r.g, Number(r.n)]));
}

/** One violation's identity across plans: the invariant, the person (none for maxHolders) and the groups. */
export function violationKey(v: Pick<InvariantViolation, 'invariant' | 'identityId' | 'accessGroupIds'>): string {
  return [v.invariant, v.identityId ?? '', [...v.accessGroupIds].sort().join(',')].join('|');
}

export interface StoredViolation extends InvariantViolation {
  key: string;
  firstSeen: string;
  lastSeen: string;
}

interface Row {
  key: string;
  invariant: string;
  identity_id: string | null;
  user_name: string | null;
  access_group_ids: string[];
  message: string;
  first_seen: Date | string;
  last_seen: Date | string;
}

const fromRow = (r: Row): StoredViolation => ({
  key: r.key,
  invariant: r.invariant,
  identityId: r.identity_id,
  userName: r.user_name,
  accessGroupIds: r.access_group_ids,
  message: r.message,
  firstSeen: new Date(r.first_seen).toISOString(),
  lastSeen: new Date(r.last_seen).toISOString(),
});

/** Violations as the last plans found them, people first, then by invariant. */
export async function listViolations(q: Queryable, opts: { identityIds?: string[] } = {}): Promise<StoredViolation[]> {
  const { rows } = opts.identityIds
    ? await q.query<Row>('SELECT * FROM invariant_violations WHERE identity_id = ANY($1::uuid[]) ORDER BY invariant, user_name, key', [opts.identityIds])
    : await q.query<Row>('SELECT * FROM invariant_violations ORDER BY invariant, user_name NULLS LAST, key');
  return rows.map(fromRow);
}

/** Violations per invariant (the /metrics gauge). */
export async function violationCounts(q: Queryable): Promise<Map<string, number>> {
  const { rows } = await q.query<{ invariant: string; n: string | number }>('SELECT invariant, count(*) AS n FROM invariant_violations GROUP BY invariant');
  return new Map(rows.map((r) => [r.invariant, Number(r.n)]));
}

export type ViolationScope = { kind: 'full' } | { kind: 'identities'; ids: string[] };

/**
 * Makes the stored violations of a scope what a plan found: a new one is inserted and audited
 * (`violation.found`), one still there has its last sighting moved on, one gone is deleted and
 * audited (`violation.resolved`). A full plan's scope is everything (maxHolders' too); an
 * identity's plan touches only that identity's.
 */
export async function recordViolations(
  db: Db,
  found: InvariantViolation[],
  scope: ViolationScope,
  at: Date,
  actor: string,
): Promise<{ found: InvariantViolation[]; resolved: StoredViolation[] }> {
  if (scope.kind === 'identities' && scope.ids.length === 0) return { found: [], resolved: [] };
  return db.transaction(async (tx) => {
    const before = scope.kind === 'full' ? await listViolations(tx) : await listViolations(tx, { identityIds: scope.ids });
    const known = new Map(before.map((v) => [v.key, v]));
    const now = new Map<string, InvariantViolation>();
    for (const v of found) now.set(violationKey(v), v);
    const added = [...now].filter(([k]) => !known.has(k));
    const resolved = before.filter((v) => !now.has(v.key));
    const iso = at.toISOString();
    if (now.size > 0) {
      const list = [...now];
      await tx.query(
        `INSERT INTO invariant_violations (key, invariant, identity_id, user_name, access_group_ids, message, first_seen, last_seen)
         SELECT k, i, p::uuid, u, string_to_array(g, ','), m, $7, $7
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(k, i, p, u, g, m)
         ON CONFLICT (key) DO UPDATE SET last_seen = EXCLUDED.last_seen, message = EXCLUDED.message, user_name = EXCLUDED.user_name`,
        [
          list.map(([k]) => k),
          list.map(([, v]) => v.invariant),
          list.map(([, v]) => v.identityId),
          list.map(([, v]) => v.userName),
          list.map(([, v]) => v.accessGroupIds.join(',')),
          list.map(([, v]) => v.message),
          iso,
        ],
      );
    }
    if (resolved.length > 0) await tx.query('DELETE FROM invariant_violations WHERE key = ANY($1::text[])', [resolved.map((v) => v.key)]);
    const audit: AuditEntryInput[] = [
      ...added.map(([, v]) => ({
        actor,
        action: 'violation.found',
        subject: v.identityId ?? `invariant:${v.invariant}`,
        at: iso,
        data: { invariant: v.invariant, userName: v.userName, accessGroupIds: v.accessGroupIds, message: v.message },
      })),
      ...resolved.map((v) => ({
        actor,
        action: 'violation.resolved',
        subject: v.identityId ?? `invariant:${v.invariant}`,
        at: iso,
        data: { invariant: v.invariant, userName: v.userName, accessGroupIds: v.accessGroupIds, firstSeen: v.firstSeen },
      })),
    ];
    await appendAudit(tx, audit);
    return { found: added.map(([, v]) => v), resolved };
  });
}

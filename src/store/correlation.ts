/**
 * Correlation conflicts (midPoint: "disputed"): live identities whose correlation key
 * (externalId, what lock-system accounts carry) another live identity also holds. SCIM lets two
 * users share an externalId (RFC 7643 sets no uniqueness on it), and two sources can name one
 * key; lockstep then cannot tell whose the lock account carrying it is, and refuses both access
 * until the collision ends (src/reconcile/conflicts.ts). Deleted identities hold no key.
 */
import type { Queryable } from './db.js';

export interface KeyHolder {
  id: string;
  userName: string;
  source: string;
}

/**
 * For those of these identities that are in conflict, the other live holders of their key, by
 * identity id: one statement for a whole page (a full run asks once per page of thousands).
 * It first finds the page's keys held more than once, an index-only look-up per key on the
 * partial index of live keys (migration 9); only those (in the usual estate, none) are joined.
 */
export async function correlationConflicts(q: Queryable, identities: ReadonlyArray<{ id: string; externalId: string }>): Promise<Map<string, KeyHolder[]>> {
  const out = new Map<string, KeyHolder[]>();
  if (identities.length === 0) return out;
  const { rows } = await q.query<{ id: string; other: string; user_name: string; source: string }>(
    `WITH k AS (
       SELECT external_id FROM identities WHERE external_id = ANY($2::text[]) AND deleted_at IS NULL GROUP BY external_id HAVING count(*) > 1
     )
     SELECT i.id, o.id AS other, o.user_name, o.source
       FROM k JOIN identities i ON i.external_id = k.external_id AND i.deleted_at IS NULL AND i.id = ANY($1::uuid[])
              JOIN identities o ON o.external_id = k.external_id AND o.deleted_at IS NULL AND o.id <> i.id
      ORDER BY i.id, o.id`,
    [identities.map((i) => i.id), [...new Set(identities.map((i) => i.externalId))]],
  );
  for (const r of rows) {
    const list = out.get(r.id) ?? [];
    list.push({ id: r.other, userName: r.user_name, source: r.source });
    out.set(r.id, list);
  }
  return out;
}

/**
 * correlationConflicts for everyone, in one statement (a full run asks once): the keys more than
 * one live identity holds are found on the partial index of live keys, and only their holders
 * (in the usual estate, none) are joined.
 */
export async function allCorrelationConflicts(q: Queryable): Promise<Map<string, KeyHolder[]>> {
  const { rows } = await q.query<{ c: Array<[string, string, string, string]> | string | null }>(
    `SELECT json_agg(json_build_array(i.id, o.id, o.user_name, o.source) ORDER BY i.id, o.id) AS c
       FROM (SELECT external_id FROM identities WHERE deleted_at IS NULL GROUP BY external_id HAVING count(*) > 1) k
       JOIN identities i ON i.external_id = k.external_id AND i.deleted_at IS NULL
       JOIN identities o ON o.external_id = k.external_id AND o.deleted_at IS NULL AND o.id <> i.id`,
  );
  const raw = rows[0]?.c ?? null;
  return conflictsFromTuples(typeof raw === 'string' ? (JSON.parse(raw) as Array<[string, string, string, string]>) : raw);
}

/** [identity, other holder, its userName, its source] tuples, by identity. */
export function conflictsFromTuples(tuples: ReadonlyArray<readonly [string, string, string, string]> | null): Map<string, KeyHolder[]> {
  const out = new Map<string, KeyHolder[]>();
  for (const [id, other, userName, source] of tuples ?? []) {
    const list = out.get(id);
    if (list) list.push({ id: other, userName, source });
    else out.set(id, [{ id: other, userName, source }]);
  }
  return out;
}

/**
 * Deleted identities whose externalId a live identity holds too (of these ids, or of everyone):
 * the account under that key is the live person's to claim, so a deleted one never looks it up
 * by the key, links it or changes it (issue 21: a deleted identity's job suspended a live
 * person's account it found by their shared key). Its own linked account stays its own.
 */
export async function deletedShadowedByLive(q: Queryable, ids?: string[]): Promise<Set<string>> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT d.id FROM identities d
      WHERE d.deleted_at IS NOT NULL ${ids ? 'AND d.id = ANY($1::uuid[])' : ''}
        AND EXISTS (SELECT 1 FROM identities o WHERE o.external_id = d.external_id AND o.deleted_at IS NULL AND o.id <> d.id)`,
    ids ? [ids] : [],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * People by name (issue 26): the names lists show beside identity ids (requests, exceptions,
 * incidents, runs, audit subjects), and the ids behind a search by name, userName or employee id.
 */
import type { Queryable } from './db.js';
import { isUuid } from './identities.js';

export interface PersonName {
  id: string;
  userName: string;
  displayName: string | null;
  externalId: string;
}

interface Row {
  id: string;
  user_name: string;
  display_name: string | null;
  external_id: string;
}
const fromRow = (r: Row): PersonName => ({ id: r.id, userName: r.user_name, displayName: r.display_name ?? null, externalId: r.external_id });

/** The names of these identities (deleted ones too: history names them), by id; ids that are not identities are left out. */
export async function personNames(q: Queryable, ids: Iterable<string | null | undefined>): Promise<Map<string, PersonName>> {
  const list = [...new Set([...ids].filter((x): x is string => typeof x === 'string' && isUuid(x)))];
  const out = new Map<string, PersonName>();
  if (list.length === 0) return out;
  const { rows } = await q.query<Row>("SELECT id, user_name, data->>'displayName' AS display_name, external_id FROM identities WHERE id = ANY($1::uuid[])", [
    list,
  ]);
  for (const r of rows) out.set(r.id, fromRow(r));
  return out;
}

/**
 * People whose userName, display name, employee id (externalId) or e-mail contains `text`
 * (case-insensitive), deleted ones included (the log still names them), userName order.
 */
export async function searchPeople(q: Queryable, text: string, limit = 200): Promise<PersonName[]> {
  const t = text.trim().toLowerCase();
  if (t === '') return [];
  const { rows } = await q.query<Row>(
    `SELECT id, user_name, data->>'displayName' AS display_name, external_id FROM identities
      WHERE strpos(lower(user_name), $1) > 0 OR strpos(lower(coalesce(data->>'displayName', '')), $1) > 0
         OR strpos(lower(external_id), $1) > 0 OR strpos(lower(coalesce(data->>'email', '')), $1) > 0
      ORDER BY (lower(user_name) = $1 OR lower(external_id) = $1) DESC, user_name LIMIT $2`,
    [t, limit],
  );
  return rows.map(fromRow);
}

/** Every userName in the store (people not deleted): the candidates for "did you mean …?". */
export async function allUserNames(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ user_name: string }>('SELECT user_name FROM identities WHERE deleted_at IS NULL');
  return rows.map((r) => r.user_name);
}

/** The extra attribute names the people in the store carry (what their sources provide beyond the identity's own). */
export async function storeAttributeNames(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ k: string }>(
    "SELECT DISTINCT jsonb_object_keys(CASE WHEN jsonb_typeof(data->'attributes') = 'object' THEN data->'attributes' ELSE '{}'::jsonb END) AS k FROM identities WHERE deleted_at IS NULL",
  );
  return rows.map((r) => r.k);
}

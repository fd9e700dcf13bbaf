/**
 * Short ids (issue 26): CLI lists print the first 8 characters of an id, and commands take any
 * unique prefix of at least 4, as git does for commits.
 */
import { LockstepError } from '../domain/errors.js';
import type { Queryable } from './db.js';
import { isUuid } from './identities.js';

const TABLES = { exception: 'access_exceptions', request: 'access_requests', incident: 'incidents', run: 'runs' } as const;
export type ShortIdKind = keyof typeof TABLES;

/** The full id a prefix names; a full id is returned as it is. 404 when none, 400 when more than one. */
export async function resolveShortId(q: Queryable, kind: ShortIdKind, idOrPrefix: string): Promise<string> {
  const key = idOrPrefix.trim().toLowerCase();
  if (isUuid(key)) return key;
  if (!/^[0-9a-f-]{4,35}$/.test(key))
    throw new LockstepError('validation', `${kind} ${JSON.stringify(idOrPrefix)}: give its id or the first (at least 4) characters of it`, { field: 'id' });
  const { rows } = await q.query<{ id: string }>(`SELECT id FROM ${TABLES[kind]} WHERE id::text LIKE $1 || '%' LIMIT 2`, [key]);
  if (rows.length === 0) throw new LockstepError('not_found', `no ${kind} ${idOrPrefix}`, { field: 'id' });
  if (rows.length > 1)
    throw new LockstepError('validation', `${kind} ${idOrPrefix} is ambiguous: more than one id starts with it; give more of it`, { field: 'id' });
  return rows[0].id;
}

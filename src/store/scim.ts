/**
 * SQL over the SCIM tables (migration 002), for the SCIM endpoint (src/sources/scim). Every
 * function takes the database or the transaction it runs in. The write paths are one
 * statement each where they can be (the SCIM benchmark depends on it), and the usual create is
 * one statement for many (insertNewScimPeople: the service's group commit of concurrent creates).
 */
import type { JsonObject } from '../domain/json.js';
import { pendingAuditSelect } from './audit.js';
import type { Queryable } from './db.js';
import { canonicalJson, isUuid } from './identities.js';

export interface UserRow {
  id: string;
  identity_id: string;
  user_name_key: string;
  external_id: string | null;
  identity_key: string;
  active: boolean;
  resource: JsonObject;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
  deleted_at: Date | string | null;
}

export interface GroupRow {
  id: string;
  display_name_key: string;
  external_id: string | null;
  resource: JsonObject;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface MemberRow {
  group_id: string;
  user_id: string;
  display: string | null;
}

export const USER_COLS =
  'u.id, u.identity_id, u.user_name_key, u.external_id, u.identity_key, u.active, u.resource, u.version, u.created_at, u.updated_at, u.deleted_at';
export const GROUP_COLS = 'g.id, g.display_name_key, g.external_id, g.resource, g.version, g.created_at, g.updated_at';

export async function getLiveUser(q: Queryable, id: string, forUpdate = false): Promise<UserRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<UserRow>(`SELECT ${USER_COLS} FROM scim_users u WHERE u.id = $1 AND u.deleted_at IS NULL${forUpdate ? ' FOR UPDATE' : ''}`, [
    id.toLowerCase(),
  ]);
  return rows[0] ?? null;
}

/** The identity row a user is linked to, read (and locked) with the user. */
export interface LinkedIdentity {
  source: string;
  external_id: string;
  data: unknown;
  deleted_at: Date | string | null;
}

/**
 * A live user locked for a write, together with its identity (both rows locked, users before
 * identities as everywhere; the foreign key guarantees the identity): one round trip instead
 * of two.
 */
export async function lockLiveUserWithIdentity(q: Queryable, id: string): Promise<(UserRow & { identity: LinkedIdentity | null }) | null> {
  return readLiveUserWithIdentity(q, id, true);
}

/**
 * The live user with its identity; `forUpdate` locks both rows for the caller's transaction.
 * Without it, a write that follows must check the version it read (updateUserAndIdentity's
 * `expectVersion`): the optimistic path of a PATCH, two round trips and no transaction.
 */
export async function readLiveUserWithIdentity(q: Queryable, id: string, forUpdate = false): Promise<(UserRow & { identity: LinkedIdentity | null }) | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<UserRow & { i_source: string | null; i_external_id: string | null; i_data: unknown; i_deleted_at: Date | string | null }>(
    `SELECT ${USER_COLS}, i.source AS i_source, i.external_id AS i_external_id, i.data AS i_data, i.deleted_at AS i_deleted_at
       FROM scim_users u JOIN identities i ON i.id = u.identity_id
      WHERE u.id = $1 AND u.deleted_at IS NULL${forUpdate ? ' FOR UPDATE' : ''}`,
    [id.toLowerCase()],
  );
  const r = rows[0];
  if (!r) return null;
  const { i_source, i_external_id, i_data, i_deleted_at, ...user } = r;
  return {
    ...user,
    identity: i_source === null || i_external_id === null ? null : { source: i_source, external_id: i_external_id, data: i_data, deleted_at: i_deleted_at },
  };
}

/**
 * Updates a user, its identity (when identity columns are given) and records the audit entry,
 * in one statement.
 */
export async function updateUserAndIdentity(
  q: Queryable,
  w: UserWrite,
  identity: { userName: string; active: boolean; data: string } | null,
  auditJson: string,
  /** Records the identity as pending (queue_pending) in the same statement, when it is updated. */
  pending: PendingMark | null = null,
  /**
   * Write only if the user is still live at this version (the optimistic path, outside a
   * transaction): otherwise nothing at all is written and the answer is null. The user's row is
   * updated first and everything else only if it was: one statement, atomic on its own.
   */
  expectVersion: number | null = null,
): Promise<UserRow | null> {
  const { rows } = await q.query<UserRow>(
    `WITH u AS (
       UPDATE scim_users AS u SET identity_id = $2, user_name_key = $3, external_id = $4, identity_key = $5, active = $6,
         resource = $7, version = $8, updated_at = $9
        WHERE u.id = $1 AND ($18::int IS NULL OR (u.version = $18::int AND u.deleted_at IS NULL)) RETURNING ${USER_COLS}
     ), i AS (
       UPDATE identities SET user_name = $10, active = $11, data = $12, deleted_at = NULL, updated_at = now(), version = version + 1
        WHERE id = $2 AND $13::boolean AND EXISTS (SELECT 1 FROM u) RETURNING id
     ), a AS (
       INSERT INTO audit_pending (at, actor, action, subject, run_id, data) ${pendingAuditSelect('$14')} WHERE EXISTS (SELECT 1 FROM u)
     ), pend AS (
       ${PENDING_UPSERT('i.id', '$15', '$16', '$17', 'i')}
     )
     SELECT * FROM u`,
    [
      w.id,
      w.identityId,
      w.userNameKey,
      w.externalId,
      w.identityKey,
      w.active,
      JSON.stringify(w.resource),
      w.version,
      w.at,
      identity?.userName ?? null,
      identity?.active ?? null,
      identity?.data ?? null,
      identity !== null,
      auditJson,
      pending?.lane ?? null,
      pending?.reason ?? null,
      pending ? new Date(pending.at).toISOString() : null,
      expectVersion,
    ],
  );
  return rows[0] ?? null;
}

/** A change recorded as pending with the write that makes it (see ScimServiceOptions.markPending). */
export interface PendingMark {
  lane: 'normal' | 'revocation';
  reason: string;
  /** ms since the epoch */
  at: number;
}

/**
 * queue_pending's upsert (as markPending in queue-state.ts) of `idExpr` from `fromTable`, for a
 * CTE: nothing when the lane parameter is null.
 */
const PENDING_UPSERT = (idExpr: string, lane: string, reason: string, at: string, fromTable: string) => `
       INSERT INTO queue_pending (identity_id, lane, reason, enqueued_at, first_at)
       SELECT ${idExpr}, ${lane}::text, ${reason}::text, ${at}::timestamptz, ${at}::timestamptz FROM ${fromTable} WHERE ${lane}::text IS NOT NULL
       ON CONFLICT (identity_id) DO UPDATE SET
         lane = CASE WHEN queue_pending.lane = 'revocation' OR EXCLUDED.lane = 'revocation' THEN 'revocation' ELSE 'normal' END,
         reason = EXCLUDED.reason, enqueued_at = GREATEST(queue_pending.enqueued_at, EXCLUDED.enqueued_at)`;

/**
 * Another live user holding the userName (case-folded key), if any. externalId is not unique
 * (RFC 7643): users sharing one are a correlation conflict for the reconciler, not a 409.
 */
export async function findUserConflict(q: Queryable, userNameKey: string, exceptId: string | null): Promise<{ field: 'userName'; id: string } | null> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM scim_users WHERE deleted_at IS NULL AND user_name_key = $1 AND id IS DISTINCT FROM $2::uuid LIMIT 1`,
    [userNameKey, exceptId],
  );
  const r = rows[0];
  return r ? { field: 'userName', id: r.id } : null;
}

export interface UserWrite {
  id: string;
  identityId: string;
  userNameKey: string;
  externalId: string | null;
  identityKey: string;
  active: boolean;
  resource: JsonObject;
  version: number;
  at: string;
}

export async function insertUser(q: Queryable, w: UserWrite): Promise<UserRow> {
  const { rows } = await q.query<UserRow>(
    `INSERT INTO scim_users AS u (id, identity_id, user_name_key, external_id, identity_key, active, resource, version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ${USER_COLS}`,
    [w.id, w.identityId, w.userNameKey, w.externalId, w.identityKey, w.active, JSON.stringify(w.resource), w.version, w.at],
  );
  return rows[0];
}

export async function updateUser(q: Queryable, w: UserWrite): Promise<UserRow> {
  const { rows } = await q.query<UserRow>(
    `UPDATE scim_users AS u SET identity_id = $2, user_name_key = $3, external_id = $4, identity_key = $5, active = $6,
       resource = $7, version = $8, updated_at = $9 WHERE u.id = $1 RETURNING ${USER_COLS}`,
    [w.id, w.identityId, w.userNameKey, w.externalId, w.identityKey, w.active, JSON.stringify(w.resource), w.version, w.at],
  );
  return rows[0];
}

export async function markUserDeleted(q: Queryable, id: string, at: string): Promise<void> {
  await q.query('UPDATE scim_users SET deleted_at = $2, version = version + 1, updated_at = $2 WHERE id = $1', [id, at]);
}

/** Live users among ids, locked, in id order (a stable lock order across concurrent writers). */
export async function lockLiveUsers(q: Queryable, ids: string[]): Promise<UserRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await q.query<UserRow>(
    `SELECT ${USER_COLS} FROM scim_users u WHERE u.id = ANY($1::uuid[]) AND u.deleted_at IS NULL ORDER BY u.id FOR UPDATE`,
    [ids],
  );
  return rows;
}

/**
 * Which of ids are live users (the rest are unknown or deleted). The rows are share-locked so a
 * concurrent DELETE of one of them waits for the membership being written, then removes it.
 */
export async function liveUserIds(q: Queryable, ids: string[]): Promise<Set<string>> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return new Set();
  const { rows } = await q.query<{ id: string }>('SELECT id FROM scim_users WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL ORDER BY id FOR SHARE', [valid]);
  return new Set(rows.map((r) => r.id));
}

/** Each user's groups as { group id, displayName }, from the membership table. */
export async function groupsOfUsers(q: Queryable, userIds: string[]): Promise<Map<string, Array<{ id: string; display: string }>>> {
  const out = new Map<string, Array<{ id: string; display: string }>>();
  if (userIds.length === 0) return out;
  const { rows } = await q.query<{ user_id: string; id: string; display: string }>(
    `SELECT m.user_id, g.id, g.resource->>'displayName' AS display
       FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id
      WHERE m.user_id = ANY($1::uuid[])`,
    [userIds],
  );
  for (const r of rows) {
    const list = out.get(r.user_id) ?? [];
    list.push({ id: r.id, display: r.display });
    out.set(r.user_id, list);
  }
  return out;
}

export async function getGroup(q: Queryable, id: string, forUpdate = false): Promise<GroupRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<GroupRow>(`SELECT ${GROUP_COLS} FROM scim_groups g WHERE g.id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id.toLowerCase()]);
  return rows[0] ?? null;
}

export async function findGroupByDisplayName(q: Queryable, key: string, exceptId: string | null): Promise<string | null> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM scim_groups WHERE display_name_key = $1 AND id IS DISTINCT FROM $2::uuid LIMIT 1', [
    key,
    exceptId,
  ]);
  return rows[0]?.id ?? null;
}

export interface GroupWrite {
  id: string;
  displayNameKey: string;
  externalId: string | null;
  resource: JsonObject;
  version: number;
  at: string;
}

export async function insertGroup(q: Queryable, w: GroupWrite): Promise<GroupRow> {
  const { rows } = await q.query<GroupRow>(
    `INSERT INTO scim_groups AS g (id, display_name_key, external_id, resource, version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ${GROUP_COLS}`,
    [w.id, w.displayNameKey, w.externalId, JSON.stringify(w.resource), w.version, w.at],
  );
  return rows[0];
}

export async function updateGroup(q: Queryable, w: GroupWrite): Promise<GroupRow> {
  const { rows } = await q.query<GroupRow>(
    `UPDATE scim_groups AS g SET display_name_key = $2, external_id = $3, resource = $4, version = $5, updated_at = $6
      WHERE g.id = $1 RETURNING ${GROUP_COLS}`,
    [w.id, w.displayNameKey, w.externalId, JSON.stringify(w.resource), w.version, w.at],
  );
  return rows[0];
}

export async function deleteGroup(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM scim_groups WHERE id = $1', [id]);
}

export async function memberIds(q: Queryable, groupId: string): Promise<string[]> {
  const { rows } = await q.query<{ user_id: string }>(
    `SELECT m.user_id FROM scim_group_members m JOIN scim_users u ON u.id = m.user_id
      WHERE m.group_id = $1 AND u.deleted_at IS NULL ORDER BY m.added_at, m.user_id`,
    [groupId],
  );
  return rows.map((r) => r.user_id);
}

/** Members of the groups, with the user's displayName (else userName) for `display`. */
export async function membersOf(q: Queryable, groupIds: string[]): Promise<Map<string, MemberRow[]>> {
  const out = new Map<string, MemberRow[]>();
  if (groupIds.length === 0) return out;
  const { rows } = await q.query<MemberRow>(
    `SELECT m.group_id, m.user_id, COALESCE(u.resource->>'displayName', u.resource->>'userName') AS display
       FROM scim_group_members m JOIN scim_users u ON u.id = m.user_id
      WHERE m.group_id = ANY($1::uuid[]) AND u.deleted_at IS NULL ORDER BY m.added_at, m.user_id`,
    [groupIds],
  );
  for (const r of rows) {
    const list = out.get(r.group_id) ?? [];
    list.push(r);
    out.set(r.group_id, list);
  }
  return out;
}

/** Which of these users are live members of the group. */
export async function membersAmong(q: Queryable, groupId: string, userIds: string[]): Promise<Set<string>> {
  const valid = userIds.filter(isUuid);
  if (valid.length === 0) return new Set();
  const { rows } = await q.query<{ user_id: string }>(
    `SELECT m.user_id FROM scim_group_members m JOIN scim_users u ON u.id = m.user_id
      WHERE m.group_id = $1 AND m.user_id = ANY($2::uuid[]) AND u.deleted_at IS NULL`,
    [groupId, valid],
  );
  return new Set(rows.map((r) => r.user_id));
}

export async function addMembers(q: Queryable, groupId: string, userIds: string[], at: string): Promise<void> {
  if (userIds.length === 0) return;
  await q.query(
    `INSERT INTO scim_group_members (group_id, user_id, added_at)
     SELECT $1, x, $3 FROM unnest($2::uuid[]) AS x ON CONFLICT DO NOTHING`,
    [groupId, userIds, at],
  );
}

export async function removeMembers(q: Queryable, groupId: string, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return;
  await q.query('DELETE FROM scim_group_members WHERE group_id = $1 AND user_id = ANY($2::uuid[])', [groupId, userIds]);
}

/** Removes a (deleted) user from every group; returns the groups it was in. */
export async function removeUserFromGroups(q: Queryable, userId: string): Promise<string[]> {
  const { rows } = await q.query<{ group_id: string }>('DELETE FROM scim_group_members WHERE user_id = $1 RETURNING group_id', [userId]);
  return rows.map((r) => r.group_id);
}

/** A membership change made elsewhere (a user deleted) is a new version of these groups. */
export async function touchGroups(q: Queryable, groupIds: string[], at: string): Promise<void> {
  if (groupIds.length === 0) return;
  await q.query(
    `UPDATE scim_groups SET version = version + 1, updated_at = $2::timestamptz,
       resource = jsonb_set(jsonb_set(resource, '{meta,lastModified}', to_jsonb($3::text)), '{meta,version}', to_jsonb('W/"' || (version + 1) || '"'))
     WHERE id = ANY($1::uuid[])`,
    [groupIds, at, at],
  );
}

/**
 * A deleted identity `r` of the source with this key that no live SCIM user is linked to: the
 * person a create (or a new externalId) with this key brings back (a rehire keeps its history,
 * anchors and lock-account link). A live identity with the key is someone else's: a second
 * live user with one externalId gets an identity of its own (a correlation conflict).
 */
const RESTORABLE = (source: string, key: string) =>
  `r.source = ${source} AND r.external_id = ${key} AND r.deleted_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM scim_users ru WHERE ru.identity_id = r.id AND ru.deleted_at IS NULL)`;

/**
 * Live identities (of any source) holding this correlation key, but not `exceptId`: whom a
 * correlation conflict beginning or ending with a write also concerns (they are reconciled too).
 */
export async function liveKeyHolders(q: Queryable, key: string, exceptId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>('SELECT id FROM identities WHERE external_id = $1 AND deleted_at IS NULL AND id <> $2::uuid ORDER BY id', [
    key,
    exceptId,
  ]);
  return rows.map((r) => r.id);
}

/** The identity a user with this key brings back (see RESTORABLE), locked; null: none. */
export async function findRestorableIdentity(q: Queryable, source: string, key: string): Promise<string | null> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT r.id FROM identities r WHERE ${RESTORABLE('$1', '$2')} ORDER BY r.updated_at DESC, r.id LIMIT 1 FOR UPDATE`,
    [source, key],
  );
  return rows[0]?.id ?? null;
}

/**
 * Writes the identity of a SCIM user by its id (SCIM identities are keyed by the user, not by
 * externalId: migration 009): inserts it, or updates (and restores) it when its data differs.
 * `data` is the validated identity data (parseIdentityInput).
 */
export async function writeScimIdentity(
  q: Queryable,
  id: string,
  data: { source: string; externalId: string; userName: string; active: boolean },
  dataJson: string,
): Promise<{ created: boolean; changed: boolean }> {
  const { rows } = await q.query<{ data: unknown; deleted_at: Date | string | null; source: string; external_id: string; keyed_by_id: boolean }>(
    'SELECT data, deleted_at, source, external_id, keyed_by_id FROM identities WHERE id = $1 FOR UPDATE',
    [id],
  );
  const cur = rows[0];
  if (!cur) {
    await q.query(`INSERT INTO identities (id, source, external_id, user_name, active, data, keyed_by_id) VALUES ($1, $2, $3, $4, $5, $6, true)`, [
      id,
      data.source,
      data.externalId,
      data.userName,
      data.active,
      dataJson,
    ]);
    return { created: true, changed: true };
  }
  if (
    cur.deleted_at === null &&
    cur.keyed_by_id &&
    cur.source === data.source &&
    cur.external_id === data.externalId &&
    canonicalJson(cur.data) === canonicalJson(JSON.parse(dataJson))
  ) {
    return { created: false, changed: false };
  }
  await q.query(
    `UPDATE identities SET source = $2, external_id = $3, user_name = $4, active = $5, data = $6, keyed_by_id = true, deleted_at = NULL,
       updated_at = now(), version = version + 1 WHERE id = $1`,
    [id, data.source, data.externalId, data.userName, data.active, dataJson],
  );
  return { created: false, changed: true };
}

/**
 * A create of someone the store has never seen (the usual POST): the identity, the SCIM user
 * and the pending audit entry in one statement, atomic on its own. Returns null, having written
 * nothing, when the source holds a deleted identity with this key to bring back (RESTORABLE).
 */
export async function insertNewScimPerson(
  q: Queryable,
  identity: readonly [id: string, source: string, externalId: string, userName: string, active: boolean, data: string],
  user: { userNameKey: string; externalId: string | null; identityKey: string; active: boolean; resource: JsonObject; at: string },
  auditJson: string,
  /** Records the new identity as pending (queue_pending) in the same statement. */
  pending: PendingMark | null = null,
): Promise<(UserRow & { key_holders: string[] }) | null> {
  const { rows } = await q.query<UserRow & { key_holders: string[] }>(
    `WITH ident AS (
       INSERT INTO identities (id, source, external_id, user_name, active, data, keyed_by_id)
       SELECT $1::uuid, $2::text, $3::text, $4::text, $5::boolean, $6::jsonb, true
        WHERE NOT EXISTS (SELECT 1 FROM identities r WHERE ${RESTORABLE('$2', '$3')})
       RETURNING id
     ), u AS (
       INSERT INTO scim_users (id, identity_id, user_name_key, external_id, identity_key, active, resource, version, created_at, updated_at)
       SELECT $1, ident.id, $7, $8, $9, $10, $11, 1, $12, $12 FROM ident
       RETURNING *
     ), audit AS (
       INSERT INTO audit_pending (at, actor, action, subject, run_id, data) ${pendingAuditSelect('$13')} WHERE EXISTS (SELECT 1 FROM u)
     ), pend AS (
       ${PENDING_UPSERT('u.identity_id', '$14', '$15', '$16', 'u')}
     )
     SELECT ${USER_COLS},
       -- live identities already holding this key: a correlation conflict begins, they need a look too
       ARRAY(SELECT o.id::text FROM identities o WHERE o.external_id = $3 AND o.deleted_at IS NULL AND o.id <> $1::uuid ORDER BY o.id) AS key_holders
     FROM u`,
    [
      ...identity,
      user.userNameKey,
      user.externalId,
      user.identityKey,
      user.active,
      JSON.stringify(user.resource),
      user.at,
      auditJson,
      pending?.lane ?? null,
      pending?.reason ?? null,
      pending ? new Date(pending.at).toISOString() : null,
    ],
  );
  return rows[0] ?? null;
}

/** One create for insertNewScimPeople: insertNewScimPerson's arguments. */
export interface NewScimPerson {
  identity: readonly [id: string, source: string, externalId: string, userName: string, active: boolean, data: string];
  user: { userNameKey: string; externalId: string | null; identityKey: string; active: boolean; resource: JsonObject; at: string };
  auditJson: string;
  pending: PendingMark | null;
}

/**
 * A person as an element of insertNewScimPeople's one JSON parameter (jsonb_to_recordset): the
 * JSON texts already made (identity data, audit entry) go in as they are. One JSON document costs
 * less than arrays of JSON texts, which pg escapes and PostgreSQL parses twice (bench: about an
 * eighth less CPU per create on either side).
 */
function personJson(p: NewScimPerson): string {
  const [id, source, identKey, identUserName, identActive, identData] = p.identity;
  const u = p.user;
  const scalars = JSON.stringify({
    id,
    source,
    ident_key: identKey,
    ident_user_name: identUserName,
    ident_active: identActive,
    user_name_key: u.userNameKey,
    external_id: u.externalId,
    identity_key: u.identityKey,
    active: u.active,
    at: u.at,
    lane: p.pending?.lane ?? null,
    reason: p.pending?.reason ?? null,
    pending_at: p.pending ? new Date(p.pending.at).toISOString() : null,
  });
  return `${scalars.slice(0, -1)},"ident_data":${identData},"audit":${p.auditJson},"resource":${JSON.stringify(u.resource)}}`;
}

/**
 * insertNewScimPerson for many creates in one statement (the group commit of concurrent POSTs):
 * for each person, in order, the identity, the SCIM user, the pending audit entry and the pending
 * mark, or nothing at all. Answers one element per person: the user with the live identities
 * holding its key, or undefined when nothing was written for it, because the source holds a
 * deleted identity with its key to bring back (RESTORABLE) or because its userName is taken (by
 * a live user, or by a person earlier in this batch): the caller runs insertNewScimPerson for
 * it, which tells the two apart (null, or the unique violation naming the index).
 *
 * Each person sees what a statement of its own would, and the people before it in the batch as if
 * they had committed first: a live identity holding its key includes an earlier person of the
 * batch with the same externalId (two creates of one key in a row make the second see the first).
 * The users are inserted before their identities so that a userName taken makes the row's user
 * insert do nothing (ON CONFLICT DO NOTHING) and so its identity, audit entry and mark too; the
 * foreign key to the identity is checked at the end of the statement, when the identity is there.
 */
export async function insertNewScimPeople(q: Queryable, people: readonly NewScimPerson[]): Promise<Array<(UserRow & { key_holders: string[] }) | undefined>> {
  if (people.length === 0) return [];
  const { rows } = await q.query<UserRow & { key_holders: string[] }>(
    `WITH inp AS (
       SELECT * FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (id uuid, source text, ident_key text, ident_user_name text, ident_active boolean, ident_data jsonb,
                              user_name_key text, external_id text, identity_key text, active boolean, resource jsonb, at timestamptz, audit jsonb, lane text, reason text, pending_at timestamptz))
         WITH ORDINALITY AS t(id, source, ident_key, ident_user_name, ident_active, ident_data, user_name_key, external_id, identity_key, active, resource, at, audit, lane, reason, pending_at, ord)
     ), u AS (
       INSERT INTO scim_users (id, identity_id, user_name_key, external_id, identity_key, active, resource, version, created_at, updated_at)
       SELECT inp.id, inp.id, inp.user_name_key, inp.external_id, inp.identity_key, inp.active, inp.resource, 1, inp.at, inp.at
         FROM inp
        -- OFFSET 0 keeps this a lookup by key per person (identities_external_id): as an anti join
        -- the planner, which guesses 100 people, may scan every identity for the deleted ones instead
        WHERE NOT EXISTS (SELECT 1 FROM identities r WHERE ${RESTORABLE('inp.source', 'inp.ident_key')} OFFSET 0)
        ORDER BY inp.ord
       ON CONFLICT DO NOTHING
       RETURNING *
     ), ident AS (
       INSERT INTO identities (id, source, external_id, user_name, active, data, keyed_by_id)
       SELECT inp.id, inp.source, inp.ident_key, inp.ident_user_name, inp.ident_active, inp.ident_data, true
         FROM inp JOIN u ON u.id = inp.id
     ), audit AS (
       INSERT INTO audit_pending (at, actor, action, subject, run_id, data)
       SELECT a.* FROM inp JOIN u ON u.id = inp.id CROSS JOIN LATERAL (${pendingAuditSelect('inp.audit')}) a ORDER BY inp.ord
     ), pend AS (
       ${PENDING_UPSERT('u.identity_id', 'inp.lane', 'inp.reason', 'inp.pending_at', 'inp JOIN u ON u.id = inp.id')}
     )
     SELECT ${USER_COLS},
       -- live identities holding this key before this statement: a correlation conflict begins, they need a look too
       ARRAY(SELECT o.id::text FROM identities o WHERE o.external_id = inp.ident_key AND o.deleted_at IS NULL AND o.id <> u.id ORDER BY o.id) AS key_holders
     FROM u JOIN inp ON inp.id = u.id
     ORDER BY inp.ord`,
    [`[${people.map(personJson).join(',')}]`],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out: Array<(UserRow & { key_holders: string[] }) | undefined> = [];
  // people written before this one in the batch, by key: they hold it as if committed first
  const earlier = new Map<string, string[]>();
  for (const p of people) {
    const row = byId.get(p.identity[0]);
    out.push(row);
    if (!row) continue;
    const key = p.identity[2];
    const before = earlier.get(key);
    if (before) {
      row.key_holders = [...new Set([...row.key_holders, ...before])].sort();
      before.push(row.identity_id);
    } else earlier.set(key, [row.identity_id]);
  }
  return out;
}

/**
 * Locks the groups a user is in, in id order, before the user is deleted (lock order
 * everywhere: groups before users before identities; group writes take it too).
 */
export async function lockGroupsOfUser(q: Queryable, userId: string): Promise<void> {
  const { rows: inGroups } = await q.query<{ group_id: string }>('SELECT group_id FROM scim_group_members WHERE user_id = $1::uuid ORDER BY group_id', [
    userId.toLowerCase(),
  ]);
  if (inGroups.length) await q.query('SELECT id FROM scim_groups WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [inGroups.map((r) => r.group_id)]);
}

// ---- listing ----------------------------------------------------------------------------

/** How a SCIM filter attribute is stored: the column (with its table alias) and how it compares. */
export interface ScimColumn {
  sql: string;
  kind: 'uuid' | 'folded' | 'text' | 'bool' | 'time';
  notNull: boolean;
}

/** A SCIM resource table as the listing and the filter translation (src/sources/scim/filter.ts) see it. */
export interface ScimTable {
  table: string;
  alias: string;
  /** The rows a listing sees. */
  live: string;
  /** The columns selected for a row. */
  cols: string;
  /** Filter attributes held in columns. */
  columns: Record<string, ScimColumn>;
  /** Sort attributes held in columns, with their collation. */
  sort: Record<string, string>;
  /** SQL for "this group has member $n" (uuid parameter), when the table is groups. */
  memberExists?: (param: string) => string;
}

export const SCIM_USERS: ScimTable = {
  table: 'scim_users',
  alias: 'u',
  live: 'u.deleted_at IS NULL',
  cols: USER_COLS,
  columns: {
    id: { sql: 'u.id', kind: 'uuid', notNull: true },
    userName: { sql: 'u.user_name_key', kind: 'folded', notNull: true },
    externalId: { sql: 'u.external_id', kind: 'text', notNull: false },
    active: { sql: 'u.active', kind: 'bool', notNull: true },
    'meta.created': { sql: 'u.created_at', kind: 'time', notNull: true },
    'meta.lastModified': { sql: 'u.updated_at', kind: 'time', notNull: true },
  },
  sort: {
    id: 'u.id',
    userName: 'u.user_name_key COLLATE "C"',
    externalId: 'u.external_id COLLATE "C"',
    'meta.created': 'u.created_at',
    'meta.lastModified': 'u.updated_at',
  },
};

export const SCIM_GROUPS: ScimTable = {
  table: 'scim_groups',
  alias: 'g',
  live: 'TRUE',
  cols: GROUP_COLS,
  columns: {
    id: { sql: 'g.id', kind: 'uuid', notNull: true },
    displayName: { sql: 'g.display_name_key', kind: 'folded', notNull: true },
    externalId: { sql: 'g.external_id', kind: 'text', notNull: false },
    'meta.created': { sql: 'g.created_at', kind: 'time', notNull: true },
    'meta.lastModified': { sql: 'g.updated_at', kind: 'time', notNull: true },
  },
  memberExists: (p) => `EXISTS (SELECT 1 FROM scim_group_members m WHERE m.group_id = g.id AND m.user_id = ${p}::uuid)`,
  sort: {
    id: 'g.id',
    displayName: 'g.display_name_key COLLATE "C"',
    externalId: 'g.external_id COLLATE "C"',
    'meta.created': 'g.created_at',
    'meta.lastModified': 'g.updated_at',
  },
};

/** A condition over a ScimTable's alias, with its parameters ($1… in order). */
export interface ScimWhere {
  sql: string;
  values: unknown[];
}

/** How many live rows match. */
export async function countScimRows(q: Queryable, t: ScimTable, where: ScimWhere): Promise<number> {
  const { rows } = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.table} ${t.alias} WHERE ${t.live} AND ${where.sql}`, where.values);
  return Number(rows[0].n);
}

/**
 * One page of the live rows that match, ordered by the sort column (when given), then by
 * creation and id.
 */
export async function pageScimRows<R>(
  q: Queryable,
  t: ScimTable,
  where: ScimWhere,
  page: { sort?: { sql: string; descending: boolean }; limit: number; offset: number },
): Promise<R[]> {
  const order = `${page.sort ? `${page.sort.sql} ${page.sort.descending ? 'DESC' : 'ASC'} NULLS LAST, ` : ''}${t.alias}.created_at, ${t.alias}.id`;
  const { rows } = await q.query<R>(
    `SELECT ${t.cols} FROM ${t.table} ${t.alias} WHERE ${t.live} AND ${where.sql} ORDER BY ${order} LIMIT ${page.limit} OFFSET ${page.offset}`,
    where.values,
  );
  return rows;
}

/** The next batch, in id order after `afterId`, of the live rows a pre-filter (or none) leaves. */
export async function scanScimRows<R>(q: Queryable, t: ScimTable, prefilter: ScimWhere | null, afterId: string, batch: number): Promise<R[]> {
  const values = [...(prefilter?.values ?? []), afterId];
  const { rows } = await q.query<R>(
    `SELECT ${t.cols} FROM ${t.table} ${t.alias}
      WHERE ${t.live}${prefilter ? ` AND ${prefilter.sql}` : ''} AND ${t.alias}.id > $${values.length}::uuid
      ORDER BY ${t.alias}.id LIMIT ${batch}`,
    values,
  );
  return rows;
}

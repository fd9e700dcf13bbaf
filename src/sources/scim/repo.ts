/** SQL over the SCIM tables (migration 002). Every function takes the transaction it runs in. */
import { pendingAuditSelect } from '../../store/audit.js';
import type { Queryable } from '../../store/db.js';
import { isUuid } from '../../store/identities.js';
import type { JsonObject } from './resource.js';

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

export const USER_COLS = 'u.id, u.identity_id, u.user_name_key, u.external_id, u.identity_key, u.active, u.resource, u.version, u.created_at, u.updated_at, u.deleted_at';
export const GROUP_COLS = 'g.id, g.display_name_key, g.external_id, g.resource, g.version, g.created_at, g.updated_at';

export async function getLiveUser(q: Queryable, id: string, forUpdate = false): Promise<UserRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<UserRow>(
    `SELECT ${USER_COLS} FROM scim_users u WHERE u.id = $1 AND u.deleted_at IS NULL${forUpdate ? ' FOR UPDATE' : ''}`,
    [id.toLowerCase()],
  );
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
  if (!isUuid(id)) return null;
  const { rows } = await q.query<UserRow & { i_source: string | null; i_external_id: string | null; i_data: unknown; i_deleted_at: Date | string | null }>(
    `SELECT ${USER_COLS}, i.source AS i_source, i.external_id AS i_external_id, i.data AS i_data, i.deleted_at AS i_deleted_at
       FROM scim_users u JOIN identities i ON i.id = u.identity_id
      WHERE u.id = $1 AND u.deleted_at IS NULL FOR UPDATE`,
    [id.toLowerCase()],
  );
  const r = rows[0];
  if (!r) return null;
  const { i_source, i_external_id, i_data, i_deleted_at, ...user } = r;
  return { ...user, identity: i_source === null || i_external_id === null ? null : { source: i_source, external_id: i_external_id, data: i_data, deleted_at: i_deleted_at } };
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
): Promise<UserRow> {
  const { rows } = await q.query<UserRow>(
    `WITH i AS (
       UPDATE identities SET user_name = $10, active = $11, data = $12, deleted_at = NULL, updated_at = now(), version = version + 1
        WHERE id = $2 AND $13::boolean RETURNING id
     ), a AS (
       INSERT INTO audit_pending (at, actor, action, subject, run_id, data) ${pendingAuditSelect('$14')}
     )
     UPDATE scim_users AS u SET identity_id = $2, user_name_key = $3, external_id = $4, identity_key = $5, active = $6,
       resource = $7, version = $8, updated_at = $9 WHERE u.id = $1 RETURNING ${USER_COLS}`,
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
    ],
  );
  return rows[0]!;
}

/** Another live user holding the userName (case-folded key) or the identity key, if any. */
export async function findUserConflict(
  q: Queryable,
  userNameKey: string,
  identityKey: string,
  exceptId: string | null,
): Promise<{ field: 'userName' | 'externalId'; id: string } | null> {
  const { rows } = await q.query<{ id: string; user_name_key: string }>(
    `SELECT id, user_name_key FROM scim_users
      WHERE deleted_at IS NULL AND (user_name_key = $1 OR identity_key = $2) AND id IS DISTINCT FROM $3::uuid LIMIT 1`,
    [userNameKey, identityKey, exceptId],
  );
  const r = rows[0];
  if (!r) return null;
  return { field: r.user_name_key === userNameKey ? 'userName' : 'externalId', id: r.id };
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
  return rows[0]!;
}

export async function updateUser(q: Queryable, w: UserWrite): Promise<UserRow> {
  const { rows } = await q.query<UserRow>(
    `UPDATE scim_users AS u SET identity_id = $2, user_name_key = $3, external_id = $4, identity_key = $5, active = $6,
       resource = $7, version = $8, updated_at = $9 WHERE u.id = $1 RETURNING ${USER_COLS}`,
    [w.id, w.identityId, w.userNameKey, w.externalId, w.identityKey, w.active, JSON.stringify(w.resource), w.version, w.at],
  );
  return rows[0]!;
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
  const { rows } = await q.query<{ id: string }>(
    'SELECT id FROM scim_users WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL ORDER BY id FOR SHARE',
    [valid],
  );
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
  const { rows } = await q.query<{ id: string }>(
    'SELECT id FROM scim_groups WHERE display_name_key = $1 AND id IS DISTINCT FROM $2::uuid LIMIT 1',
    [key, exceptId],
  );
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
  return rows[0]!;
}

export async function updateGroup(q: Queryable, w: GroupWrite): Promise<GroupRow> {
  const { rows } = await q.query<GroupRow>(
    `UPDATE scim_groups AS g SET display_name_key = $2, external_id = $3, resource = $4, version = $5, updated_at = $6
      WHERE g.id = $1 RETURNING ${GROUP_COLS}`,
    [w.id, w.displayNameKey, w.externalId, JSON.stringify(w.resource), w.version, w.at],
  );
  return rows[0]!;
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

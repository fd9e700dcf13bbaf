import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { identityInputSchema, type Identity, type IdentityData, type IdentityInput } from '../domain/identity.js';
import { LockstepError } from '../domain/errors.js';
import { sponsorRef, type SponsorState } from '../domain/sponsor.js';
import type { Queryable } from './db.js';

interface Row {
  id: string;
  source: string;
  external_id: string;
  user_name: string;
  active: boolean;
  data: IdentityData;
  deleted_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
  version: number;
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/**
 * A page of a bulk read as one JSON value: [[id, source, external_id, user_name, active, data,
 * version, deleted_at, created_at, updated_at], ...], in id order. One native JSON.parse of the
 * whole page instead of ten fields a row through the driver, and timestamps already as the ISO
 * text toISOString gives (UTC, milliseconds truncated as a JS Date holds them), so a full run's
 * 100k rows cost no per-row driver work and no date parsing or formatting in JS.
 */
const isoText = (c: string) => `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
export const LIST_TUPLE = `json_build_array(id, source, external_id, user_name, active, data, version, ${isoText('deleted_at')}, ${isoText('created_at')}, ${isoText('updated_at')})`;

export type ListTuple = [string, string, string, string, boolean, IdentityData, number, string | null, string, string];

/** The same object fromRow builds: data's keys first, then these, in this order (data's own object, freshly parsed, is reused). */
export function fromListTuple(t: ListTuple): Identity {
  const o = t[5] as Identity;
  o.id = t[0];
  o.source = t[1];
  o.externalId = t[2];
  o.userName = t[3];
  o.active = t[4];
  o.deletedAt = t[7];
  o.createdAt = t[8];
  o.updatedAt = t[9];
  o.version = Number(t[6]);
  return o;
}

function fromRow(r: Row): Identity {
  return {
    ...r.data,
    id: r.id,
    source: r.source,
    externalId: r.external_id,
    userName: r.user_name,
    active: r.active,
    deletedAt: iso(r.deleted_at),
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    version: Number(r.version),
  };
}

/** Validates a source's record; the error names the field. */
export function parseIdentityInput(input: IdentityInput): IdentityData {
  const r = identityInputSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join('.');
    throw new LockstepError('validation', `${field || 'identity'}: ${issue.message}`, { field, details: z.treeifyError(r.error) });
  }
  return r.data;
}

/**
 * The columns of a new identity row, for statements that insert it together with other rows:
 * id, source, external_id, user_name, active, data (JSON), in that order.
 */
export function newIdentityColumns(input: IdentityInput, id: string): [string, string, string, string, boolean, string] {
  const data = parseIdentityInput(input);
  return [id, data.source, data.externalId, data.userName, data.active, JSON.stringify(data)];
}

/** Stable JSON for comparing stored and incoming data (key order must not count as a change). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export interface UpsertResult {
  identity: Identity;
  created: boolean;
  /** False when the stored record already said exactly this: no version bump, nothing to reconcile. */
  changed: boolean;
}

/**
 * Creates or updates the identity keyed by (source, externalId). An upsert of a deleted
 * identity restores it (a rehire, or Entra restoring a soft-deleted user). Identities a source
 * keys by its own record id (`keyed_by_id`: SCIM users, migration 009) are not found here; the
 * SCIM source writes those by id (store/scim.ts).
 */
export async function upsertIdentity(q: Queryable, input: IdentityInput, opts: { id?: string; likelyNew?: boolean } = {}): Promise<UpsertResult> {
  const data = parseIdentityInput(input);
  if (opts.likelyNew) {
    // One statement for the usual case of a new person; an existing one falls through below.
    const { rows } = await q.query<Row>(
      `INSERT INTO identities (id, source, external_id, user_name, active, data)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, external_id) WHERE NOT keyed_by_id DO NOTHING RETURNING *`,
      [opts.id ?? randomUUID(), data.source, data.externalId, data.userName, data.active, JSON.stringify(data)],
    );
    if (rows[0]) return { identity: fromRow(rows[0]), created: true, changed: true };
  }
  const existing = await q.query<Row>('SELECT * FROM identities WHERE source = $1 AND external_id = $2 AND NOT keyed_by_id FOR UPDATE', [
    data.source,
    data.externalId,
  ]);
  const cur = existing.rows[0];
  if (!cur) {
    const id = opts.id ?? randomUUID();
    const { rows } = await q.query<Row>(
      `INSERT INTO identities (id, source, external_id, user_name, active, data)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [id, data.source, data.externalId, data.userName, data.active, JSON.stringify(data)],
    );
    return { identity: fromRow(rows[0]), created: true, changed: true };
  }
  if (cur.deleted_at === null && canonicalJson(cur.data) === canonicalJson(data)) {
    return { identity: fromRow(cur), created: false, changed: false };
  }
  const { rows } = await q.query<Row>(
    `UPDATE identities SET user_name = $2, active = $3, data = $4, deleted_at = NULL,
       updated_at = now(), version = version + 1 WHERE id = $1 RETURNING *`,
    [cur.id, data.userName, data.active, JSON.stringify(data)],
  );
  return { identity: fromRow(rows[0]), created: false, changed: true };
}

/**
 * Marks the identity deleted (a leaver). It stays in the store, with its history, for the
 * audit trail; sources stop seeing it. Returns null when there was no such identity.
 */
export async function markIdentityDeleted(q: Queryable, id: string): Promise<Identity | null> {
  const { rows } = await q.query<Row>(
    `UPDATE identities SET deleted_at = COALESCE(deleted_at, now()), active = false,
       data = jsonb_set(data, '{active}', 'false'::jsonb),
       updated_at = now(), version = version + CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END
     WHERE id = $1 RETURNING *`,
    [id],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function getIdentity(q: Queryable, id: string): Promise<Identity | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<Row>('SELECT * FROM identities WHERE id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/**
 * These identities (deleted ones too) in id order, as listIdentities reads them: one JSON text
 * for the lot (a full run asks for up to a page of thousands whose stored version changed).
 */
export async function getIdentities(q: Queryable, ids: readonly string[]): Promise<Identity[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  const { rows } = await q.query<{ page: ListTuple[] | string | null }>(
    `SELECT json_agg(t.r ORDER BY t.id) AS page FROM (SELECT id, ${LIST_TUPLE} AS r FROM identities WHERE id = ANY($1::uuid[])) t`,
    [valid],
  );
  const page = rows[0]?.page ?? null;
  if (page === null) return [];
  return (typeof page === 'string' ? (JSON.parse(page) as ListTuple[]) : page).map(fromListTuple);
}

/**
 * The identities after `afterId` (null: from the first) up to and including `lastId`, in id
 * order, deleted ones too: a full run's page read whole, when the process knows few of its
 * identities yet (its first run): a range scan, without a list of ids to send.
 */
export async function identitiesInRange(q: Queryable, afterId: string | null, lastId: string): Promise<Identity[]> {
  const { rows } = await q.query<{ page: ListTuple[] | string | null }>(
    `SELECT json_agg(t.r ORDER BY t.id) AS page FROM (
       SELECT id, ${LIST_TUPLE} AS r FROM identities WHERE ${afterId === null ? '' : 'id > $2::uuid AND '}id <= $1::uuid) t`,
    afterId === null ? [lastId] : [lastId, afterId],
  );
  const page = rows[0]?.page ?? null;
  if (page === null) return [];
  return (typeof page === 'string' ? (JSON.parse(page) as ListTuple[]) : page).map(fromListTuple);
}

export async function findIdentityBySourceKey(q: Queryable, source: string, externalId: string): Promise<Identity | null> {
  const { rows } = await q.query<Row>('SELECT * FROM identities WHERE source = $1 AND external_id = $2', [source, externalId]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/**
 * The identities of a source with these Entra object ids (the attribute migration 004 indexes)
 * or these keys, deleted ones too: what a delta round needs instead of the whole source.
 */
export async function findIdentitiesByObjectIdOrKey(q: Queryable, source: string, objectIds: string[], externalIds: string[]): Promise<Identity[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM identities WHERE source = $1 AND ((data->'attributes'->>'entraObjectId') = ANY($2::text[]) OR external_id = ANY($3::text[]))`,
    [source, objectIds, externalIds],
  );
  return getIdentities(
    q,
    rows.map((r) => r.id),
  );
}

/** Which of these keys some identity (of any source, deleted ones too) holds. */
export async function knownExternalIds(q: Queryable, externalIds: string[]): Promise<Set<string>> {
  if (externalIds.length === 0) return new Set();
  const { rows } = await q.query<{ external_id: string }>('SELECT DISTINCT external_id FROM identities WHERE external_id = ANY($1::text[])', [externalIds]);
  return new Set(rows.map((r) => r.external_id));
}

/** userName is case-insensitive, as SCIM says. Live identities first. */
export async function findIdentityByUserName(q: Queryable, userName: string): Promise<Identity | null> {
  const { rows } = await q.query<Row>(
    'SELECT * FROM identities WHERE lower(user_name) = lower($1) ORDER BY (deleted_at IS NULL) DESC, updated_at DESC LIMIT 1',
    [userName],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

export interface ListIdentitiesOptions {
  source?: string;
  includeDeleted?: boolean;
  /** Keyset paging: ids greater than this. */
  afterId?: string;
  limit?: number;
}

export async function listIdentities(q: Queryable, opts: ListIdentitiesOptions = {}): Promise<Identity[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.source) {
    params.push(opts.source);
    where.push(`source = $${params.length}`);
  }
  if (!opts.includeDeleted) where.push('deleted_at IS NULL');
  if (opts.afterId) {
    params.push(opts.afterId);
    where.push(`id > $${params.length}`);
  }
  params.push(opts.limit ?? 100_000);
  const { rows } = await q.query<{ page: ListTuple[] | string | null }>(
    `SELECT json_agg(t.r ORDER BY t.id) AS page FROM (
       SELECT id, ${LIST_TUPLE} AS r FROM identities ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}) t`,
    params,
  );
  const page = rows[0]?.page ?? null;
  if (page === null) return [];
  return (typeof page === 'string' ? (JSON.parse(page) as ListTuple[]) : page).map(fromListTuple);
}

/** Every identity (deleted ones included: their accounts still need revoking), in id order, page by page. */
export async function* iterateIdentities(
  q: Queryable,
  pageSize = 5000,
  opts: { includeDeleted?: boolean } = { includeDeleted: true },
): AsyncGenerator<Identity[]> {
  let afterId: string | undefined;
  for (;;) {
    const page = await listIdentities(q, { includeDeleted: opts.includeDeleted, afterId, limit: pageSize });
    if (page.length === 0) return;
    yield page;
    afterId = page[page.length - 1].id;
    if (page.length < pageSize) return;
  }
}

export async function countIdentities(q: Queryable, opts: { source?: string; includeDeleted?: boolean } = {}): Promise<number> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.source) {
    params.push(opts.source);
    where.push(`source = $${params.length}`);
  }
  if (!opts.includeDeleted) where.push('deleted_at IS NULL');
  const { rows } = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM identities ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`, params);
  return Number(rows[0].n);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(s: string): boolean {
  return UUID.test(s);
}

/** The sponsor attribute as resolution compares it (the expression the sponsees index is built on). */
const SPONSOR_KEY = `lower(btrim(data->>'sponsor', E' \\t\\n\\r'))`;

/**
 * The state of the identity each of these identities' `sponsor` names, by sponsee id, in one
 * statement for the whole list (a full run asks once per page of thousands). Identities whose
 * sponsor is empty are left out; a sponsor that names no one is `{ found: false }`. How the
 * attribute resolves (id, userName, externalId or email; which match wins) is in domain/sponsor.ts.
 */
export async function sponsorStates(q: Queryable, identities: ReadonlyArray<Pick<Identity, 'id' | 'sponsor'>>): Promise<Map<string, SponsorState>> {
  const out = new Map<string, SponsorState>();
  const refs = new Set<string>();
  for (const i of identities) {
    const ref = sponsorRef(i);
    if (ref !== null) refs.add(ref);
  }
  if (refs.size === 0) return out;
  const byRef = await sponsorsByRef(q, [...refs]);
  const unknown: SponsorState = { found: false };
  for (const i of identities) {
    const ref = sponsorRef(i);
    if (ref !== null) out.set(i.id, byRef.get(ref) ?? unknown);
  }
  return out;
}

/**
 * Every sponsor named by a live identity, resolved in two statements (a full run asks once, not
 * once per page): by the sponsor attribute as sponsorRef reads it. A ref asked about but missing
 * from byRef names no one.
 */
export async function allSponsorsByRef(q: Queryable): Promise<{ asked: Set<string>; byRef: Map<string, SponsorState> }> {
  const { rows } = await q.query<{ refs: string[] | null }>(
    `SELECT array_agg(DISTINCT btrim(data->>'sponsor', E' \\t\\n\\r')) AS refs FROM identities
      WHERE deleted_at IS NULL AND jsonb_typeof(data->'sponsor') = 'string' AND btrim(data->>'sponsor', E' \\t\\n\\r') <> ''`,
  );
  // the same trimming as sponsorRef (String.prototype.trim): refs it would read differently are resolved again per page
  const asked = new Set((rows[0]?.refs ?? []).map((r) => r.trim()).filter((r) => r !== ''));
  return { asked, byRef: await sponsorsByRef(q, [...asked]) };
}

/** Sponsor refs to the states of the identities they name (refs that name no one are left out). */
async function sponsorsByRef(q: Queryable, list: string[]): Promise<Map<string, SponsorState>> {
  const byRef = new Map<string, SponsorState>();
  if (list.length === 0) return byRef;
  const { rows } = await q.query<{ ref: string; id: string; user_name: string; active: boolean; deleted_at: string | null; leave_date: string | null }>(
    `WITH r AS (SELECT DISTINCT ref, lower(ref) AS k FROM unnest($1::text[]) AS u(ref)),
     m AS (
       SELECT r.ref, 0 AS how, i.* FROM r JOIN identities i ON i.id = ANY($2::uuid[]) AND i.id::text = r.k
       UNION ALL SELECT r.ref, 1, i.* FROM r JOIN identities i ON lower(i.user_name) = r.k
       UNION ALL SELECT r.ref, 2, i.* FROM r JOIN identities i ON lower(i.external_id) = r.k
       UNION ALL SELECT r.ref, 3, i.* FROM r JOIN identities i ON lower(i.data->>'email') = r.k)
     SELECT DISTINCT ON (ref) ref, id, user_name, active, ${isoText('deleted_at')} AS deleted_at, data->>'leaveDate' AS leave_date
     FROM m ORDER BY ref, (deleted_at IS NULL) DESC, how, updated_at DESC, id`,
    [list, list.filter(isUuid).map((s) => s.toLowerCase())],
  );
  for (const r of rows) {
    byRef.set(r.ref, { found: true, id: r.id, userName: r.user_name, active: r.active, deletedAt: r.deleted_at, leaveDate: r.leave_date || null });
  }
  return byRef;
}

/**
 * Ids of the live identities whose `sponsor` names this identity (by its id, userName,
 * externalId or email, case-insensitively), in id order: whose sponsored access to look at
 * again when the sponsor changes. A sponsor renamed or re-keyed should be asked about as it was
 * and as it is (pass both): sponsees naming the old name lose their sponsor.
 */
export async function sponseesOf(
  q: Queryable,
  identity: Pick<Identity, 'id' | 'userName' | 'externalId' | 'email'> | ReadonlyArray<Pick<Identity, 'id' | 'userName' | 'externalId' | 'email'>>,
): Promise<string[]> {
  const list = (Array.isArray(identity) ? identity : [identity]) as ReadonlyArray<Pick<Identity, 'id' | 'userName' | 'externalId' | 'email'>>;
  const keys = new Set<string>();
  const ids: string[] = [];
  for (const i of list) {
    for (const k of [i.id, i.userName, i.externalId, i.email]) if (typeof k === 'string' && k.trim() !== '') keys.add(k.trim());
    if (isUuid(i.id)) ids.push(i.id);
  }
  if (keys.size === 0) return [];
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM identities
     WHERE ${SPONSOR_KEY} = ANY(ARRAY(SELECT lower(k) FROM unnest($1::text[]) AS u(k))) AND deleted_at IS NULL AND NOT (id = ANY($2::uuid[]))
     ORDER BY id`,
    [[...keys], ids],
  );
  return rows.map((r) => r.id);
}

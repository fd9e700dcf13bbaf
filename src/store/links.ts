import { conflictsFromTuples, type KeyHolder } from './correlation.js';
import { governanceFromJson, governanceSelects, type GovernanceInForce } from './requests.js';
import type { Identity } from '../domain/identity.js';
import { isoOfMs } from '../domain/time.js';
import type { Queryable } from './db.js';
import { fromListTuple, isUuid, LIST_TUPLE, type ListTuple } from './identities.js';

export interface Link {
  system: string;
  identityId: string;
  accountId: string;
  externalId: string;
}

/**
 * Every link of one system (a full run reads 100k at once): as one JSON text the store builds
 * and JSON.parse reads, far cheaper than as 100k rows each parsed field by field.
 */
export async function listLinks(q: Queryable, system: string): Promise<Link[]> {
  const { rows } = await q.query<{ links: Array<[string, string, string]> | string | null }>(
    'SELECT json_agg(json_build_array(identity_id, account_id, external_id)) AS links FROM links WHERE system = $1',
    [system],
  );
  return (parsed(rows[0]?.links) ?? []).map(([identityId, accountId, externalId]) => ({ system, identityId, accountId, externalId }));
}

export async function linksForIdentities(q: Queryable, identityIds: string[]): Promise<Link[]> {
  if (identityIds.length === 0) return [];
  const { rows } = await q.query<{ system: string; identity_id: string; account_id: string; external_id: string }>(
    'SELECT system, identity_id, account_id, external_id FROM links WHERE identity_id = ANY($1::uuid[])',
    [identityIds],
  );
  return rows.map((r) => ({ system: r.system, identityId: r.identity_id, accountId: r.account_id, externalId: r.external_id }));
}

/** Records (or moves) the link; an account belongs to at most one identity per system. */
export async function saveLink(q: Queryable, l: Link): Promise<void> {
  await q.query('DELETE FROM links WHERE system = $1 AND account_id = $2 AND identity_id <> $3', [l.system, l.accountId, l.identityId]);
  await q.query(
    `INSERT INTO links (system, identity_id, account_id, external_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (system, identity_id) DO UPDATE SET account_id = EXCLUDED.account_id, external_id = EXCLUDED.external_id`,
    [l.system, l.identityId, l.accountId, l.externalId],
  );
}

export async function deleteLink(q: Queryable, system: string, accountId: string): Promise<void> {
  await q.query('DELETE FROM links WHERE system = $1 AND account_id = $2', [system, accountId]);
}

/** When each of these identities' entitlements first began: identityId → accessGroupId → ISO. */
// One JSON value for the whole batch ({identity: {group: epoch ms}}, truncated as a JS Date
// would), rather than one row per anchor whose timestamp the driver parses into a Date: a
// full run reads half a million of them.
type AnchorsJson = Record<string, Record<string, number>>;
const ANCHORS_OF_IDS = (param: string) => `SELECT json_object_agg(identity_id, a) FROM (
       SELECT identity_id, json_object_agg(access_group_id, floor(extract(epoch FROM since) * 1000)::bigint) AS a
         FROM entitlement_anchors WHERE identity_id = ANY(${param}::uuid[]) GROUP BY identity_id) t`;

export async function loadAnchors(q: Queryable, identityIds: string[]): Promise<Map<string, Record<string, string>>> {
  if (identityIds.length === 0) return new Map();
  const { rows } = await q.query<{ anchors: AnchorsJson | string | null }>(`SELECT (${ANCHORS_OF_IDS('$1')}) AS anchors`, [identityIds]);
  return anchorsFromJson(rows[0]?.anchors ?? null);
}

function anchorsFromJson(raw: AnchorsJson | string | null): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  if (raw === null) return out;
  for (const [identityId, anchors] of Object.entries(typeof raw === 'string' ? (JSON.parse(raw) as AnchorsJson) : raw)) {
    const m: Record<string, string> = {};
    for (const g of Object.keys(anchors)) m[g] = isoOfMs(Number(anchors[g]));
    out.set(identityId, m);
  }
  return out;
}

/**
 * Makes the stored anchors match the current entitlements: new ones start at the given
 * instant (now, or a pre-hire window's start), ones no longer entitled are forgotten (a later
 * re-grant starts a new window).
 */
export async function syncAnchors(q: Queryable, identityId: string, entitled: Record<string, string>): Promise<void> {
  const ids = Object.keys(entitled);
  await q.query('DELETE FROM entitlement_anchors WHERE identity_id = $1 AND NOT (access_group_id = ANY($2::text[]))', [identityId, ids]);
  if (ids.length === 0) return;
  await q.query(
    `INSERT INTO entitlement_anchors (identity_id, access_group_id, since)
     SELECT $1, g, s FROM unnest($2::text[], $3::timestamptz[]) AS u(g, s) ON CONFLICT DO NOTHING`,
    [identityId, ids, ids.map((g) => entitled[g])],
  );
}

/**
 * syncAnchors for many identities: two statements per batch of identities instead of two per
 * identity (a full run's bookkeeping would otherwise be 200k round trips for 100k people).
 */
export type AnchorItems = Array<{ identityId: string; entitled: Record<string, string> }>;

/** The parameters of anchorCtes: identities, and their (identity, group, since) pairs. */
export function anchorParams(items: AnchorItems): [string[], string[], string[], string[]] {
  const pairId: string[] = [];
  const pairGroup: string[] = [];
  const pairSince: string[] = [];
  for (const b of items) {
    for (const [g, since] of Object.entries(b.entitled)) {
      pairId.push(b.identityId);
      pairGroup.push(g);
      pairSince.push(since);
    }
  }
  return [items.map((b) => b.identityId), pairId, pairGroup, pairSince];
}

/**
 * The anchors' sync as two CTEs (`anchors_gone`, `anchors_new`) over anchorParams at $n..$n+3,
 * for a statement that writes more: the anchors that went are removed, the new ones added (the
 * two sets are disjoint, and kept anchors keep their first-grant time).
 */
export function anchorCtes(n: number): string {
  const [ids, pid, pgroup, psince] = [n, n + 1, n + 2, n + 3].map((k) => `$${k}`);
  return `anchors_gone AS (
         DELETE FROM entitlement_anchors a WHERE a.identity_id = ANY(${ids}::uuid[])
           AND NOT EXISTS (SELECT 1 FROM unnest(${pid}::uuid[], ${pgroup}::text[]) AS u(i, g) WHERE u.i = a.identity_id AND u.g = a.access_group_id)
       ), anchors_new AS (
         INSERT INTO entitlement_anchors (identity_id, access_group_id, since)
         SELECT i, g, s FROM unnest(${pid}::uuid[], ${pgroup}::text[], ${psince}::timestamptz[]) AS u(i, g, s) ON CONFLICT DO NOTHING
       )`;
}

export async function syncAnchorsMany(q: Queryable, items: AnchorItems, batchSize = 5000): Promise<void> {
  for (let i = 0; i < items.length; i += batchSize) {
    // one statement, so atomic
    await q.query(`WITH ${anchorCtes(1)} SELECT 1`, anchorParams(items.slice(i, i + batchSize)));
  }
}

export async function getSyncState<T>(q: Queryable, key: string): Promise<T | null> {
  const { rows } = await q.query<{ value: T }>('SELECT value FROM sync_state WHERE key = $1', [key]);
  return rows[0]?.value ?? null;
}

export async function setSyncState(q: Queryable, key: string, value: unknown): Promise<void> {
  await q.query(
    `INSERT INTO sync_state (key, value, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [key, JSON.stringify(value)],
  );
}

export interface CredentialUse {
  credentialId: string;
  accountId: string | null;
  at: string;
}

/**
 * The latest use of each credential in a batch. One card used twice in a batch of events must
 * be one row of the upsert: PostgreSQL refuses to update a row twice in one INSERT ... ON
 * CONFLICT. Of equal instants, the one that names its account wins.
 */
function latestUsePerCredential(uses: CredentialUse[]): CredentialUse[] {
  const latest = new Map<string, { use: CredentialUse; ms: number }>();
  for (const u of uses) {
    const ms = Date.parse(u.at);
    const seen = latest.get(u.credentialId);
    if (!seen || ms > seen.ms || (ms === seen.ms && seen.use.accountId === null && u.accountId !== null)) latest.set(u.credentialId, { use: u, ms });
  }
  return [...latest.values()].map((l) => l.use);
}

/**
 * Keeps the latest use of each credential: of the batch (see latestUsePerCredential) and of
 * what is stored, so an older event read late never moves a last use back. The account is the
 * newest use's, or the stored one where that use names none.
 */
export async function recordCredentialUse(q: Queryable, system: string, uses: CredentialUse[]): Promise<void> {
  const latest = latestUsePerCredential(uses);
  if (latest.length === 0) return;
  await q.query(
    `INSERT INTO credential_usage (system, credential_id, account_id, last_used_at)
     SELECT $1, c, a, t FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS u(c, a, t)
     ON CONFLICT (system, credential_id) DO UPDATE
       SET last_used_at = GREATEST(credential_usage.last_used_at, EXCLUDED.last_used_at),
           account_id = CASE WHEN EXCLUDED.last_used_at >= credential_usage.last_used_at
                             THEN COALESCE(EXCLUDED.account_id, credential_usage.account_id)
                             ELSE COALESCE(credential_usage.account_id, EXCLUDED.account_id) END`,
    [system, latest.map((u) => u.credentialId), latest.map((u) => u.accountId), latest.map((u) => u.at)],
  );
}

/** The account last seen using this credential, if any. */
export async function credentialHolder(q: Queryable, system: string, credentialId: string): Promise<string | null> {
  const { rows } = await q.query<{ account_id: string | null }>('SELECT account_id FROM credential_usage WHERE system = $1 AND credential_id = $2', [
    system,
    credentialId,
  ]);
  return rows[0]?.account_id ?? null;
}

/** The identity an account is linked to in a system, if any. */
export async function linkedIdentityOf(q: Queryable, system: string, accountId: string): Promise<string | null> {
  const { rows } = await q.query<{ identity_id: string }>('SELECT identity_id FROM links WHERE system = $1 AND account_id = $2', [system, accountId]);
  return rows[0]?.identity_id ?? null;
}

/**
 * What the plan knows of a system's credentials beyond what the lock system says: each one's
 * last use (access events), the ones lockstep suspended for a leaver and may set active again
 * (migration 16), and when lockstep reactivated one (the unused-credential rule counts from then).
 */
export interface CredentialFacts {
  lastUsed: Map<string, string>;
  heldForLeaver: Set<string>;
  reactivatedAt: Map<string, string>;
}

export const noCredentialFacts = (): CredentialFacts => ({ lastUsed: new Map(), heldForLeaver: new Set(), reactivatedAt: new Map() });

type FactsRow = { usage: Array<[string, string]> | string | null; holds: Array<[string, string | null]> | string | null };
const factsOf = (r: FactsRow | undefined): CredentialFacts => {
  const parse = <T>(v: T[] | string | null | undefined): T[] => (v === null || v === undefined ? [] : typeof v === 'string' ? (JSON.parse(v) as T[]) : v);
  const out = noCredentialFacts();
  for (const [id, at] of parse(r?.usage)) out.lastUsed.set(id, new Date(at).toISOString());
  for (const [id, released] of parse(r?.holds)) {
    if (released === null) out.heldForLeaver.add(id);
    else out.reactivatedAt.set(id, new Date(released).toISOString());
  }
  return out;
};

/** CredentialFacts of these credentials, in one round trip (an identity-scoped run). */
export async function credentialFactsFor(q: Queryable, system: string, credentialIds: string[]): Promise<CredentialFacts> {
  if (credentialIds.length === 0) return noCredentialFacts();
  const { rows } = await q.query<FactsRow>(
    `SELECT (SELECT json_agg(json_build_array(credential_id, last_used_at)) FROM credential_usage WHERE system = $1 AND credential_id = ANY($2::text[])) AS usage,
            (SELECT json_agg(json_build_array(credential_id, released_at)) FROM credential_holds WHERE system = $1 AND credential_id = ANY($2::text[])) AS holds`,
    [system, credentialIds],
  );
  return factsOf(rows[0]);
}

/** CredentialFacts of every credential of a system (a full run). */
export async function credentialFacts(q: Queryable, system: string): Promise<CredentialFacts> {
  const { rows } = await q.query<FactsRow>(
    `SELECT (SELECT json_agg(json_build_array(credential_id, last_used_at)) FROM credential_usage WHERE system = $1) AS usage,
            (SELECT json_agg(json_build_array(credential_id, released_at)) FROM credential_holds WHERE system = $1) AS holds`,
    [system],
  );
  return factsOf(rows[0]);
}

/**
 * After a run: credentials lockstep suspended for a leaver are held (it may set them active
 * again when the person is entitled again); ones it set active again are released, from now.
 */
export async function recordCredentialHolds(
  q: Queryable,
  held: Array<{ system: string; credentialId: string; accountId: string; cause: string; at: string }>,
  released: Array<{ system: string; credentialId: string; at: string }>,
): Promise<void> {
  if (held.length) {
    await q.query(
      `INSERT INTO credential_holds (system, credential_id, account_id, cause, held_at)
       SELECT s, c, a, k, t FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(s, c, a, k, t)
       ON CONFLICT (system, credential_id) DO UPDATE SET account_id = EXCLUDED.account_id, cause = EXCLUDED.cause, held_at = EXCLUDED.held_at, released_at = NULL`,
      [held.map((h) => h.system), held.map((h) => h.credentialId), held.map((h) => h.accountId), held.map((h) => h.cause), held.map((h) => h.at)],
    );
  }
  if (released.length) {
    await q.query(
      `UPDATE credential_holds h SET released_at = u.t FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(s, c, t)
        WHERE h.system = u.s AND h.credential_id = u.c AND h.released_at IS NULL`,
      [released.map((r) => r.system), released.map((r) => r.credentialId), released.map((r) => r.at)],
    );
  }
}

export async function credentialUsage(q: Queryable, system: string): Promise<Map<string, string>> {
  const { rows } = await q.query<{ credential_id: string; last_used_at: Date | string }>(
    'SELECT credential_id, last_used_at FROM credential_usage WHERE system = $1',
    [system],
  );
  return new Map(rows.map((r) => [r.credential_id, new Date(r.last_used_at).toISOString()]));
}

/** One identity's stored version, as a full run's page lists it (the instant as epoch ms). */
export interface IdentityStamp {
  id: string;
  version: number;
  updatedAtMs: number;
}

/** What a full run reads of one page of identities, besides the identities themselves. */
export interface IdentityStampPage {
  /** The page's identities (deleted ones too) in id order: which, and at which stored version. */
  stamps: IdentityStamp[];
  anchors: Map<string, Record<string, string>>;
  governance: GovernanceInForce;
}

/**
 * A full run's page: the next `limit` identities after `afterId` in id order (deleted ones too)
 * by their stored version only, with their anchors and the governance in force, in one
 * statement. The run takes the identities whose version it knows from what it read before
 * (reconcile/identity-cache.ts) and asks getIdentities for the rest: an unchanged estate's
 * 100k identities are not sent, parsed and thrown away again on every run. The page is chosen by
 * the store, so no list of thousands of ids travels to it per look-up.
 */
export async function loadIdentityStamps(q: Queryable, afterId: string | null, limit: number, governanceAt: Date): Promise<IdentityStampPage> {
  const { rows } = await q.query<{
    stamps: Array<[string, number, number]> | string | null;
    anchors: Array<[string, string, number]> | string | null;
    gov_exceptions: unknown;
    gov_grants: unknown;
  }>(
    // two texts, not one with "$3 IS NULL OR id > $3": a prepared statement's generic plan could not use
    // the primary key's range for that, and would scan from the first id on every later page
    `WITH page AS MATERIALIZED (
       SELECT id, version, updated_at FROM identities ${afterId === null ? '' : 'WHERE id > $3::uuid'} ORDER BY id LIMIT $1
     )
     SELECT
       (SELECT json_agg(json_build_array(id, version, floor(extract(epoch FROM updated_at) * 1000)::bigint) ORDER BY id) FROM page) AS stamps,
       -- flat triples: grouping them per identity in SQL (json_object_agg) costs the store three times as much
       (SELECT json_agg(json_build_array(identity_id, access_group_id, floor(extract(epoch FROM since) * 1000)::bigint))
          FROM entitlement_anchors WHERE identity_id = ANY(ARRAY(SELECT id FROM page))) AS anchors,
       ${governanceSelects('ARRAY(SELECT id FROM page)', '$2')}`,
    afterId === null ? [limit, governanceAt.toISOString()] : [limit, governanceAt.toISOString(), afterId],
  );
  const r = rows[0];
  return {
    stamps: (parsed(r?.stamps) ?? []).map(([id, version, ms]) => ({ id, version: Number(version), updatedAtMs: Number(ms) })),
    anchors: anchorsFromTriples(parsed(r?.anchors)),
    governance: governanceFromJson(r),
  };
}

function anchorsFromTriples(triples: Array<[string, string, number]> | null): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const [identityId, group, ms] of triples ?? []) {
    let m = out.get(identityId);
    if (m === undefined) out.set(identityId, (m = {}));
    m[group] = isoOfMs(Number(ms));
  }
  return out;
}

function parsed<T>(v: T | string | null | undefined): T | null {
  return v === null || v === undefined ? null : typeof v === 'string' ? (JSON.parse(v) as T) : v;
}

/**
 * What an identity-scoped run reads from the store, in one round trip: the identities (deleted
 * ones too) in id order, their anchors and their links in every system.
 */
export async function loadIdentityScope(
  q: Queryable,
  identityIds: string[],
  /** The instant the access exceptions and requests' grants in force are read at (one round trip less per job). */
  governanceAt: Date = new Date(),
): Promise<{
  identities: Identity[];
  anchors: Map<string, Record<string, string>>;
  links: Link[];
  conflicts: Map<string, KeyHolder[]>;
  governance: GovernanceInForce;
}> {
  const ids = identityIds.filter(isUuid);
  if (ids.length === 0) return { identities: [], anchors: new Map(), links: [], conflicts: new Map(), governance: governanceFromJson(undefined) };
  const { rows } = await q.query<{
    identities: ListTuple[] | string | null;
    anchors: AnchorsJson | string | null;
    links: Array<[string, string, string, string]> | string | null;
    conflicts: Array<[string, string, string, string]> | string | null;
    gov_exceptions: unknown;
    gov_grants: unknown;
  }>(
    `SELECT
       (SELECT json_agg(t.r ORDER BY t.id) FROM (SELECT id, ${LIST_TUPLE} AS r FROM identities WHERE id = ANY($1::uuid[])) t) AS identities,
       (${ANCHORS_OF_IDS('$1')}) AS anchors,
       (SELECT json_agg(json_build_array(system, identity_id, account_id, external_id)) FROM links WHERE identity_id = ANY($1::uuid[])) AS links,
       -- correlation conflicts (store/correlation.ts): other live identities holding the same externalId
       (SELECT json_agg(json_build_array(i.id, o.id, o.user_name, o.source) ORDER BY i.id, o.id)
          FROM identities i JOIN identities o ON o.external_id = i.external_id AND o.deleted_at IS NULL AND o.id <> i.id
         WHERE i.id = ANY($1::uuid[]) AND i.deleted_at IS NULL) AS conflicts,
       ${governanceSelects('$1', '$2')}`,
    [ids, governanceAt.toISOString()],
  );
  const r = rows[0];
  return {
    identities: (parsed(r?.identities) ?? []).map(fromListTuple),
    anchors: anchorsFromJson(r?.anchors ?? null),
    links: (parsed(r?.links) ?? []).map(([system, identityId, accountId, externalId]) => ({ system, identityId, accountId, externalId })),
    conflicts: conflictsFromTuples(parsed(r?.conflicts)),
    governance: governanceFromJson(r),
  };
}

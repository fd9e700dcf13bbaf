import type { TokenCredential } from '@azure/identity';
import { isLeaver, type Identity, type IdentityInput, type Role } from '../../domain/identity.js';
import { LockstepError, toLockstepError } from '../../domain/errors.js';
import type { Db } from '../../store/db.js';
import { appendAudit, type AuditEntryInput } from '../../store/audit.js';
import { canonicalJson, findIdentitiesByObjectIdOrKey, listIdentities, markIdentityDeleted, parseIdentityInput } from '../../store/identities.js';
import { upsertIdentities } from '../../store/bulk.js';
import { getSyncState, setSyncState } from '../../store/links.js';
import type { EntraSourceConfig } from './config.js';
import { createCredential, EntraGraph, isResyncRequired, type GraphPage } from './graph.js';
import { GroupState, type GraphGroup, type GroupStateJson } from './groups.js';
import { compileUserMapping, managerIdOf, mapUser, OBJECT_ID_ATTRIBUTE, type GraphUser } from './mapping.js';
import { collectAll, loadAppRoleAssignments, normalizeRoles } from './roles.js';
import type { RetryInfo } from './retry.js';

/** The subset of pino's logger this source writes to. */
export interface EntraLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

export type EntraSource = EntraSourceConfig & { name: string };

export interface PullEntraDeps {
  db: Db;
  source: EntraSource;
  /** Called after the round is committed: leavers first, then everyone else whose identity changed. */
  onChange: (ids: string[], hint: { leaver: boolean }) => Promise<void> | void;
  logger?: EntraLogger;
  /** Replaces global fetch for Graph requests (not for the token endpoint, which @azure/identity calls itself). */
  fetchImpl?: typeof fetch;
  /** Replaces the credential the config describes (tests, benchmarks); null sends no token. */
  credential?: TokenCredential | null;
  /** Waits between retries; tests record the delays instead. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Apply removals the mass-removal guard would hold: an operator has looked and agrees. */
  allowMassRemoval?: boolean;
  now?: () => Date;
}

/** Why a collection was read whole rather than as changes. */
export type RoundMode = 'initial' | 'delta' | 'resync';

export interface HeldRemoval {
  /** Identities a complete enumeration did not contain (or no longer in scope). */
  wouldRemove: number;
  /** Live identities of this source before the round. */
  total: number;
  percent: number;
  maxRemovalPercent: number;
  /** Up to 20 externalIds of the people concerned, for the operator. */
  sample: string[];
}

export interface PullResult {
  source: string;
  users: { mode: RoundMode; pages: number; seen: number; resyncReason: string | null };
  groups: { mode: RoundMode; pages: number; seen: number; resyncReason: string | null } | null;
  /** A full enumeration replaced a delta round (410, expired token, changed $select or filter). */
  resynced: boolean;
  /** Users fetched one by one (joined a scope group without changing themselves). */
  fetched: number;
  /** Identities written: created or updated. */
  upserted: number;
  created: number;
  /** Identities whose stored record changed (leavers included). */
  changed: number;
  /** Identities marked deleted this round. */
  removed: number;
  leavers: number;
  /** Set when the mass-removal guard held back absence-based removals; no delta link was stored for them. */
  held: HeldRemoval | null;
  /** Users skipped because another Entra user already claims the same externalId. */
  conflicts: Array<{ objectId: string; externalId: string; heldBy: string }>;
  warnings: string[];
  changedIds: string[];
  leaverIds: string[];
  requests: number;
  retries: number;
  durationMs: number;
}

interface UsersSyncState {
  deltaLink: string;
  /** The $select the link was made with; another one needs a fresh enumeration. */
  select: string;
  completedAt: string;
}

interface GroupsSyncState {
  deltaLink: string;
  filter: string;
  groups: GroupStateJson;
  completedAt: string;
}

export const usersStateKey = (source: string) => `entra:${source}:users`;
export const groupsStateKey = (source: string) => `entra:${source}:groups`;

const silent: EntraLogger = { debug() {}, info() {}, warn() {}, error() {} };

// One Graph client (and so one token cache) per source, as long as its config stays the same.
const clients = new Map<string, { key: string; graph: EntraGraph }>();
const inFlight = new Map<string, Promise<PullResult>>();

/** Forgets cached Graph clients and their tokens (tests; a config reload). */
export function resetEntraClients(): void {
  clients.clear();
}

function graphFor(deps: PullEntraDeps, onRetry: (i: RetryInfo) => void): EntraGraph {
  const cfg = deps.source;
  const options = {
    baseUrl: cfg.graphBaseUrl,
    maxAttempts: cfg.http.maxAttempts,
    timeoutMs: cfg.http.timeoutMs,
    maxRetryAfterMs: cfg.http.maxRetryAfterMs,
    fetchImpl: deps.fetchImpl,
    sleep: deps.sleep,
    random: deps.random,
    onRetry,
  };
  const injected = deps.fetchImpl || deps.credential !== undefined || deps.sleep || deps.random;
  if (injected) return new EntraGraph({ ...options, credential: deps.credential !== undefined ? deps.credential : createCredential(cfg) });
  const key = canonicalJson({ ...cfg, name: undefined });
  const hit = clients.get(cfg.name);
  if (hit && hit.key === key) return hit.graph;
  const graph = new EntraGraph({ ...options, credential: createCredential(cfg) });
  clients.set(cfg.name, { key, graph });
  return graph;
}

/**
 * One pull of an Entra source: a delta round over users (and groups, and app-role
 * assignments when configured), turned into identity upserts and leavers in one
 * transaction together with the new delta links. Nothing is written unless every round
 * completed; the links are stored only with the changes they describe. Concurrent pulls of
 * the same source in this process share one run.
 */
export function pullEntra(deps: PullEntraDeps): Promise<PullResult> {
  const running = inFlight.get(deps.source.name);
  if (running) return running;
  const p = runPull(deps).finally(() => inFlight.delete(deps.source.name));
  inFlight.set(deps.source.name, p);
  return p;
}

interface Round<T> {
  mode: RoundMode;
  items: T[];
  deltaLink: string;
  pages: number;
  resyncReason: string | null;
}

/** Follows nextLinks (empty pages included) until Graph hands out the deltaLink. */
async function walk<T>(graph: EntraGraph, start: string): Promise<Omit<Round<T>, 'mode' | 'resyncReason'>> {
  const items: T[] = [];
  let url = start;
  for (let pages = 1; ; pages++) {
    const page = await graph.get<GraphPage<T>>(url);
    if (Array.isArray(page.value)) items.push(...page.value);
    const next = page['@odata.nextLink'];
    const delta = page['@odata.deltaLink'];
    if (next) url = next;
    else if (delta) return { items, deltaLink: delta, pages };
    else throw new LockstepError('unavailable', `Microsoft Graph ended a delta round without a deltaLink (page ${pages})`, { retryable: true });
  }
}

/**
 * A delta round from the stored link; a fresh enumeration when there is none or Graph says the
 * link is no good any more. Anything else that fails, fails the pull.
 */
async function round<T>(graph: EntraGraph, what: string, link: string | null, hadState: boolean, initial: string, log: EntraLogger): Promise<Round<T>> {
  if (link) {
    try {
      return { mode: 'delta', resyncReason: null, ...(await walk<T>(graph, link)) };
    } catch (e) {
      if (!isResyncRequired(e)) throw e;
      const reason = (e as LockstepError).message;
      log.warn({ collection: what, reason }, 'entra: delta link refused, enumerating everything again');
      return { mode: 'resync', resyncReason: reason, ...(await walk<T>(graph, initial)) };
    }
  }
  const r = await walk<T>(graph, initial);
  return hadState
    ? { mode: 'resync', resyncReason: 'the query changed (mapping, scope or groups config)', ...r }
    : { mode: 'initial', resyncReason: null, ...r };
}

/** Which groups to track and how to read them. */
interface GroupPlan {
  track: boolean;
  /** null: every group of the tenant. */
  filterIds: string[] | null;
  filterKey: string;
  scopeIds: string[] | null;
  names: 'all' | 'none' | Set<string>;
  transitive: boolean;
}

function planGroups(cfg: EntraSourceConfig): GroupPlan {
  const scopeIds = cfg.scope.groupIds ?? null;
  const setting = cfg.groups ?? (scopeIds ? 'scope' : 'all');
  const names: GroupPlan['names'] = setting === 'all' ? 'all' : setting === 'none' ? 'none' : new Set(setting === 'scope' ? (scopeIds ?? []) : setting);
  const wanted = new Set<string>([...(scopeIds ?? []), ...(names instanceof Set ? names : [])]);
  const track = names !== 'none' || scopeIds !== null;
  // Nesting can only be followed when every group is known; Graph filters at most 50 ids.
  const all = names === 'all' || cfg.scope.transitive || wanted.size > 50;
  const filterIds = all ? null : [...wanted].sort();
  return { track, filterIds, filterKey: filterIds ? filterIds.join(',') : '*', scopeIds, names, transitive: cfg.scope.transitive };
}

function groupsDeltaPath(plan: GroupPlan): string {
  const base = '/groups/delta?$select=id,displayName,members';
  if (!plan.filterIds) return base;
  const filter = plan.filterIds.map((id) => `id eq '${id}'`).join(' or ');
  return `${base}&$filter=${encodeURIComponent(filter)}`;
}

/** The identity fields as the store compares them (no bookkeeping). */
function dataOf(i: Identity): IdentityInput {
  const { id: _id, deletedAt: _d, createdAt: _c, updatedAt: _u, version: _v, ...data } = i;
  return data;
}

function objectIdOf(i: Identity): string | undefined {
  const v = i.attributes?.[OBJECT_ID_ATTRIBUTE];
  return typeof v === 'string' ? v : undefined;
}

interface StoredIndex {
  byObjectId: Map<string, Identity>;
  byExternalId: Map<string, Identity>;
  live: Identity[];
}

/** Adds one stored identity to the index, with loadStored's preference for live and newer records. */
function indexIdentity(idx: StoredIndex, i: Identity): void {
  idx.byExternalId.set(i.externalId, i);
  if (!i.deletedAt && !idx.live.some((x) => x.id === i.id)) idx.live.push(i);
  const oid = objectIdOf(i);
  if (!oid) return;
  const cur = idx.byObjectId.get(oid);
  if (!cur || (cur.deletedAt && !i.deletedAt) || (!!cur.deletedAt === !!i.deletedAt && i.updatedAt > cur.updatedAt)) idx.byObjectId.set(oid, i);
}

/** The identities of this source with these object ids or keys (indexed look-ups; see migration 004). */
async function loadStoredFor(db: Db, source: string, want: { objectIds: string[]; externalIds: string[] }): Promise<StoredIndex> {
  const idx: StoredIndex = { byObjectId: new Map(), byExternalId: new Map(), live: [] };
  if (want.objectIds.length === 0 && want.externalIds.length === 0) return idx;
  for (const i of await findIdentitiesByObjectIdOrKey(db, source, want.objectIds, want.externalIds)) indexIdentity(idx, i);
  return idx;
}

async function loadStored(db: Db, source: string): Promise<StoredIndex> {
  const byObjectId = new Map<string, Identity>();
  const byExternalId = new Map<string, Identity>();
  const live: Identity[] = [];
  let afterId: string | undefined;
  for (;;) {
    const page = await listIdentities(db, { source, includeDeleted: true, afterId, limit: 5000 });
    for (const i of page) {
      byExternalId.set(i.externalId, i);
      if (!i.deletedAt) live.push(i);
      const oid = objectIdOf(i);
      if (!oid) continue;
      const cur = byObjectId.get(oid);
      // A person re-keyed (new employeeId) leaves a deleted identity behind: the live one counts.
      if (!cur || (cur.deletedAt && !i.deletedAt) || (!!cur.deletedAt === !!i.deletedAt && i.updatedAt > cur.updatedAt)) byObjectId.set(oid, i);
    }
    if (page.length < 5000) break;
    afterId = page[page.length - 1].id;
  }
  return { byObjectId, byExternalId, live };
}

/** Runs fn over items, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]);
  });
  await Promise.all(workers);
}

type DeletionReason = 'deleted' | 'soft-deleted' | 'out-of-scope' | 'absent' | 'rekeyed';
interface Deletion {
  identity: Identity;
  reason: DeletionReason;
  /** Based on absence from a full enumeration: subject to the mass-removal guard. */
  guarded: boolean;
}
interface Upsert {
  objectId: string;
  input: IdentityInput;
}

async function runPull(deps: PullEntraDeps): Promise<PullResult> {
  const t0 = Date.now();
  const now = deps.now ?? (() => new Date());
  const cfg = deps.source;
  const name = cfg.name;
  const log = deps.logger ?? silent;
  const warnings: string[] = [];
  const graph = graphFor(deps, (info) => log.warn({ source: name, ...info }, 'entra: Graph throttled or failed, retrying'));
  const before = { ...graph.stats };
  const mapping = compileUserMapping(cfg);
  const select = mapping.select.join(',');
  const gplan = planGroups(cfg);

  // 1. Read every round to its end before touching the store.
  const usersState = await getSyncState<UsersSyncState>(deps.db, usersStateKey(name));
  const users = await round<GraphUser>(
    graph,
    'users',
    usersState && usersState.select === select ? usersState.deltaLink : null,
    !!usersState,
    `/users/delta?$select=${select}`,
    log,
  );

  let groupsState: GroupsSyncState | null = null;
  let groups: Round<GraphGroup> | null = null;
  let oldGroups = new GroupState();
  let newGroups = new GroupState();
  if (gplan.track) {
    groupsState = await getSyncState<GroupsSyncState>(deps.db, groupsStateKey(name));
    const sameFilter = groupsState?.filter === gplan.filterKey;
    groups = await round<GraphGroup>(graph, 'groups', sameFilter ? groupsState!.deltaLink : null, !!groupsState, groupsDeltaPath(gplan), log);
    oldGroups = GroupState.fromJson(groupsState?.groups);
    newGroups = groups.mode === 'delta' ? oldGroups.clone() : new GroupState();
    for (const g of groups.items) newGroups.apply(g);
  }

  const memberCache = new Map<string, string[]>();
  const directMembersOf = async (gid: string): Promise<string[]> => {
    if (newGroups.has(gid)) return newGroups.directUsers(gid);
    let hit = memberCache.get(gid);
    if (!hit) {
      const members = await collectAll<{ id: string }>(graph, `/groups/${encodeURIComponent(gid)}/members/microsoft.graph.user?$select=id`);
      hit = members.map((m) => m.id);
      memberCache.set(gid, hit);
    }
    return hit;
  };
  const roles = cfg.appRoleApplications.length > 0 ? await loadAppRoleAssignments(graph, cfg.appRoleApplications, directMembersOf) : null;

  const usersFull = users.mode !== 'delta';
  const groupsFull = !!groups && groups.mode !== 'delta';

  // 2. Plan: who changed, who left.
  const items = new Map<string, GraphUser>();
  for (const u of users.items) {
    if (!u || typeof u.id !== 'string') continue;
    const prev = items.get(u.id);
    // The same user may come more than once in a round: the later word wins, earlier annotations stay.
    items.set(u.id, u['@removed'] || !prev || prev['@removed'] ? u : { ...prev, ...u });
  }

  const nothingToDo = users.mode === 'delta' && items.size === 0 && (!groups || (groups.mode === 'delta' && groups.items.length === 0)) && !roles;

  const newMem = gplan.track ? newGroups.memberships(gplan.transitive) : new Map<string, Set<string>>();
  const inScope = (uid: string): boolean => !gplan.scopeIds || gplan.scopeIds.some((g) => newMem.get(uid)?.has(g) ?? false);
  const groupNames = (mem: Map<string, Set<string>>, state: GroupState, uid: string): string[] => {
    if (gplan.names === 'none') return [];
    const out = new Set<string>();
    for (const gid of mem.get(uid) ?? []) {
      if (gplan.names !== 'all' && !gplan.names.has(gid)) continue;
      const n = state.name(gid);
      if (n) out.add(n);
    }
    return [...out].sort();
  };

  const candidates = new Set<string>(items.keys());
  if (groupsFull) for (const uid of newMem.keys()) candidates.add(uid);
  if (groups && !groupsFull && groups.items.length > 0) {
    // Membership, nesting or a group's name changed: whoever's effective groups or scope differ now.
    // Without nesting only members (old or new) of the groups in this round can be affected; with
    // nesting a change travels up, so everyone is compared.
    const oldMem = oldGroups.memberships(gplan.transitive);
    const inOldScope = (uid: string) => !gplan.scopeIds || gplan.scopeIds.some((g) => oldMem.get(uid)?.has(g) ?? false);
    const affected = gplan.transitive
      ? new Set([...oldMem.keys(), ...newMem.keys()])
      : new Set(groups.items.flatMap((g) => (g && typeof g.id === 'string' ? [...oldGroups.directUsers(g.id), ...newGroups.directUsers(g.id)] : [])));
    for (const uid of affected) {
      if (inOldScope(uid) !== inScope(uid) || groupNames(oldMem, oldGroups, uid).join('\u0000') !== groupNames(newMem, newGroups, uid).join('\u0000'))
        candidates.add(uid);
    }
  }
  // A delta round touches few people: read only theirs. Full rounds and role reads need everyone.
  const targeted = !usersFull && !groupsFull && !roles;
  const stored: StoredIndex = nothingToDo
    ? { byObjectId: new Map(), byExternalId: new Map(), live: [] }
    : targeted
      ? await loadStoredFor(deps.db, name, { objectIds: [...candidates], externalIds: [] })
      : await loadStored(deps.db, name);
  if (usersFull || groupsFull)
    for (const i of stored.live) {
      const oid = objectIdOf(i);
      if (oid) candidates.add(oid);
    }
  if (roles) {
    for (const uid of roles.keys()) candidates.add(uid);
    for (const i of stored.live) {
      const oid = objectIdOf(i);
      if (oid && i.roles.length > 0) candidates.add(oid);
    }
  }

  const deletions: Deletion[] = [];
  const accounted = new Set<string>();
  const remove = (identity: Identity, reason: DeletionReason, guarded: boolean) => {
    if (accounted.has(identity.id)) return;
    accounted.add(identity.id);
    deletions.push({ identity, reason, guarded });
  };
  const toBuild: Array<{ uid: string; user: GraphUser | null; prev: Identity | undefined }> = [];
  const toFetch: string[] = [];

  for (const uid of [...candidates].sort()) {
    const item = items.get(uid);
    const prev = stored.byObjectId.get(uid);
    const prevLive = prev && !prev.deletedAt ? prev : undefined;
    if (item?.['@removed']) {
      // `changed`: soft-deleted (restorable for 30 days); `deleted`: gone for good. Both end access now.
      if (prevLive) remove(prevLive, item['@removed'].reason === 'deleted' ? 'deleted' : 'soft-deleted', false);
      continue;
    }
    if (usersFull && !item) {
      if (prevLive) remove(prevLive, 'absent', true);
      continue;
    }
    if (!inScope(uid)) {
      if (prevLive) remove(prevLive, 'out-of-scope', groupsFull);
      continue;
    }
    if (item && typeof item.userPrincipalName === 'string') toBuild.push({ uid, user: item, prev });
    else if (!item && prevLive) toBuild.push({ uid, user: null, prev: prevLive });
    else toFetch.push(uid);
  }

  // Users who came into scope without changing themselves, or whose item was partial.
  const managerUpn = new Map<string, string>();
  const fetchSelect = mapping.select.filter((p) => p !== 'manager').join(',');
  let fetched = 0;
  await pool(toFetch, 4, async (uid) => {
    try {
      const u = await graph.get<GraphUser>(`/users/${encodeURIComponent(uid)}?$select=${fetchSelect}&$expand=manager($select=id,userPrincipalName)`);
      fetched++;
      const m = u.manager as { id?: string; userPrincipalName?: string } | null | undefined;
      if (m?.id && m.userPrincipalName) managerUpn.set(m.id, m.userPrincipalName);
      toBuild.push({ uid, user: { ...u, manager: m ?? null }, prev: stored.byObjectId.get(uid) });
    } catch (e) {
      if (!(e instanceof LockstepError && e.code === 'not_found')) throw e;
      const prev = stored.byObjectId.get(uid);
      if (prev && !prev.deletedAt) remove(prev, 'deleted', false);
    }
  });

  const resolveManager = async (mid: string): Promise<string> => {
    if (cfg.managerAs === 'id') return mid;
    const known = (items.get(mid)?.userPrincipalName as string | undefined) ?? managerUpn.get(mid) ?? stored.byObjectId.get(mid)?.userName;
    if (known) return known;
    try {
      const m = await graph.get<{ id: string; userPrincipalName?: string }>(`/users/${encodeURIComponent(mid)}?$select=id,userPrincipalName`);
      if (m.userPrincipalName) managerUpn.set(mid, m.userPrincipalName);
      return m.userPrincipalName ?? mid;
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return mid;
      throw e;
    }
  };

  // Build the identity each user should have now.
  const built: Upsert[] = [];
  for (const { uid, user, prev } of toBuild.sort((a, b) => a.uid.localeCompare(b.uid))) {
    const groupsOf = gplan.track ? groupNames(newMem, newGroups, uid) : [];
    const rolesOf: Role[] = roles ? (roles.get(uid) ?? []) : [];
    if (!user) {
      // Only memberships or roles moved: the stored record is still what Graph last said.
      built.push({ objectId: uid, input: { ...dataOf(prev!), groups: groupsOf, roles: normalizeRoles(rolesOf) } });
      continue;
    }
    const mid = managerIdOf(user);
    const manager = mid === undefined ? prev?.manager : mid === null ? undefined : await resolveManager(mid);
    const { input, dropped } = mapUser(user, mapping, { source: name, manager, groups: groupsOf, roles: normalizeRoles(rolesOf) });
    for (const d of dropped) warnings.push(`user ${uid}: ${d.field} dropped: ${d.message}`);
    built.push({ objectId: uid, input });
  }

  // Holders of the keys these people will carry (a targeted read has not seen them yet).
  if (targeted) {
    const more = await loadStoredFor(deps.db, name, {
      objectIds: [],
      externalIds: built.map((b) => b.input.externalId).filter((k) => !stored.byExternalId.has(k)),
    });
    for (const i of more.live.concat([...more.byExternalId.values()].filter((x) => x.deletedAt))) indexIdentity(stored, i);
  }

  // The correlation key must name one person: two Entra users with one employeeId are a data problem to report, not to guess.
  const leaving = new Set(deletions.map((d) => objectIdOf(d.identity)).filter((x): x is string => !!x));
  const newKeyOf = new Map(built.map((b) => [b.objectId, b.input.externalId]));
  const claims = new Map<string, Upsert>();
  const conflicts: PullResult['conflicts'] = [];
  for (const b of built) {
    const ext = b.input.externalId;
    const owner = stored.byExternalId.get(ext);
    const ownerOid = owner && !owner.deletedAt ? objectIdOf(owner) : undefined;
    // The key's current holder keeps it unless it leaves or moves to another key this round.
    const ownerMoves = ownerOid !== undefined && newKeyOf.has(ownerOid) && newKeyOf.get(ownerOid) !== ext;
    const ownerStays = ownerOid !== undefined && ownerOid !== b.objectId && !leaving.has(ownerOid) && !ownerMoves;
    const rival = claims.get(ext);
    if (ownerStays || rival) {
      const heldBy = rival?.objectId ?? ownerOid!;
      conflicts.push({ objectId: b.objectId, externalId: ext, heldBy });
      warnings.push(`user ${b.objectId}: externalId ${ext} already belongs to Entra user ${heldBy}; skipped`);
      continue;
    }
    claims.set(ext, b);
  }

  const upserts: Upsert[] = [];
  for (const b of claims.values()) {
    const prev = stored.byObjectId.get(b.objectId);
    // employeeId arrived or changed: the old key's identity ends, the new key's begins.
    if (prev && !prev.deletedAt && prev.externalId !== b.input.externalId) remove(prev, 'rekeyed', false);
    const target = stored.byExternalId.get(b.input.externalId);
    if (target) accounted.add(target.id);
    if (target && !target.deletedAt && canonicalJson(parseIdentityInput(b.input)) === canonicalJson(parseIdentityInput(dataOf(target)))) continue;
    upserts.push(b);
  }

  // Identities of this source without an object id (older records) are judged by their key alone.
  if (usersFull) for (const i of stored.live) if (!accounted.has(i.id) && !objectIdOf(i)) remove(i, 'absent', true);

  // 3. Mass-removal guard: never revoke a large share of people on the strength of one enumeration.
  let held: HeldRemoval | null = null;
  const guarded = deletions.filter((d) => d.guarded);
  const total = stored.live.length;
  if (guarded.length > 0 && !deps.allowMassRemoval && guarded.length * 100 > cfg.maxRemovalPercent * total) {
    held = {
      wouldRemove: guarded.length,
      total,
      percent: Math.round((guarded.length * 1000) / total) / 10,
      maxRemovalPercent: cfg.maxRemovalPercent,
      sample: guarded.slice(0, 20).map((d) => d.identity.externalId),
    };
    log.error({ source: name, ...held }, 'entra: full enumeration would remove too many identities; removals held');
  }
  const applied = held ? deletions.filter((d) => !d.guarded) : deletions;

  // 4. Apply everything, and the links that describe it, in one transaction.
  const stamp = now().toISOString();
  const actor = `entra:${name}`;
  const changedIds: string[] = [];
  const leaverIds: string[] = [];
  let created = 0;
  let removed = 0;
  await deps.db.transaction(async (tx) => {
    const audit: AuditEntryInput[] = [];
    for (const d of applied) {
      const r = await markIdentityDeleted(tx, d.identity.id);
      if (!r) continue;
      removed++;
      leaverIds.push(r.id);
      audit.push({
        actor,
        action: 'identity.deleted',
        subject: r.id,
        data: { source: name, externalId: r.externalId, objectId: objectIdOf(r) ?? null, reason: d.reason },
      });
    }
    for (const r of await upsertIdentities(
      tx,
      upserts.map((u) => u.input),
    )) {
      if (r.created) created++;
      if (!r.changed) continue;
      if (isLeaver(r.identity, now())) leaverIds.push(r.identity.id);
      else changedIds.push(r.identity.id);
    }
    if (users.mode === 'resync' || groups?.mode === 'resync') {
      audit.push({
        actor,
        action: 'entra.resync',
        data: { source: name, users: users.resyncReason, groups: groups?.resyncReason ?? null, removed: applied.filter((d) => d.guarded).length },
      });
    }
    if (held) audit.push({ actor, action: 'entra.resync.held', data: { source: name, ...held } });
    if (audit.length > 0)
      await appendAudit(
        tx,
        audit.map((a) => ({ ...a, at: stamp })),
      );
    if (!(held && usersFull)) await setSyncState(tx, usersStateKey(name), { deltaLink: users.deltaLink, select, completedAt: stamp } satisfies UsersSyncState);
    if (groups && !(held && groupsFull)) {
      await setSyncState(tx, groupsStateKey(name), {
        deltaLink: groups.deltaLink,
        filter: gplan.filterKey,
        groups: newGroups.toJson(),
        completedAt: stamp,
      } satisfies GroupsSyncState);
    }
  });

  const uniqLeavers = [...new Set(leaverIds)];
  const leaverSet = new Set(uniqLeavers);
  const uniqChanged = [...new Set(changedIds)].filter((id) => !leaverSet.has(id));
  // Revocations first: they are the ones that must not wait.
  try {
    if (uniqLeavers.length > 0) await deps.onChange(uniqLeavers, { leaver: true });
    if (uniqChanged.length > 0) await deps.onChange(uniqChanged, { leaver: false });
  } catch (e) {
    const err = toLockstepError(e);
    throw new LockstepError(err.code, `entra ${name}: changes are stored but notifying them failed (the full reconciliation will catch up): ${err.message}`, {
      cause: e,
      retryable: err.retryable,
    });
  }

  const result: PullResult = {
    source: name,
    users: { mode: users.mode, pages: users.pages, seen: users.items.length, resyncReason: users.resyncReason },
    groups: groups ? { mode: groups.mode, pages: groups.pages, seen: groups.items.length, resyncReason: groups.resyncReason } : null,
    resynced: users.mode === 'resync' || groups?.mode === 'resync',
    fetched,
    upserted: upserts.length,
    created,
    changed: uniqLeavers.length + uniqChanged.length,
    removed,
    leavers: uniqLeavers.length,
    held,
    conflicts,
    warnings,
    changedIds: uniqChanged,
    leaverIds: uniqLeavers,
    requests: graph.stats.requests - before.requests,
    retries: graph.stats.retries - before.retries,
    durationMs: Date.now() - t0,
  };
  for (const w of warnings) log.warn({ source: name }, `entra: ${w}`);
  log.info(
    {
      source: name,
      users: result.users,
      groups: result.groups,
      upserted: result.upserted,
      changed: result.changed,
      leavers: result.leavers,
      held: !!held,
      requests: result.requests,
    },
    'entra: pull done',
  );
  return result;
}

/**
 * SCIM operations over the store, independent of HTTP. Every write is atomic: the SCIM row(s),
 * the identity upsert(s), the audit entry and (with markPending) the pending mark commit together
 * or not at all, so a request that fails validation (or a uniqueness race) leaves nothing behind.
 * Most writes are one transaction (or one statement: the usual PATCH). The usual create, of a
 * person the store has never seen, is a row of one autocommit statement that concurrent creates
 * share (group commit: the creates that arrive while such a statement runs, or in the same turn
 * of the event loop, up to 64, go in the next one); each caller is answered only once that
 * statement has returned, so an acknowledged create is committed as before, and a create alone
 * waits for nothing. A row the shared statement does not write (a deleted identity to bring
 * back, a userName taken) is tried again alone and gets the answer it would have had alone.
 * Each write reports which identities changed, and which of them are now leavers, for the caller
 * to trigger reconciliation after the commit.
 */
import { randomUUID } from 'node:crypto';
import { LockstepError } from '../../domain/errors.js';
import { valuesAt } from '../../domain/filter.js';
import type { Db, Queryable } from '../../store/db.js';
import { appendAudit, auditWritten, pendingAuditJson } from '../../store/audit.js';
import { canonicalJson, isUuid, markIdentityDeleted, newIdentityColumns, parseIdentityInput } from '../../store/identities.js';
import { badRequest, conflict, notFound, ScimError } from './errors.js';
import { compileFilter, matches, SqlParams, toSqlExact, toSqlPrefilter, type AttrRef, type CompiledFilter } from './filter.js';
import { identityFromUser } from './mapping.js';
import { applyPatch, parsePatchBody, type PatchOperation } from './patch.js';
import * as repo from '../../store/scim.js';
import { markPending } from '../../store/queue-state.js';
import { GroupCommit, type GroupCommitOptions } from '../../store/group-commit.js';
import { SCIM_GROUPS, SCIM_USERS, type GroupRow, type LinkedIdentity, type MemberRow, type ScimTable, type UserRow } from '../../store/scim.js';
import { finalizeResource, isObject, parseResourceBody, schemasOf, type Json, type JsonObject } from './resource.js';
import { groupResourceType, userResourceType, type ResourceTypeDef } from './schemas.js';

/** A user locked for a write, with the identity row it is linked to. */
type LockedUser = UserRow & { identity?: LinkedIdentity | null };

export interface Changes {
  /** Identities whose data changed and who are not leavers. */
  changed: Set<string>;
  /** Identities that changed and are leavers now (deleted or inactive). */
  leavers: Set<string>;
  /**
   * With `markPending`: when the write recorded them as pending (ms), in its own transaction;
   * the caller enqueues them with this time and need not record them again.
   */
  pendingAt?: number;
}

export interface UserResult {
  row: UserRow;
  changes: Changes;
  /** False when the request asked for what was already stored: nothing written, no version bump. */
  written: boolean;
}

export interface GroupResult {
  row: GroupRow;
  changes: Changes;
  written: boolean;
}

export interface ScimServiceOptions {
  db: Db;
  /** Identity source name (config.source). */
  source: string;
  now?: () => Date;
  /** Refuses a resource about to be stored (limits.ts: key lengths, the lock systems' limits). */
  checkResource?: (rt: ResourceTypeDef, resource: JsonObject) => void;
  /**
   * Records the identities a write changes as pending (queue_pending, migration 8) in the write's
   * own transaction, as `scim:leaver` / `scim:change` (what the queue's onChange('scim') would
   * record): the service's queue, saving a statement and a commit per write.
   */
  markPending?: boolean;
  /**
   * How concurrent creates of new people share a statement (group commit); false: one statement
   * each. Default: up to 64 creates a statement, one statement at a time.
   */
  groupCommit?: GroupCommitOptions | false;
}

/**
 * The default group commit of creates (bench:scim POST: see docs/BENCHMARKS.md). PGlite takes it
 * too (the same statement): it runs a statement on the event loop's own thread, so requests
 * seldom arrive while one runs and most creates over HTTP go alone, as before; creates made
 * together (a seed through the service) still share one.
 */
export const CREATE_GROUP_COMMIT: GroupCommitOptions = { maxBatch: 64, maxInFlight: 1 };

/** A create the group commit's statement did not write: the caller runs it alone. */
const ALONE = Symbol('alone');

export interface SortSpec {
  ref: AttrRef;
  descending: boolean;
}

export interface ListParams {
  filter: CompiledFilter | null;
  sort: SortSpec | null;
  /** 0-based. */
  offset: number;
  limit: number;
}

export interface ListResult<R> {
  total: number;
  rows: R[];
}

const emptyChanges = (): Changes => ({ changed: new Set(), leavers: new Set() });

/** How a SCIM change is recorded as pending: what the queue's onChange('scim') records. */
const pendingMark = (leaver: boolean): repo.PendingMark => ({
  lane: leaver ? 'revocation' : 'normal',
  reason: leaver ? 'scim:leaver' : 'scim:change',
  at: Date.now(),
});

const etagOf = (version: number) => `W/"${version}"`;
const iso = (d: Date | string) => new Date(d).toISOString();

/** Attributes only: what a client controls (no id, meta, schemas, or server-maintained groups). */
function clientAttributes(resource: JsonObject): JsonObject {
  const { id: _id, meta: _meta, schemas: _schemas, groups: _groups, ...rest } = resource;
  return structuredClone(rest);
}

/** The stored resource: schemas, id, externalId first, meta last, as RFC 7643's examples order them. */
function buildResource(
  rt: ResourceTypeDef,
  id: string,
  attrs: JsonObject,
  extra: JsonObject,
  meta: { created: string; lastModified: string; version: number },
): JsonObject {
  const { externalId, ...rest } = attrs;
  return {
    schemas: schemasOf(rt, attrs),
    id,
    ...(externalId !== undefined ? { externalId } : {}),
    ...rest,
    ...extra,
    meta: { resourceType: rt.name, created: meta.created, lastModified: meta.lastModified, version: etagOf(meta.version) },
  };
}

const withoutMeta = (r: JsonObject) => canonicalJson({ ...r, meta: undefined });

/** If-Match (RFC 7644 §3.14): `*` or a list of (weak) ETags, one of which must be current. */
export function checkIfMatch(header: string | undefined, version: number): void {
  if (header === undefined || header.trim() === '') return;
  if (header.trim() === '*') return;
  const current = `"${version}"`;
  const ok = header.split(',').some((t) => t.trim().replace(/^W\//i, '') === current);
  if (!ok) throw new ScimError(412, `the resource has changed: its version is ${etagOf(version)}`);
}

function pgCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

function uniqueViolation(e: unknown): ScimError {
  const c = String((e as { constraint?: unknown }).constraint ?? '');
  if (c.includes('user_name')) return conflict('userName is already taken', 'userName');
  if (c.includes('display_name')) return conflict('displayName is already taken by another group', 'displayName');
  return conflict('a uniqueness constraint was violated');
}

export class ScimService {
  private readonly now: () => Date;
  /** The group commit of new people's creates (createNewPerson), or null: one statement each. */
  private readonly creates: GroupCommit<repo.NewScimPerson, (UserRow & { key_holders: string[] }) | null | typeof ALONE> | null;

  constructor(private readonly o: ScimServiceOptions) {
    this.now = o.now ?? (() => new Date());
    const group = o.groupCommit ?? CREATE_GROUP_COMMIT;
    this.creates = group ? new GroupCommit((people) => this.insertBatch(people), group) : null;
  }

  /** One transaction, retried on deadlock/serialization failure; store errors become SCIM errors. */
  private async tx<T extends { changes: Changes }>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const run = this.o.markPending
      ? async (tx: Queryable) => {
          const r = await fn(tx);
          // marked already by the write's own statement (the usual update)
          if (r.changes.pendingAt !== undefined) return r;
          const at = Date.now();
          const entries = [
            ...[...r.changes.leavers].map((identityId) => ({ identityId, lane: 'revocation' as const, reason: 'scim:leaver', enqueuedAt: at })),
            ...[...r.changes.changed].map((identityId) => ({ identityId, lane: 'normal' as const, reason: 'scim:change', enqueuedAt: at })),
          ];
          if (entries.length) {
            await markPending(tx, entries);
            r.changes.pendingAt = at;
          }
          return r;
        }
      : fn;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.o.db.transaction(run);
      } catch (e) {
        const code = pgCode(e);
        if ((code === '40001' || code === '40P01') && attempt < 3) continue;
        if (code === '23505') throw uniqueViolation(e);
        if (e instanceof LockstepError && !(e instanceof ScimError) && e.code === 'validation') {
          throw badRequest('invalidValue', e.message, e.field);
        }
        throw e;
      }
    }
  }

  // ---- users --------------------------------------------------------------------------

  async getUser(id: string): Promise<UserRow | null> {
    return repo.getLiveUser(this.o.db, id);
  }

  async createUser(body: unknown): Promise<UserResult> {
    const attrs = parseResourceBody(userResourceType, body);
    const id = randomUUID();
    const created = await this.createNewPerson(id, attrs);
    if (created) return created;
    return this.tx((tx) => this.saveUser(tx, null, id, attrs, 'scim.user.created', {}));
  }

  /**
   * A create of someone the store has never seen, the usual POST: the identity, the SCIM user,
   * the audit entry and the pending mark in one autocommit statement, shared by the creates that
   * arrive together (group commit, `creates`): each is answered once that statement has
   * returned, so an acknowledged create is as durable as before. Returns null, having written
   * nothing, when the source holds a deleted identity with this key that no live user has (a
   * rehire or a re-created user: saveUser brings it back). A live identity with the key does not
   * stop it: that is another person, and the two are a correlation conflict.
   */
  private async createNewPerson(id: string, attrs: JsonObject): Promise<UserResult | null> {
    const { at, next, resource, userNameKey, externalId } = this.prepareUser(null, id, attrs);
    const active = next.active !== false;
    let identity: ReturnType<typeof newIdentityColumns>;
    try {
      identity = newIdentityColumns(identityFromUser(resource, { source: this.o.source, id }), id);
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'validation') throw badRequest('invalidValue', e.message, e.field);
      throw e;
    }
    const auditJson = pendingAuditJson([
      { actor: 'scim', action: 'scim.user.created', subject: id, data: { scimId: id, userName: next.userName ?? null, externalId, active, version: 1 } },
    ]);
    const pending = this.o.markPending ? pendingMark(!identity[4]) : null;
    const person: repo.NewScimPerson = { identity, user: { userNameKey, externalId, identityKey: externalId ?? id, active, resource, at }, auditJson, pending };
    let row: (UserRow & { key_holders: string[] }) | null;
    try {
      const grouped = this.creates ? await this.creates.submit(person) : ALONE;
      // not written in the batch (a key to bring back, a userName taken): on its own, as before
      row = grouped === ALONE ? await repo.insertNewScimPerson(this.o.db, person.identity, person.user, person.auditJson, person.pending) : grouped;
    } catch (e) {
      if (pgCode(e) === '23505') throw uniqueViolation(e);
      throw e;
    }
    if (!row) return null;
    auditWritten(this.o.db);
    const changes = emptyChanges();
    (identity[4] ? changes.changed : changes.leavers).add(id);
    // those already holding the key lose their access now that it is contested (reconcile/conflicts.ts)
    const { key_holders: holders, ...user } = row;
    for (const h of holders) changes.changed.add(h);
    // the new person is pending with the write; others holding the key (rare) are left to the queue to record
    if (pending && holders.length === 0) changes.pendingAt = pending.at;
    return { row: user, changes, written: true };
  }

  /**
   * A batch of creates for the group commit: one alone takes insertNewScimPerson (its errors are
   * its own); several take insertNewScimPeople, and those it did not write are left to their
   * callers to run alone. So are all of them when PostgreSQL refused the statement (an error
   * with a SQLSTATE, a deadlock say: nothing of it was written), each to get its own answer. An
   * error without one (the connection lost) may have come after the commit: every caller gets it,
   * as a create alone would, rather than a second try that would find its own rows.
   */
  private async insertBatch(people: repo.NewScimPerson[]): Promise<Array<(UserRow & { key_holders: string[] }) | null | typeof ALONE>> {
    const db = this.o.db;
    if (people.length === 1) {
      const [p] = people;
      return [await repo.insertNewScimPerson(db, p.identity, p.user, p.auditJson, p.pending)];
    }
    try {
      return (await repo.insertNewScimPeople(db, people)).map((r) => r ?? ALONE);
    } catch (e) {
      const code = pgCode(e);
      if (code === undefined || code.startsWith('08')) throw e;
      return people.map(() => ALONE);
    }
  }

  async replaceUser(id: string, body: unknown, ifMatch?: string): Promise<UserResult> {
    const attrs = parseResourceBody(userResourceType, body);
    return this.tx(async (tx) => {
      const prev = await this.lockUser(tx, id, ifMatch);
      return this.saveUser(tx, prev, prev.id, attrs, 'scim.user.replaced', {});
    });
  }

  async patchUser(id: string, body: unknown, ifMatch?: string): Promise<UserResult> {
    const ops = parsePatchBody(body);
    const auditData = { operations: ops.map((o) => ({ op: o.op, path: o.path ?? null })) };
    // The usual PATCH (same key, same userName) goes without a transaction: read, then one
    // statement that writes only if the user is still at the version read (two round trips
    // instead of BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT). A write that lost the race, or
    // anything less usual, takes the locking path below.
    for (let attempt = 0; attempt < 2; attempt++) {
      const fast = await this.patchOptimistically(id, ops, ifMatch, auditData);
      if (fast) return fast;
      if (fast === null) break;
    }
    return this.tx(async (tx) => {
      const prev = await this.lockUser(tx, id, ifMatch);
      const next = applyPatch(userResourceType, clientAttributes(prev.resource), ops);
      return this.saveUser(tx, prev, prev.id, next, 'scim.user.patched', { operations: ops.map((o) => ({ op: o.op, path: o.path ?? null })) });
    });
  }

  async deleteUser(id: string, ifMatch?: string): Promise<UserResult> {
    return this.tx(async (tx) => {
      if (!isUuid(id)) throw notFound(`User ${id} not found`);
      // Lock order everywhere: groups before users before identities (group writes take it too).
      await repo.lockGroupsOfUser(tx, id);
      const prev = await this.lockUser(tx, id, ifMatch);
      const at = this.now().toISOString();
      const changes = emptyChanges();
      const identity = await markIdentityDeleted(tx, prev.identity_id);
      changes.leavers.add(identity?.id ?? prev.identity_id);
      // a correlation conflict over its key may end with it: the other holders get a look
      for (const h of await repo.liveKeyHolders(tx, prev.identity_key, prev.identity_id)) changes.changed.add(h);
      const groups = await repo.removeUserFromGroups(tx, prev.id);
      await repo.touchGroups(tx, groups, at);
      await repo.markUserDeleted(tx, prev.id, at);
      await appendAudit(tx, [
        {
          actor: 'scim',
          action: 'scim.user.deleted',
          subject: prev.identity_id,
          data: { scimId: prev.id, userName: prev.resource.userName ?? null, externalId: prev.external_id, groups },
        },
      ]);
      return { row: prev, changes, written: true };
    });
  }

  /**
   * The optimistic PATCH: the result, `undefined` when the user changed between the read and the
   * write (try again), or null when this PATCH is not the usual update (the caller locks).
   */
  private async patchOptimistically(
    id: string,
    ops: ReturnType<typeof parsePatchBody>,
    ifMatch: string | undefined,
    auditData: Record<string, unknown>,
  ): Promise<UserResult | null | undefined> {
    const prev = await repo.readLiveUserWithIdentity(this.o.db, id);
    if (!prev) throw notFound(`User ${id} not found`);
    checkIfMatch(ifMatch, prev.version);
    const next = applyPatch(userResourceType, clientAttributes(prev.resource), ops);
    const { at, next: fin, version, resource, userNameKey, externalId } = this.prepareUser(prev, prev.id, next);
    if (withoutMeta(prev.resource) === withoutMeta(resource)) return { row: prev, changes: emptyChanges(), written: false };
    const identityKey = externalId ?? prev.id;
    const linked = prev.identity;
    if (prev.user_name_key !== userNameKey || !linked || linked.source !== this.o.source || linked.external_id !== identityKey) return null;
    let data: ReturnType<typeof parseIdentityInput>;
    try {
      data = parseIdentityInput(identityFromUser(resource, { source: this.o.source, id: prev.id }));
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'validation') throw badRequest('invalidValue', e.message, e.field);
      throw e;
    }
    const identityChanged = linked.deleted_at !== null || canonicalJson(linked.data) !== canonicalJson(data);
    const write: repo.UserWrite = {
      id: prev.id,
      identityId: prev.identity_id,
      userNameKey,
      externalId,
      identityKey,
      active: fin.active !== false,
      resource,
      version,
      at,
    };
    const audit = pendingAuditJson([
      {
        actor: 'scim',
        action: 'scim.user.patched',
        subject: prev.identity_id,
        data: { scimId: prev.id, userName: fin.userName ?? null, externalId, active: write.active, version, ...auditData },
      },
    ]);
    const pending = this.o.markPending && identityChanged ? pendingMark(!data.active) : null;
    let row: UserRow | null;
    try {
      row = await repo.updateUserAndIdentity(
        this.o.db,
        write,
        identityChanged ? { userName: data.userName, active: data.active, data: JSON.stringify(data) } : null,
        audit,
        pending,
        prev.version,
      );
    } catch (e) {
      const code = pgCode(e);
      if (code === '23505') throw uniqueViolation(e);
      if (code === '40001' || code === '40P01') return undefined;
      throw e;
    }
    if (!row) return undefined;
    auditWritten(this.o.db);
    const changes = emptyChanges();
    if (identityChanged) (data.active ? changes.changed : changes.leavers).add(prev.identity_id);
    if (pending) changes.pendingAt = pending.at;
    return { row, changes, written: true };
  }

  private async lockUser(tx: Queryable, id: string, ifMatch: string | undefined): Promise<LockedUser> {
    const row = await repo.lockLiveUserWithIdentity(tx, id);
    if (!row) throw notFound(`User ${id} not found`);
    checkIfMatch(ifMatch, row.version);
    return row;
  }

  /** The resource a create (prev null) or an update would store, and the keys it is found by. */
  private prepareUser(prev: UserRow | null, id: string, attrs: JsonObject) {
    const at = this.now().toISOString();
    const next = finalizeResource(userResourceType, attrs);
    const groups = prev?.resource.groups;
    const version = prev ? prev.version + 1 : 1;
    const resource = buildResource(userResourceType, id, next, groups !== undefined ? { groups } : {}, {
      created: prev ? iso(prev.created_at) : at,
      lastModified: at,
      version,
    });
    this.o.checkResource?.(userResourceType, resource);
    const userNameKey = String(next.userName).toLowerCase();
    const externalId = typeof next.externalId === 'string' ? next.externalId : null;
    return { at, next, version, resource, userNameKey, externalId };
  }

  private async saveUser(
    tx: Queryable,
    prev: LockedUser | null,
    id: string,
    attrs: JsonObject,
    action: string,
    auditData: Record<string, unknown>,
  ): Promise<UserResult> {
    const { at, next, version, resource, userNameKey, externalId } = this.prepareUser(prev, id, attrs);
    if (prev && withoutMeta(prev.resource) === withoutMeta(resource)) return { row: prev, changes: emptyChanges(), written: false };
    const identityKey = externalId ?? id;
    // userName is unique among live users; externalId is not (RFC 7643): users sharing one are a
    // correlation conflict the reconciler refuses access to, not a 409. The locked row already
    // holds the userName when it did not change, and the live-unique index keeps it from any
    // other live user. A create needs no lookup either: the insert meets the same index, and its
    // violation rolls the whole transaction back and names the field (uniqueViolation).
    const nameUnchanged = prev === null || prev.user_name_key === userNameKey;
    const clash = nameUnchanged ? null : await repo.findUserConflict(tx, userNameKey, id);
    if (clash) throw conflict(`userName ${JSON.stringify(next.userName)} is already taken`, 'userName');

    const changes = emptyChanges();
    const input = identityFromUser(resource, { source: this.o.source, id });
    const linked = prev?.identity;
    if (prev && linked && linked.source === this.o.source && linked.external_id === identityKey) {
      // The usual update: the identity read and locked with the user is the one this key names.
      // User, identity (only if its data changed) and audit entry in one statement.
      const data = parseIdentityInput(input);
      const identityChanged = linked.deleted_at !== null || canonicalJson(linked.data) !== canonicalJson(data);
      const write: repo.UserWrite = {
        id,
        identityId: prev.identity_id,
        userNameKey,
        externalId,
        identityKey,
        active: next.active !== false,
        resource,
        version,
        at,
      };
      const audit = pendingAuditJson([
        {
          actor: 'scim',
          action,
          subject: prev.identity_id,
          data: { scimId: id, userName: next.userName ?? null, externalId, active: write.active, version, ...auditData },
        },
      ]);
      const pending = this.o.markPending && identityChanged ? pendingMark(!data.active) : null;
      // under the row's lock: the write always finds it
      const row = (await repo.updateUserAndIdentity(
        tx,
        write,
        identityChanged ? { userName: data.userName, active: data.active, data: JSON.stringify(data) } : null,
        audit,
        pending,
      ))!;
      tx.afterCommit?.((db) => auditWritten(db));
      if (identityChanged) (data.active ? changes.changed : changes.leavers).add(prev.identity_id);
      if (pending) changes.pendingAt = pending.at;
      return { row, changes, written: true };
    }
    // SCIM identities are keyed by the user (migration 009): the user's own identity, or the
    // deleted one its key brings back (a rehire), or a new one.
    const data: Record<string, unknown> = { ...auditData };
    let identityId: string;
    if (prev && prev.identity_key !== identityKey) {
      // A new correlation key is a different person to the lock systems: the old identity
      // leaves (its access is revoked), the new key gets its own identity.
      const old = await markIdentityDeleted(tx, prev.identity_id);
      if (old) changes.leavers.add(old.id);
      data.previousIdentityId = prev.identity_id;
      identityId = (await repo.findRestorableIdentity(tx, this.o.source, identityKey)) ?? randomUUID();
    } else if (prev) {
      identityId = prev.identity_id;
    } else {
      identityId = (await repo.findRestorableIdentity(tx, this.o.source, identityKey)) ?? id;
    }
    const parsed = parseIdentityInput(input);
    const up = await repo.writeScimIdentity(tx, identityId, parsed, JSON.stringify(parsed));
    if (up.changed) (parsed.active ? changes.changed : changes.leavers).add(identityId);
    // a new key may begin a correlation conflict, an old one end one: the other holders of either get a look
    const keys = prev && prev.identity_key !== identityKey ? [identityKey, prev.identity_key] : [identityKey];
    for (const k of keys) for (const h of await repo.liveKeyHolders(tx, k, identityId)) if (h !== prev?.identity_id) changes.changed.add(h);
    const write: repo.UserWrite = {
      id,
      identityId,
      userNameKey,
      externalId,
      identityKey,
      active: next.active !== false,
      resource,
      version,
      at,
    };
    const row = prev ? await repo.updateUser(tx, write) : await repo.insertUser(tx, write);
    await appendAudit(tx, [
      {
        actor: 'scim',
        action,
        subject: identityId,
        data: { scimId: id, userName: next.userName ?? null, externalId, active: write.active, version, ...data },
      },
    ]);
    return { row, changes, written: true };
  }

  /**
   * Rewrites the `groups` of these users from the membership table, and re-upserts their
   * identities (whose `groups` are the group display names) when that changes them.
   */
  private async refreshUserGroups(tx: Queryable, userIds: string[], at: string): Promise<Changes> {
    const changes = emptyChanges();
    const ids = [...new Set(userIds)].sort();
    const users = await repo.lockLiveUsers(tx, ids);
    const groups = await repo.groupsOfUsers(tx, ids);
    for (const u of users) {
      const list = (groups.get(u.id) ?? [])
        .sort((a, b) => (a.display < b.display ? -1 : a.display > b.display ? 1 : a.id < b.id ? -1 : 1))
        .map((g) => ({ value: g.id, display: g.display }));
      if (canonicalJson(u.resource.groups ?? []) === canonicalJson(list)) continue;
      const version = u.version + 1;
      const { groups: _old, meta, ...rest } = u.resource;
      const resource: JsonObject = {
        ...rest,
        ...(list.length ? { groups: list } : {}),
        meta: { ...(isObject(meta) ? meta : {}), lastModified: at, version: etagOf(version) },
      };
      const parsed = parseIdentityInput(identityFromUser(resource, { source: this.o.source, id: u.id }));
      const up = await repo.writeScimIdentity(tx, u.identity_id, parsed, JSON.stringify(parsed));
      if (up.changed) (parsed.active ? changes.changed : changes.leavers).add(u.identity_id);
      await repo.updateUser(tx, {
        id: u.id,
        identityId: u.identity_id,
        userNameKey: u.user_name_key,
        externalId: u.external_id,
        identityKey: u.identity_key,
        active: u.active,
        resource,
        version,
        at,
      });
    }
    return changes;
  }

  // ---- groups -------------------------------------------------------------------------

  async getGroup(id: string): Promise<GroupRow | null> {
    return repo.getGroup(this.o.db, id);
  }

  async membersOf(groupIds: string[]): Promise<Map<string, MemberRow[]>> {
    return repo.membersOf(this.o.db, groupIds);
  }

  async createGroup(body: unknown): Promise<GroupResult> {
    const attrs = parseResourceBody(groupResourceType, body);
    const id = randomUUID();
    return this.tx((tx) => this.saveGroup(tx, null, id, attrs, [], 'scim.group.created', {}));
  }

  async replaceGroup(id: string, body: unknown, ifMatch?: string): Promise<GroupResult> {
    const attrs = parseResourceBody(groupResourceType, body);
    return this.tx(async (tx) => {
      const prev = await this.lockGroup(tx, id, ifMatch);
      return this.saveGroup(tx, prev, prev.id, attrs, await repo.memberIds(tx, prev.id), 'scim.group.replaced', {});
    });
  }

  async patchGroup(id: string, body: unknown, ifMatch?: string): Promise<GroupResult> {
    const ops = parsePatchBody(body);
    const memberOps = memberDeltaOps(ops);
    return this.tx(async (tx) => {
      const prev = await this.lockGroup(tx, id, ifMatch);
      const audit = { operations: ops.map((o) => ({ op: o.op, path: o.path ?? null })) };
      if (memberOps) {
        // Only members added or removed (what Entra and Okta send): read the membership of
        // the users named, not the whole group, whose size would make each change O(members).
        const named = [...new Set(memberOps.flatMap((o) => o.ids))];
        const present = await repo.membersAmong(tx, prev.id, named);
        const after = new Set(present);
        for (const o of memberOps)
          for (const m of o.ids)
            if (o.add) after.add(m);
            else after.delete(m);
        const added = named.filter((m) => after.has(m) && !present.has(m));
        const removed = named.filter((m) => !after.has(m) && present.has(m));
        return this.saveGroup(tx, prev, prev.id, clientAttributes(prev.resource), [], 'scim.group.patched', audit, { added, removed });
      }
      const current = await repo.memberIds(tx, prev.id);
      const working = clientAttributes(prev.resource);
      if (current.length) working.members = current.map((value) => ({ value }));
      const next = applyPatch(groupResourceType, working, ops);
      return this.saveGroup(tx, prev, prev.id, next, current, 'scim.group.patched', audit);
    });
  }

  async deleteGroup(id: string, ifMatch?: string): Promise<GroupResult> {
    return this.tx(async (tx) => {
      const prev = await this.lockGroup(tx, id, ifMatch);
      const members = await repo.memberIds(tx, prev.id);
      await repo.deleteGroup(tx, prev.id);
      const at = this.now().toISOString();
      const changes = await this.refreshUserGroups(tx, members, at);
      await appendAudit(tx, [
        {
          actor: 'scim',
          action: 'scim.group.deleted',
          subject: `scim-group:${prev.id}`,
          data: { displayName: prev.resource.displayName ?? null, externalId: prev.external_id, members, identities: [...changes.changed, ...changes.leavers] },
        },
      ]);
      return { row: prev, changes, written: true };
    });
  }

  private async lockGroup(tx: Queryable, id: string, ifMatch: string | undefined): Promise<GroupRow> {
    const row = await repo.getGroup(tx, id, true);
    if (!row) throw notFound(`Group ${id} not found`);
    checkIfMatch(ifMatch, row.version);
    return row;
  }

  private async saveGroup(
    tx: Queryable,
    prev: GroupRow | null,
    id: string,
    attrs: JsonObject,
    currentMembers: string[],
    action: string,
    auditData: Record<string, unknown>,
    /** The membership change when only members were added or removed (attrs then hold none). */
    delta?: { added: string[]; removed: string[] },
  ): Promise<GroupResult> {
    const at = this.now().toISOString();
    const { members: membersAttr, ...rest } = attrs;
    const next = finalizeResource(groupResourceType, rest);
    const wanted = delta ? null : memberValues(membersAttr);
    const version = prev ? prev.version + 1 : 1;
    const resource = buildResource(groupResourceType, id, next, {}, { created: prev ? iso(prev.created_at) : at, lastModified: at, version });
    this.o.checkResource?.(groupResourceType, resource);
    const cur = new Set(currentMembers);
    const added = delta ? delta.added : [...wanted!].filter((m) => !cur.has(m));
    const removed = delta ? delta.removed : currentMembers.filter((m) => !wanted!.has(m));
    if (prev && added.length === 0 && removed.length === 0 && withoutMeta(prev.resource) === withoutMeta(resource)) {
      return { row: prev, changes: emptyChanges(), written: false };
    }
    const displayName = String(next.displayName);
    const key = displayName.toLowerCase();
    // unchanged name: the locked row holds it, and the unique index keeps it from any other group
    const nameUnchanged = prev !== null && prev.display_name_key === key;
    if (!nameUnchanged && (await repo.findGroupByDisplayName(tx, key, id)))
      throw conflict(`displayName ${JSON.stringify(displayName)} is already taken by another group`, 'displayName');
    if (added.length) {
      const live = await repo.liveUserIds(tx, added);
      const missing = added.filter((m) => !live.has(m));
      if (missing.length)
        throw badRequest(
          'invalidValue',
          `members: no user with id ${missing
            .slice(0, 5)
            .map((m) => JSON.stringify(m))
            .join(', ')}`,
          'members',
        );
    }
    const write: repo.GroupWrite = { id, displayNameKey: key, externalId: typeof next.externalId === 'string' ? next.externalId : null, resource, version, at };
    const row = prev ? await repo.updateGroup(tx, write) : await repo.insertGroup(tx, write);
    await repo.removeMembers(tx, id, removed);
    await repo.addMembers(tx, id, added, at);
    // a rename changes every member's groups (a member delta never renames)
    const renamed = wanted !== null && prev !== null && prev.resource.displayName !== displayName;
    const affected = renamed ? [...wanted, ...removed] : [...added, ...removed];
    const changes = await this.refreshUserGroups(tx, affected, at);
    await appendAudit(tx, [
      {
        actor: 'scim',
        action,
        subject: `scim-group:${id}`,
        data: {
          displayName,
          externalId: write.externalId,
          version,
          added,
          removed,
          identities: [...changes.changed, ...changes.leavers],
          ...auditData,
        },
      },
    ]);
    return { row, changes, written: true };
  }

  // ---- listing ------------------------------------------------------------------------

  async listUsers(p: ListParams): Promise<ListResult<UserRow>> {
    return this.list<UserRow>(SCIM_USERS, p, async () => undefined);
  }

  async listGroups(p: ListParams): Promise<ListResult<GroupRow>> {
    // Filters over members need them on the resource for JS evaluation.
    const needsMembers = p.filter?.attributes.has('members') ?? false;
    return this.list<GroupRow>(SCIM_GROUPS, p, async (rows) => {
      if (!needsMembers) return undefined;
      const m = await repo.membersOf(
        this.o.db,
        rows.map((r) => r.id),
      );
      return (row) => ({
        ...row.resource,
        members: (m.get(row.id) ?? []).map((x) => ({ value: x.user_id, ...(x.display ? { display: x.display } : {}), type: 'User' })),
      });
    });
  }

  private async list<R extends { id: string; resource: JsonObject; created_at: Date | string }>(
    spec: ScimTable,
    p: ListParams,
    prepare: (rows: R[]) => Promise<((row: R) => JsonObject) | undefined>,
  ): Promise<ListResult<R>> {
    const db = this.o.db;
    const params = new SqlParams();
    const exact = p.filter ? toSqlExact(p.filter.root, spec, params) : 'TRUE';
    const sortSql = p.sort ? spec.sort[p.sort.ref.key] : undefined;
    if (exact !== null && (!p.sort || sortSql)) {
      const where = { sql: exact, values: params.values };
      const count = () => repo.countScimRows(db, spec, where);
      if (p.limit === 0) return { total: await count(), rows: [] };
      const rows = await repo.pageScimRows<R>(db, spec, where, {
        sort: sortSql ? { sql: sortSql, descending: !!p.sort?.descending } : undefined,
        limit: p.limit,
        offset: p.offset,
      });
      // A short page that is not empty ends the result set: the total needs no second query
      // (the common `userName eq` / `externalId eq` lookup is one indexed query).
      if (rows.length > 0 && rows.length < p.limit) return { total: p.offset + rows.length, rows };
      if (rows.length === 0 && p.offset === 0) return { total: 0, rows };
      return { total: await count(), rows };
    }
    // JS evaluation over the rows an SQL pre-filter leaves, in id-keyed batches.
    const pre = new SqlParams();
    const preSql = p.filter ? toSqlPrefilter(p.filter.root, spec, pre) : null;
    const matched: R[] = [];
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await repo.scanScimRows<R>(db, spec, preSql ? { sql: preSql, values: pre.values } : null, after, 2000);
      if (rows.length === 0) break;
      const view = await prepare(rows);
      for (const r of rows) if (!p.filter || matches(view ? view(r) : r.resource, p.filter.root)) matched.push(r);
      after = rows[rows.length - 1].id;
      if (rows.length < 2000) break;
    }
    matched.sort(comparator(p.sort));
    return { total: matched.length, rows: matched.slice(p.offset, p.offset + p.limit) };
  }
}

/** Group member ids from a `members` value, lower-cased; nested groups are refused. */
const MEMBERS_PATH = /^(urn:ietf:params:scim:schemas:core:2\.0:group:)?members$/i;
const MEMBER_FILTER_PATH = /^(urn:ietf:params:scim:schemas:core:2\.0:group:)?members\[\s*value\s+eq\s+"([0-9a-f-]+)"\s*\]$/i;

/**
 * The operations as member additions and removals, when that is all they are: `add` to
 * `members` with a list of {value}, `remove` of `members[value eq "id"]`, or `remove` from
 * `members` with a list of {value} (Entra's two shapes). Null for anything else (a replace, a
 * remove of every member, other attributes, nested groups, unusual values): the full path
 * handles those, with its errors. Ids to remove must be in lower case, as stored, so the match
 * is the one the full path would make.
 */
function memberDeltaOps(ops: PatchOperation[]): Array<{ add: boolean; ids: string[] }> | null {
  const out: Array<{ add: boolean; ids: string[] }> = [];
  const idsOf = (v: unknown, lowerOnly: boolean): string[] | null => {
    const list = Array.isArray(v) ? v : [v];
    const ids: string[] = [];
    for (const m of list) {
      if (!isObject(m) || typeof m.value !== 'string' || !isUuid(m.value)) return null;
      if (Object.keys(m).some((k) => !['value', 'display', '$ref', 'type'].includes(k))) return null;
      if (m.type !== undefined && (typeof m.type !== 'string' || m.type.toLowerCase() !== 'user')) return null;
      if (lowerOnly && m.value !== m.value.toLowerCase()) return null;
      ids.push(m.value.toLowerCase());
    }
    return ids.length ? ids : null;
  };
  for (const op of ops) {
    if (op.path === undefined) return null;
    if (op.op === 'add' && op.hasValue && MEMBERS_PATH.test(op.path)) {
      const ids = idsOf(op.value, false);
      if (!ids) return null;
      out.push({ add: true, ids });
    } else if (op.op === 'remove' && MEMBERS_PATH.test(op.path) && op.hasValue) {
      const ids = idsOf(op.value, true);
      if (!ids) return null;
      out.push({ add: false, ids });
    } else if (op.op === 'remove' && !op.hasValue) {
      const m = MEMBER_FILTER_PATH.exec(op.path);
      if (!m || m[2] !== m[2].toLowerCase() || !isUuid(m[2])) return null;
      out.push({ add: false, ids: [m[2]] });
    } else return null;
  }
  return out.length ? out : null;
}

function memberValues(members: Json | undefined): Set<string> {
  const out = new Set<string>();
  if (!Array.isArray(members)) return out;
  for (const m of members) {
    if (!isObject(m) || typeof m.value !== 'string') continue;
    if (typeof m.type === 'string' && m.type.toLowerCase() === 'group') throw badRequest('invalidValue', 'members: nested groups are not supported', 'members');
    out.add(m.value.toLowerCase());
  }
  return out;
}

type SortKey = string | number | boolean | undefined;

function sortKey(resource: JsonObject, ref: AttrRef): SortKey {
  let v: Json | undefined;
  if (ref.top.multiValued) {
    const holder = ref.holder ? resource[ref.holder] : resource;
    const list = isObject(holder) && Array.isArray(holder[ref.top.name]) ? (holder[ref.top.name] as Json[]) : [];
    const el = list.find((e) => isObject(e) && e.primary === true) ?? list[0];
    v = isObject(el) ? (ref.leaf === ref.top ? undefined : el[ref.leaf.name]) : el;
  } else {
    v = valuesAt(resource, ref)[0] as Json | undefined;
  }
  if (v === undefined || v === null || isObject(v) || Array.isArray(v)) return undefined;
  if (ref.leaf.type === 'dateTime' && typeof v === 'string') return Date.parse(v);
  return typeof v === 'string' && !ref.leaf.caseExact ? v.toLowerCase() : v;
}

function comparator<R extends { id: string; resource: JsonObject; created_at: Date | string }>(sort: SortSpec | null) {
  const base = (a: R, b: R) => {
    const d = new Date(a.created_at).getTime() - new Date(b.created_at).getTime();
    return d !== 0 ? d : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
  if (!sort) return base;
  return (a: R, b: R) => {
    const ka = sortKey(a.resource, sort.ref);
    const kb = sortKey(b.resource, sort.ref);
    // unassigned values sort last in either order
    if (ka === undefined || kb === undefined) return ka === kb ? base(a, b) : ka === undefined ? 1 : -1;
    if (ka === kb) return base(a, b);
    const c = ka < kb ? -1 : 1;
    return sort.descending ? -c : c;
  };
}

/** `sortBy` → the attribute it names (through the filter compiler, so names resolve the same way). */
export function parseSortBy(rt: ResourceTypeDef, sortBy: string): AttrRef {
  // a bad sortBy is invalidValue (RFC 7644 §3.12), not invalidFilter: it is a parameter, not a filter
  let f: CompiledFilter;
  try {
    f = compileFilter(rt, `${sortBy} pr`, 'invalidValue');
  } catch (e) {
    if (e instanceof ScimError) throw badRequest('invalidValue', `sortBy ${JSON.stringify(sortBy)}: ${e.message}`, 'sortBy');
    throw e;
  }
  if (f.root.kind !== 'pr') throw badRequest('invalidValue', `sortBy ${JSON.stringify(sortBy)} is not an attribute`, 'sortBy');
  return f.root.ref;
}

export { etagOf };

import { z } from 'zod';
import type { AccountState, CredentialStatus, CredentialType } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import { endOfDayIfDate, startOfDayIfDate } from '../../src/domain/identity.js';

/**
 * The simulator's world, in memory: access groups, accounts (cardholders) with their
 * memberships and credentials, access events and a change log. Everything the HTTP server
 * does goes through this class, and tests may call it directly (seeding 100k accounts over
 * HTTP would make suites slow).
 *
 * Sized for benchmarks: accounts are indexed by id and externalId, and kept in an
 * append-only array ordered by sequence number, so a page is a binary search plus `limit`
 * steps, never a copy of the whole set.
 */

export interface SimGroup {
  id: string;
  name: string;
  doors: string[];
}

export interface SimValidity {
  from: string | null;
  until: string | null;
}

export interface SimMembership extends SimValidity {
  group: string;
  createdAt: string;
  updatedAt: string;
}

export interface SimCredential {
  id: string;
  accountId: string;
  type: CredentialType;
  number: string;
  status: CredentialStatus;
  lastUsedAt: string | null;
  /** Offline profile only: until when the key opens what it last learned. */
  keyExpiresAt?: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface SimAccount {
  id: string;
  externalId: string | null;
  displayName: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  state: AccountState;
  validity: SimValidity;
  createdAt: string;
  updatedAt: string;
  memberships: SimMembership[];
  credentials: SimCredential[];
}

/** An account as `GET /api/accounts?view=compact` lists it. */
export interface SimAccountCompact {
  id: string;
  externalId: string | null;
  displayName: string;
  state: AccountState;
  memberships: Array<SimValidity & { group: string }>;
  credentials: Array<Pick<SimCredential, 'id' | 'type' | 'number' | 'status' | 'lastUsedAt' | 'keyExpiresAt'>>;
  validity: SimValidity;
}

export type SwipeReason =
  | 'granted'
  | 'unknown_credential'
  | 'credential_suspended'
  | 'credential_lost'
  | 'credential_revoked'
  | 'account_suspended'
  | 'account_not_yet_valid'
  | 'account_expired'
  | 'unknown_door'
  | 'no_membership'
  | 'membership_not_yet_valid'
  | 'membership_expired'
  /** Offline profile: the key was not updated within the revalidation period. */
  | 'key_expired';

export interface SimEvent {
  /** Equal to String(seq): stable, and the cursor of /api/events. */
  id: string;
  seq: number;
  at: string;
  accountId: string | null;
  credentialId: string | null;
  number: string | null;
  door: string | null;
  group: string | null;
  granted: boolean;
  reason: SwipeReason;
}

export type ChangeKind =
  | 'account.created'
  | 'account.updated'
  | 'account.deleted'
  | 'membership.granted'
  | 'membership.updated'
  | 'membership.revoked'
  | 'credential.issued'
  | 'credential.updated'
  /** Offline profile: a key learned the system's state at an online reader. */
  | 'credential.key_updated';

/**
 * One applied change, timestamped when the simulator applied it. Benchmarks join these
 * with the time they caused the change upstream to measure event-to-applied latency,
 * including for revocations, which leave no membership behind to carry a timestamp.
 */
export interface SimChange {
  seq: number;
  at: string;
  kind: ChangeKind;
  accountId: string;
  externalId: string | null;
  group?: string;
  credentialId?: string;
  /** The new values, for updates (state, validity, status). */
  data?: Record<string, unknown>;
}

export interface Paged<T> {
  items: T[];
  /** Cursor for the next page, or null on the last one. */
  next: string | null;
}

export interface AccountCreate {
  externalId?: string | null;
  displayName: string;
  firstName?: string | null;
  lastName?: string | null;
  email?: string | null;
  state?: AccountState;
  validity?: Partial<SimValidity>;
}

export type AccountUpdate = Partial<AccountCreate>;

export interface CredentialIssue {
  type?: CredentialType;
  number?: string;
  status?: CredentialStatus;
}

export interface SwipeInput {
  credentialId?: string;
  number?: string;
  door?: string;
  group?: string;
}

export interface SwipeResult {
  granted: boolean;
  reason: SwipeReason;
  event: SimEvent;
}

/**
 * What kind of lock system the simulator plays (issue 16): one that stores validity windows on
 * memberships or none, that can suspend accounts or not, and one whose keys carry their access
 * rights (data-on-card, as Salto or CLIQ): offline locks learn a change only when the key is
 * next updated at an online reader, and a key not updated within `revalidationDays` stops
 * opening anything.
 */
export interface SimProfile {
  /** Where windows are stored: on memberships, on the account (the person's dates), or nowhere. */
  validity: 'membership' | 'account' | 'none';
  suspendAccount: boolean;
  offline: { revalidationDays: number } | null;
}

export const DEFAULT_PROFILE: SimProfile = { validity: 'membership', suspendAccount: true, offline: null };

/** A data-on-card key: what it last learned, and when. */
interface KeyData {
  updatedAt: number;
  memberships: Map<string, SimValidity>;
}

export interface SimulatorStateOptions {
  /** The kind of lock system to play. Default: windows on memberships, suspension, online. */
  profile?: Partial<SimProfile>;
  /** Oldest access events are dropped beyond this many. Default 100 000. */
  maxEvents?: number;
  /** Oldest change-log entries are dropped beyond this many. Default 200 000. */
  maxChanges?: number;
  now?: () => number;
}

/** Demo groups for a simulator started without any: a small data centre. */
export const DEFAULT_GROUPS: SimGroup[] = [
  { id: 'lobby', name: 'Lobby and reception', doors: ['lobby-main', 'lobby-turnstile'] },
  { id: 'office', name: 'Office floors', doors: ['office-1', 'office-2'] },
  { id: 'dc1-grey', name: 'DC1 grey space (power, cooling)', doors: ['dc1-plant', 'dc1-loading'] },
  { id: 'dc1-white', name: 'DC1 white space', doors: ['dc1-hall-a', 'dc1-hall-b'] },
  { id: 'dc1-cage-a', name: 'DC1 customer cage A', doors: ['dc1-cage-a'] },
];

interface AccountRec {
  seq: number;
  deleted: boolean;
  id: string;
  externalId: string | null;
  displayName: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  state: AccountState;
  validity: SimValidity;
  createdAt: string;
  updatedAt: string;
  memberships: Map<string, SimMembership>;
  credentials: Map<string, SimCredential>;
}

const ACCOUNT_ID = /^acc-(\d+)$/;
const CREDENTIAL_ID = /^cred-(\d+)$/;

export class SimulatorState {
  private readonly groups = new Map<string, SimGroup>();
  private readonly accounts = new Map<string, AccountRec>();
  private readonly byExternalId = new Map<string, AccountRec>();
  /** Accounts in seq order; deleted ones stay as tombstones until compaction. */
  private order: AccountRec[] = [];
  private tombstones = 0;
  private readonly credentials = new Map<string, SimCredential>();
  private readonly byNumber = new Map<string, SimCredential>();
  private events: SimEvent[] = [];
  private changes: SimChange[] = [];
  private seq = { account: 0, credential: 0, event: 0, change: 0, number: 10_000_000 };
  private readonly maxEvents: number;
  private readonly maxChanges: number;
  private readonly clock: () => number;
  /** Called after every mutation; the server debounces persistence on it. */
  onChange?: () => void;

  readonly profile: SimProfile;
  /** Offline profile: each credential's key data (not persisted: a reloaded simulator's keys count as updated at load). */
  private readonly keys = new Map<string, KeyData>();

  constructor(opts: SimulatorStateOptions = {}) {
    this.profile = { ...DEFAULT_PROFILE, ...opts.profile };
    this.maxEvents = opts.maxEvents ?? 100_000;
    this.maxChanges = opts.maxChanges ?? 200_000;
    this.clock = opts.now ?? Date.now;
  }

  get accountCount(): number {
    return this.accounts.size;
  }

  // ---- groups -------------------------------------------------------------------------

  listGroups(): SimGroup[] {
    return [...this.groups.values()].map((g) => ({ ...g, doors: [...g.doors] }));
  }

  getGroup(id: string): SimGroup | null {
    const g = this.groups.get(id);
    return g ? { ...g, doors: [...g.doors] } : null;
  }

  /** Defines or redefines a group; returns true when it was new. */
  putGroup(g: SimGroup): boolean {
    const isNew = !this.groups.has(g.id);
    this.groups.set(g.id, { id: g.id, name: g.name, doors: [...new Set(g.doors)] });
    this.changed();
    return isNew;
  }

  // ---- accounts -----------------------------------------------------------------------

  listAccounts(after: string | null, limit: number): Paged<SimAccount>;
  listAccounts(after: string | null, limit: number, opts: { compact: true }): Paged<SimAccountCompact>;
  listAccounts(after: string | null, limit: number, opts: { compact?: boolean } = {}): Paged<SimAccount | SimAccountCompact> {
    const afterSeq = after === null ? 0 : parseCursor(after, 'after');
    let i = upperBound(this.order, afterSeq, (a) => a.seq);
    const items: Array<SimAccount | SimAccountCompact> = [];
    while (i < this.order.length && items.length < limit) {
      const rec = this.order[i++];
      if (!rec.deleted) items.push(this.keyed(opts.compact ? compactView(rec) : view(rec)));
    }
    while (i < this.order.length && this.order[i].deleted) i++;
    const last = items[items.length - 1];
    return { items, next: i < this.order.length && last ? String(seqOf(last.id, ACCOUNT_ID)) : null };
  }

  getAccount(id: string): SimAccount | null {
    const rec = this.accounts.get(id);
    return rec ? this.keyed(view(rec)) : null;
  }

  /** Offline profile: each credential says until when its key opens what it last learned. */
  private keyed<T extends { credentials: Array<{ id: string; keyExpiresAt?: string | null }> }>(a: T): T {
    if (this.profile.offline) for (const c of a.credentials) c.keyExpiresAt = this.keyExpiresAt(c.id);
    return a;
  }

  findByExternalId(externalId: string): SimAccount | null {
    const rec = this.byExternalId.get(externalId);
    return rec ? this.keyed(view(rec)) : null;
  }

  createAccount(input: AccountCreate): SimAccount {
    const externalId = input.externalId ?? null;
    if (externalId !== null && this.byExternalId.has(externalId)) {
      throw new LockstepError('conflict', `an account with externalId ${externalId} exists`, { field: 'externalId' });
    }
    const validity = normaliseValidity({ from: input.validity?.from ?? null, until: input.validity?.until ?? null });
    const at = this.isoNow();
    const seq = ++this.seq.account;
    const rec: AccountRec = {
      seq,
      deleted: false,
      id: `acc-${seq}`,
      externalId,
      displayName: input.displayName,
      firstName: input.firstName ?? null,
      lastName: input.lastName ?? null,
      email: input.email ?? null,
      state: input.state ?? 'active',
      validity,
      createdAt: at,
      updatedAt: at,
      memberships: new Map(),
      credentials: new Map(),
    };
    this.insert(rec);
    this.log({ at, kind: 'account.created', accountId: rec.id, externalId });
    this.changed();
    return view(rec);
  }

  /** Applies the fields present; an update that changes nothing keeps updatedAt as it was. */
  updateAccount(id: string, patch: AccountUpdate): SimAccount {
    const rec = this.requireAccount(id);
    const data: Record<string, unknown> = {};
    if (patch.externalId !== undefined && patch.externalId !== rec.externalId) {
      const taken = patch.externalId === null ? undefined : this.byExternalId.get(patch.externalId);
      if (taken && taken !== rec) {
        throw new LockstepError('conflict', `an account with externalId ${patch.externalId} exists`, { field: 'externalId' });
      }
      if (rec.externalId !== null) this.byExternalId.delete(rec.externalId);
      if (patch.externalId !== null) this.byExternalId.set(patch.externalId, rec);
      rec.externalId = patch.externalId;
      data.externalId = patch.externalId;
    }
    if (patch.state !== undefined && patch.state !== rec.state && !this.profile.suspendAccount) {
      throw new LockstepError('validation', 'this lock system cannot suspend accounts (simulator profile suspendAccount: false)', { field: 'state' });
    }
    for (const k of ['displayName', 'firstName', 'lastName', 'email', 'state'] as const) {
      const v = patch[k];
      if (v === undefined || v === rec[k]) continue;
      if (k === 'displayName' || k === 'state') {
        if (v === null) throw new LockstepError('validation', `${k} cannot be null`, { field: k });
      }
      (rec as unknown as Record<string, unknown>)[k] = v;
      data[k] = v;
    }
    if (patch.validity !== undefined) {
      const v = normaliseValidity({
        from: patch.validity.from === undefined ? rec.validity.from : patch.validity.from,
        until: patch.validity.until === undefined ? rec.validity.until : patch.validity.until,
      });
      if (v.from !== rec.validity.from || v.until !== rec.validity.until) {
        rec.validity = v;
        data.validity = v;
      }
    }
    if (Object.keys(data).length > 0) {
      rec.updatedAt = this.isoNow();
      this.log({ at: rec.updatedAt, kind: 'account.updated', accountId: rec.id, externalId: rec.externalId, data });
      this.changed();
    }
    return view(rec);
  }

  /** Returns false when there was no such account. Its credentials go with it. */
  deleteAccount(id: string): boolean {
    const rec = this.accounts.get(id);
    if (!rec) return false;
    this.accounts.delete(id);
    if (rec.externalId !== null) this.byExternalId.delete(rec.externalId);
    for (const c of rec.credentials.values()) {
      this.credentials.delete(c.id);
      this.byNumber.delete(c.number);
    }
    rec.deleted = true;
    this.tombstones++;
    if (this.tombstones > 1024 && this.tombstones > this.order.length / 2) {
      this.order = this.order.filter((a) => !a.deleted);
      this.tombstones = 0;
    }
    this.log({ at: this.isoNow(), kind: 'account.deleted', accountId: id, externalId: rec.externalId });
    this.changed();
    return true;
  }

  // ---- memberships --------------------------------------------------------------------

  /** Ensures exactly one membership with this validity; returns it and whether it was created. */
  putMembership(accountId: string, group: string, validity: Partial<SimValidity>): { membership: SimMembership; created: boolean } {
    const rec = this.requireAccount(accountId);
    if (!this.groups.has(group)) throw new LockstepError('not_found', `no access group ${group}`, { field: 'group' });
    if (this.profile.validity !== 'membership' && (validity.from || validity.until)) {
      throw new LockstepError(
        'validation',
        `this lock system cannot store validity windows on memberships (simulator profile validity: ${this.profile.validity})`,
        { field: 'validity' },
      );
    }
    const v = normaliseValidity({ from: validity.from ?? null, until: validity.until ?? null });
    const existing = rec.memberships.get(group);
    if (existing) {
      if (existing.from !== v.from || existing.until !== v.until) {
        existing.from = v.from;
        existing.until = v.until;
        existing.updatedAt = this.isoNow();
        this.log({ at: existing.updatedAt, kind: 'membership.updated', accountId, externalId: rec.externalId, group, data: { ...v } });
        this.changed();
      }
      return { membership: { ...existing }, created: false };
    }
    const at = this.isoNow();
    const m: SimMembership = { group, from: v.from, until: v.until, createdAt: at, updatedAt: at };
    rec.memberships.set(group, m);
    this.log({ at, kind: 'membership.granted', accountId, externalId: rec.externalId, group, data: { ...v } });
    this.changed();
    return { membership: { ...m }, created: true };
  }

  /** Returns false when there was no membership (not an error: revocation is idempotent). */
  deleteMembership(accountId: string, group: string): boolean {
    const rec = this.requireAccount(accountId);
    if (!rec.memberships.delete(group)) return false;
    this.log({ at: this.isoNow(), kind: 'membership.revoked', accountId, externalId: rec.externalId, group });
    this.changed();
    return true;
  }

  // ---- credentials --------------------------------------------------------------------

  issueCredential(accountId: string, input: CredentialIssue = {}): SimCredential {
    const rec = this.requireAccount(accountId);
    let number = input.number;
    if (number !== undefined && this.byNumber.has(number)) {
      throw new LockstepError('conflict', `credential number ${number} is in use`, { field: 'number' });
    }
    while (number === undefined || this.byNumber.has(number)) number = String(++this.seq.number);
    const at = this.isoNow();
    const c: SimCredential = {
      id: `cred-${++this.seq.credential}`,
      accountId,
      type: input.type ?? 'card',
      number,
      status: input.status ?? 'active',
      lastUsedAt: null,
      createdAt: at,
      updatedAt: at,
    };
    rec.credentials.set(c.id, c);
    this.credentials.set(c.id, c);
    this.byNumber.set(c.number, c);
    this.log({ at, kind: 'credential.issued', accountId, externalId: rec.externalId, credentialId: c.id, data: { type: c.type } });
    this.changed();
    return { ...c };
  }

  setCredentialStatus(accountId: string, credentialId: string, status: CredentialStatus): SimCredential {
    const rec = this.requireAccount(accountId);
    const c = rec.credentials.get(credentialId);
    if (!c) throw new LockstepError('not_found', `account ${accountId} has no credential ${credentialId}`);
    if (c.status !== status) {
      c.status = status;
      c.updatedAt = this.isoNow();
      this.log({ at: c.updatedAt, kind: 'credential.updated', accountId, externalId: rec.externalId, credentialId, data: { status } });
      this.changed();
    }
    return { ...c };
  }

  // ---- access -------------------------------------------------------------------------

  /**
   * Decides a swipe as a controller would, at this instant: credential status, account
   * state and validity, then a membership valid now in a group that opens the door.
   * Every swipe is recorded; a granted one also stamps the credential's lastUsedAt.
   */
  swipe(input: SwipeInput): SwipeResult {
    const now = this.clock();
    const at = new Date(now).toISOString();
    const cred = input.credentialId !== undefined ? this.credentials.get(input.credentialId) : this.byNumber.get(input.number ?? '');
    const base = {
      credentialId: cred?.id ?? input.credentialId ?? null,
      number: cred?.number ?? input.number ?? null,
      accountId: cred?.accountId ?? null,
      door: input.door ?? null,
    };
    const decide = (): { reason: SwipeReason; group: string | null } => {
      if (!cred) return { reason: 'unknown_credential', group: input.group ?? null };
      if (cred.status !== 'active') return { reason: `credential_${cred.status}`, group: input.group ?? null };
      const acc = this.accounts.get(cred.accountId);
      if (!acc) return { reason: 'unknown_credential', group: input.group ?? null };
      if (acc.state === 'suspended') return { reason: 'account_suspended', group: input.group ?? null };
      const av = windowAt(acc.validity, now);
      if (av !== 'ok') return { reason: av === 'early' ? 'account_not_yet_valid' : 'account_expired', group: input.group ?? null };
      const candidates =
        input.group !== undefined
          ? this.groups.has(input.group)
            ? [input.group]
            : []
          : [...this.groups.values()].filter((g) => g.doors.includes(input.door ?? '')).map((g) => g.id);
      if (candidates.length === 0) return { reason: 'unknown_door', group: input.group ?? null };
      let best: SwipeReason = 'no_membership';
      // an offline lock reads the key, not the system: what the key learned at its last update
      const key = this.profile.offline ? this.keyOf(cred.id) : null;
      if (key && now > key.updatedAt + this.profile.offline!.revalidationDays * 86_400_000) return { reason: 'key_expired', group: input.group ?? null };
      for (const g of candidates) {
        const m = key ? key.memberships.get(g) : acc.memberships.get(g);
        if (!m) continue;
        const w = windowAt(m, now);
        if (w === 'ok') return { reason: 'granted', group: g };
        // Report the most telling denial: an expired or future membership says more than none.
        best = w === 'early' ? 'membership_not_yet_valid' : 'membership_expired';
      }
      return { reason: best, group: input.group ?? (candidates.length === 1 ? candidates[0] : null) };
    };
    const { reason, group } = decide();
    const granted = reason === 'granted';
    if (granted && cred) {
      cred.lastUsedAt = at;
    }
    const event = this.pushEvent({ ...base, at, group, granted, reason });
    this.changed();
    return { granted, reason, event };
  }

  // ---- offline keys (profile.offline) ---------------------------------------------------

  private keyOf(credentialId: string): KeyData {
    let k = this.keys.get(credentialId);
    if (!k) {
      // a key never updated here counts as updated now, with what the system holds now
      k = this.snapshot(credentialId);
      this.keys.set(credentialId, k);
    }
    return k;
  }

  private snapshot(credentialId: string): KeyData {
    const cred = this.credentials.get(credentialId);
    const acc = cred ? this.accounts.get(cred.accountId) : undefined;
    const memberships = new Map<string, SimValidity>();
    for (const [g, m] of acc?.memberships ?? []) memberships.set(g, { from: m.from, until: m.until });
    return { updatedAt: this.clock(), memberships };
  }

  /** The key was presented at an online reader: it learns what the system holds now. */
  updateKey(credentialId: string): { credentialId: string; updatedAt: string; expiresAt: string | null } {
    if (!this.credentials.has(credentialId)) throw new LockstepError('not_found', `no credential ${credentialId}`, { field: 'credentialId' });
    const k = this.snapshot(credentialId);
    this.keys.set(credentialId, k);
    this.log({ at: this.isoNow(), kind: 'credential.key_updated', accountId: this.credentials.get(credentialId)!.accountId, externalId: null, credentialId });
    this.changed();
    return { credentialId, updatedAt: new Date(k.updatedAt).toISOString(), expiresAt: this.keyExpiresAt(credentialId) };
  }

  /** Until when an offline key opens what it last learned (null: not an offline system). */
  keyExpiresAt(credentialId: string): string | null {
    if (!this.profile.offline) return null;
    return new Date(this.keyOf(credentialId).updatedAt + this.profile.offline.revalidationDays * 86_400_000).toISOString();
  }

  /**
   * Records an event without deciding it (test harnesses, imports). A granted one stamps
   * lastUsedAt. `at` dates an imported event (a demo's use weeks ago); lastUsedAt never goes back.
   */
  recordEvent(e: {
    accountId: string | null;
    credentialId: string | null;
    door?: string | null;
    group?: string | null;
    granted: boolean;
    at?: string;
  }): SimEvent {
    const at = e.at ?? this.isoNow();
    const cred = e.credentialId ? this.credentials.get(e.credentialId) : undefined;
    if (cred && e.granted && (cred.lastUsedAt === null || Date.parse(at) > Date.parse(cred.lastUsedAt))) cred.lastUsedAt = at;
    const event = this.pushEvent({
      at,
      accountId: e.accountId,
      credentialId: e.credentialId,
      number: cred?.number ?? null,
      door: e.door ?? null,
      group: e.group ?? null,
      granted: e.granted,
      reason: e.granted ? 'granted' : 'no_membership',
    });
    this.changed();
    return event;
  }

  /** Events after the cursor (null: from the oldest kept). `next` is always a cursor to poll with. */
  listEvents(after: string | null, limit: number): { items: SimEvent[]; next: string } {
    const afterSeq = after === null ? 0 : parseCursor(after, 'after');
    const i = upperBound(this.events, afterSeq, (e) => e.seq);
    const items = this.events.slice(i, i + limit).map((e) => ({ ...e }));
    const last = items[items.length - 1];
    return { items, next: String(last ? last.seq : Math.max(afterSeq, 0)) };
  }

  listChanges(after: string | null, limit: number): { items: SimChange[]; next: string } {
    const afterSeq = after === null ? 0 : parseCursor(after, 'after');
    const i = upperBound(this.changes, afterSeq, (c) => c.seq);
    const items = this.changes.slice(i, i + limit).map((c) => ({ ...c }));
    const last = items[items.length - 1];
    return { items, next: String(last ? last.seq : Math.max(afterSeq, 0)) };
  }

  // ---- whole state --------------------------------------------------------------------

  export(): SimulatorExport {
    const accounts: SimAccount[] = [];
    for (const rec of this.order) if (!rec.deleted) accounts.push(view(rec));
    return {
      format: 'lockstep-simulator',
      version: 1,
      exportedAt: this.isoNow(),
      counters: { ...this.seq },
      groups: this.listGroups(),
      accounts,
      events: this.events.slice(),
      changes: this.changes.slice(),
    };
  }

  /** Replaces everything with an export (a state file). Throws validation errors naming the field. */
  load(raw: unknown): void {
    const parsed = exportSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.join('.');
      throw new LockstepError('validation', `simulator state: ${field || '(root)'}: ${issue.message}`, { field });
    }
    const data = parsed.data;
    this.groups.clear();
    this.accounts.clear();
    this.byExternalId.clear();
    this.credentials.clear();
    this.byNumber.clear();
    this.order = [];
    this.tombstones = 0;
    for (const g of data.groups) this.groups.set(g.id, { id: g.id, name: g.name, doors: [...g.doors] });
    const sorted = [...data.accounts].sort((a, b) => seqOf(a.id, ACCOUNT_ID) - seqOf(b.id, ACCOUNT_ID));
    let maxCred = 0;
    for (const a of sorted) {
      const rec: AccountRec = {
        seq: seqOf(a.id, ACCOUNT_ID),
        deleted: false,
        id: a.id,
        externalId: a.externalId,
        displayName: a.displayName,
        firstName: a.firstName,
        lastName: a.lastName,
        email: a.email,
        state: a.state,
        validity: { ...a.validity },
        createdAt: a.createdAt,
        updatedAt: a.updatedAt,
        memberships: new Map(a.memberships.map((m) => [m.group, { ...m }])),
        credentials: new Map(),
      };
      for (const c of a.credentials) {
        const cred: SimCredential = { ...c, accountId: a.id };
        rec.credentials.set(c.id, cred);
        this.credentials.set(c.id, cred);
        this.byNumber.set(c.number, cred);
        maxCred = Math.max(maxCred, seqOf(c.id, CREDENTIAL_ID));
      }
      this.insert(rec);
    }
    this.events = data.events.map((e) => ({ ...e }));
    this.changes = data.changes.map((c) => ({ ...c }));
    const lastSeq = (xs: { seq: number }[]): number => (xs.length ? xs[xs.length - 1].seq : 0);
    // Counters never go backwards, even if the file was edited by hand: ids and cursors stay unique.
    this.seq = {
      account: Math.max(data.counters.account, sorted.length ? seqOf(sorted[sorted.length - 1].id, ACCOUNT_ID) : 0),
      credential: Math.max(data.counters.credential, maxCred),
      event: Math.max(data.counters.event, lastSeq(this.events)),
      change: Math.max(data.counters.change, lastSeq(this.changes)),
      number: data.counters.number,
    };
  }

  // ---- internals ----------------------------------------------------------------------

  private insert(rec: AccountRec): void {
    this.accounts.set(rec.id, rec);
    if (rec.externalId !== null) this.byExternalId.set(rec.externalId, rec);
    this.order.push(rec);
  }

  private requireAccount(id: string): AccountRec {
    const rec = this.accounts.get(id);
    if (!rec) throw new LockstepError('not_found', `no account ${id}`);
    return rec;
  }

  private pushEvent(e: Omit<SimEvent, 'id' | 'seq'>): SimEvent {
    const seq = ++this.seq.event;
    const event: SimEvent = { id: String(seq), seq, ...e };
    this.events.push(event);
    if (this.events.length > this.maxEvents) this.events.splice(0, Math.ceil(this.maxEvents / 10));
    return { ...event };
  }

  private log(c: Omit<SimChange, 'seq'>): void {
    this.changes.push({ seq: ++this.seq.change, ...c });
    if (this.changes.length > this.maxChanges) this.changes.splice(0, Math.ceil(this.maxChanges / 10));
  }

  private isoNow(): string {
    return new Date(this.clock()).toISOString();
  }

  private changed(): void {
    this.onChange?.();
  }
}

/**
 * The compact listing: what a client needs to reconcile, without bookkeeping timestamps (about
 * half the bytes), keys in the order lockstep's own Account has them, so its driver can use
 * the parsed objects as they are.
 */
function compactView(rec: AccountRec): SimAccountCompact {
  return {
    id: rec.id,
    externalId: rec.externalId,
    displayName: rec.displayName,
    state: rec.state,
    memberships: [...rec.memberships.values()].map((m) => ({ group: m.group, from: m.from, until: m.until })),
    credentials: [...rec.credentials.values()].map((c) => ({ id: c.id, type: c.type, number: c.number, status: c.status, lastUsedAt: c.lastUsedAt })),
    validity: { from: rec.validity.from, until: rec.validity.until },
  };
}

function view(rec: AccountRec): SimAccount {
  return {
    id: rec.id,
    externalId: rec.externalId,
    displayName: rec.displayName,
    firstName: rec.firstName,
    lastName: rec.lastName,
    email: rec.email,
    state: rec.state,
    validity: { ...rec.validity },
    createdAt: rec.createdAt,
    updatedAt: rec.updatedAt,
    memberships: [...rec.memberships.values()].map((m) => ({ ...m })),
    credentials: [...rec.credentials.values()].map((c) => ({ ...c })),
  };
}

/** Index of the first element whose key is greater than `key` (arrays sorted by key). */
function upperBound<T>(xs: T[], key: number, keyOf: (x: T) => number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyOf(xs[mid]) <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function parseCursor(s: string, field: string): number {
  if (!/^\d{1,15}$/.test(s)) throw new LockstepError('validation', `${field} must be a cursor returned by this API`, { field });
  return Number(s);
}

function seqOf(id: string, re: RegExp): number {
  const m = re.exec(id);
  if (!m) throw new LockstepError('validation', `malformed id ${id}`, { field: 'id' });
  return Number(m[1]);
}

function windowAt(v: SimValidity, now: number): 'early' | 'ok' | 'late' {
  if (v.from !== null && now < Date.parse(v.from)) return 'early';
  // `until` is inclusive: a bare date was stored as 23:59:59.999 of that day.
  if (v.until !== null && now > Date.parse(v.until)) return 'late';
  return 'ok';
}

/** Bare dates become whole days (from: start, until: end, UTC); date-times are normalised to ISO. */
export function normaliseValidity(v: SimValidity): SimValidity {
  const from = v.from === null ? null : checkDate(v.from, 'validity.from', startOfDayIfDate);
  const until = v.until === null ? null : checkDate(v.until, 'validity.until', endOfDayIfDate);
  if (from !== null && until !== null && Date.parse(from) > Date.parse(until)) {
    throw new LockstepError('validation', 'validity.from is after validity.until', { field: 'validity.from' });
  }
  return { from, until };
}

function checkDate(s: string, field: string, norm: (s: string) => string): string {
  if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(Date.parse(s))) {
    throw new LockstepError('validation', `${field} must be an ISO 8601 date or date-time`, { field });
  }
  return norm(s);
}

// ---- state file format ------------------------------------------------------------------

const iso = z.string();
const validitySchema = z.object({ from: iso.nullable(), until: iso.nullable() });
const exportSchema = z.object({
  format: z.literal('lockstep-simulator'),
  version: z.literal(1),
  exportedAt: iso.optional(),
  counters: z.object({
    account: z.number().int().nonnegative(),
    credential: z.number().int().nonnegative(),
    event: z.number().int().nonnegative(),
    change: z.number().int().nonnegative(),
    number: z.number().int().nonnegative(),
  }),
  groups: z.array(z.object({ id: z.string().min(1), name: z.string(), doors: z.array(z.string()) })),
  accounts: z.array(
    z.object({
      id: z.string().regex(ACCOUNT_ID),
      externalId: z.string().nullable(),
      displayName: z.string(),
      firstName: z.string().nullable(),
      lastName: z.string().nullable(),
      email: z.string().nullable(),
      state: z.enum(['active', 'suspended']),
      validity: validitySchema,
      createdAt: iso,
      updatedAt: iso,
      memberships: z.array(validitySchema.extend({ group: z.string(), createdAt: iso, updatedAt: iso })),
      credentials: z.array(
        z.object({
          id: z.string().regex(CREDENTIAL_ID),
          accountId: z.string(),
          type: z.enum(['card', 'key', 'mobile', 'pin']),
          number: z.string(),
          status: z.enum(['active', 'suspended', 'lost', 'revoked']),
          lastUsedAt: iso.nullable(),
          createdAt: iso,
          updatedAt: iso,
        }),
      ),
    }),
  ),
  events: z.array(
    z.object({
      id: z.string(),
      seq: z.number().int().positive(),
      at: iso,
      accountId: z.string().nullable(),
      credentialId: z.string().nullable(),
      number: z.string().nullable(),
      door: z.string().nullable(),
      group: z.string().nullable(),
      granted: z.boolean(),
      reason: z.string() as z.ZodType<SwipeReason>,
    }),
  ),
  changes: z.array(
    z.object({
      seq: z.number().int().positive(),
      at: iso,
      kind: z.string() as z.ZodType<ChangeKind>,
      accountId: z.string(),
      externalId: z.string().nullable(),
      group: z.string().optional(),
      credentialId: z.string().optional(),
      data: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
});

export interface SimulatorExport {
  format: 'lockstep-simulator';
  version: 1;
  exportedAt: string;
  counters: { account: number; credential: number; event: number; change: number; number: number };
  groups: SimGroup[];
  accounts: SimAccount[];
  events: SimEvent[];
  changes: SimChange[];
}

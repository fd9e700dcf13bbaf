import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import type {
  AccessEvent,
  Account,
  AccountInput,
  AccountState,
  Credential,
  CredentialStatus,
  CredentialType,
  Membership,
  Validity,
} from '../../src/domain/access.js';
import { LockstepError, type ErrorCode } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { TokenSource } from './auth.js';
import {
  fromTimestamp,
  nebulaServices,
  retryDelayFromDetails,
  structToJson,
  toTimestamp,
  type KeyState,
  type PbAccessRight,
  type PbEvent,
  type PbOperation,
  type PbUser,
  type PbUserAccessRight,
} from './proto.js';
import { cursorCodec, mapLimit, parseDriverOptions, readOptionFile } from '../../src/drivers/util.js';

/**
 * The LockDriver for Salto Nebula (Salto's cloud platform), over its gRPC API
 * (salto.nebula.*.v1, lockstep's subset of it in proto.ts).
 *
 * - Accounts are Nebula users. The link is the user's resource id: lockstep creates each user
 *   with `user_id` = the identity's externalId (Nebula's custom ids), so findAccount is one
 *   GetUser. An externalId that is not a plain id (letters, digits, `-`, `_`, at most 63) is
 *   written as `lsx-` and its base32, and read back the same way.
 * - Access groups are access rights; a membership is a user access right, which carries its own
 *   activate/expire times: capabilities say `validity: 'membership'`. The user's own
 *   activate/expire times are the account validity (AccountInput.validity).
 * - Suspension is BlockUser / UnblockUser.
 * - Credentials are the user's keys (card key, electronic key, app key, wallet key, passcode;
 *   one of each at most). Keys are data on card: a change reaches offline locks only when the
 *   key is updated (presented at an online access point, or re-encoded with EncodeCardKey), and
 *   a key not updated within the installation's key renewal duration stops opening. Nebula
 *   marks such keys `outdated`, and `expire_time` says until when the key opens what it last
 *   learned: reported as keyExpiresAt, with `offline.revalidationDays` from the options or
 *   the installation's key_renewal_duration.
 * - Keys have no suspended or lost state; they can only be cancelled. capabilities say
 *   `credentialStates: ['lost', 'revoked']`; setCredentialState cancels the key for both.
 * - Access events are ListEvents by create_time (when Nebula recorded it: events from offline
 *   locks arrive late, and would be missed by their occur_time), paged with page tokens.
 * - Auth: OAuth 2.0 client credentials; the bearer token goes in each call's metadata and is
 *   renewed before it expires and once when a call is refused as UNAUTHENTICATED.
 */

export const NEBULA_SCOPE = 'https://saltoapis.com/auth/nebula';

export const saltoOptionsSchema = z
  .strictObject({
    /** host:port of the Nebula gRPC API. */
    address: z.string().min(1).default('nebula.saltoapis.com:443'),
    /** The installation: its id (`surelock-homes-hq`) or name (`installations/surelock-homes-hq`). */
    installation: z
      .string()
      .min(1)
      .transform((s) => s.replace(/^installations\//, ''))
      .pipe(z.string().regex(/^[^/\s]+$/, 'an installation id, or installations/{id}')),
    /** The API client's OAuth 2.0 client id (from Salto). */
    clientId: z.string().min(1),
    /** Its secret; prefer clientSecretFile, ${ENV} in lockstep.yaml, or SALTO_CLIENT_SECRET. */
    clientSecret: z.string().min(1).optional(),
    clientSecretFile: z.string().min(1).optional(),
    tokenUrl: z.url({ protocol: /^https?$/ }).default('https://account.saltosystems.com/oauth2/token'),
    scopes: z.array(z.string().min(1)).min(1).default([NEBULA_SCOPE]),
    /** Plaintext gRPC (no TLS): only for a local fake or a TLS-terminating proxy on loopback. */
    plaintext: z.boolean().default(false),
    /** PEM file of the CA that signs the API's certificate, when not a public one (a proxy). */
    caFile: z.string().min(1).optional(),
    /**
     * Days a key opens what it learned without an update (Nebula's key renewal duration: 7 by
     * default, or 14). Unset: read from the installation at start, 7 if it cannot be read.
     */
    revalidationDays: z.coerce.number().int().min(1).max(365).optional(),
    /** Encoder used by encodeCardKey when none is named (`installations/*\/encoders/*`). */
    encoder: z.string().min(1).optional(),
    timeoutMs: z.coerce.number().int().min(100).max(300_000).default(15_000),
    maxAttempts: z.coerce.number().int().min(1).max(10).default(3),
    /** A server asking to wait longer than this (retry-after) gets its rate_limited error surfaced at once. */
    maxRetryAfterMs: z.coerce.number().int().min(0).max(600_000).default(30_000),
    /** Users per listAccounts page. */
    pageSize: z.coerce.number().int().min(1).max(1000).default(100),
    eventsPageSize: z.coerce.number().int().min(1).max(1000).default(500),
    /** User access rights read in parallel while listing accounts. */
    concurrency: z.coerce.number().int().min(1).max(32).default(8),
  })
  .refine((o) => !(o.clientSecret && o.clientSecretFile), { message: 'give at most one of clientSecret and clientSecretFile', path: ['clientSecret'] });

export type SaltoOptions = z.input<typeof saltoOptionsSchema>;
type Options = z.output<typeof saltoOptionsSchema>;

type KeyKind = 'card_key' | 'electronic_key' | 'app_key' | 'wallet_key' | 'passcode';
const KEY_KINDS: readonly KeyKind[] = ['card_key', 'electronic_key', 'app_key', 'wallet_key', 'passcode'];
const CANCEL: Record<KeyKind, string> = {
  card_key: 'CancelCardKey',
  electronic_key: 'CancelElectronicKey',
  app_key: 'CancelAppKey',
  wallet_key: 'CancelWalletKey',
  passcode: 'CancelPasscode',
};
const KEY_TYPE: Record<KeyKind, CredentialType> = { card_key: 'card', electronic_key: 'key', app_key: 'mobile', wallet_key: 'mobile', passcode: 'pin' };

const DEFAULT_REVALIDATION_DAYS = 7;
const FIRST_READ_SKEW_MS = 5000;
const PLAIN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const ENCODED_PREFIX = 'lsx-';
const MAX_USER_ID = 63;

/** The gRPC methods that change nothing when repeated, so a lost answer may be asked again. */
const IDEMPOTENT = /^(Get|List|Update|Delete|Block|Unblock|Cancel)/;

/** The events cursor (base64url JSON). */
const eventCursorSchema = z.strictObject({
  v: z.literal(1),
  /** The query's lower bound: create_time >= t. */
  t: z.string(),
  /** Event names at exactly t that were already returned. */
  seen: z.array(z.string()),
  /** The page token within the query from t, while it has more pages. */
  p: z.string().optional(),
  /** The latest create_time returned in this query so far, and the names returned at it. */
  hi: z.string().optional(),
  hiSeen: z.array(z.string()).optional(),
});
type EventCursor = z.infer<typeof eventCursorSchema>;

type Client = grpc.Client & Record<string, unknown>;

export class SaltoDriver implements LockDriver {
  readonly name: string;
  /** offline.revalidationDays is the option's, or what discoverKeyRenewal() read from the installation. */
  capabilities: DriverCapabilities;
  readonly installation: string;

  private readonly users: Client;
  private readonly accessRights: Client;
  private readonly eventsClient: Client;
  private readonly installations: Client;
  private readonly operations: Client;

  constructor(
    private readonly opts: Options,
    private readonly tokens: TokenSource,
    revalidationDays: number,
    name = 'salto',
    channelCredentials: grpc.ChannelCredentials = opts.plaintext ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(),
    private readonly onRetry?: (info: { method: string; attempt: number; delayMs: number; code: ErrorCode }) => void,
  ) {
    this.name = name;
    this.installation = `installations/${opts.installation}`;
    this.capabilities = {
      validity: 'membership',
      suspendAccount: true,
      credentialStates: ['lost', 'revoked'],
      accessEvents: 'cursor',
      offline: { revalidationDays },
      deleteAccount: true,
    };
    const s = nebulaServices();
    const mk = (C: grpc.ServiceClientConstructor) => new C(opts.address, channelCredentials) as unknown as Client;
    this.users = mk(s.UserService);
    this.accessRights = mk(s.AccessRightService);
    this.eventsClient = mk(s.EventService);
    this.installations = mk(s.InstallationService);
    this.operations = mk(s.OperationService);
  }

  async close(): Promise<void> {
    for (const c of [this.users, this.accessRights, this.eventsClient, this.installations, this.operations]) c.close();
  }

  /** The installation's key renewal duration in days (null when it says none). */
  async keyRenewalDays(): Promise<number | null> {
    const inst = await this.call<{ key_renewal_duration?: { seconds: string | number } | null }>(this.installations, 'GetInstallation', {
      name: this.installation,
    });
    const secs = Number(inst.key_renewal_duration?.seconds ?? 0);
    return secs > 0 ? Math.max(1, Math.round(secs / 86_400)) : null;
  }

  /** Declares the installation's key renewal duration as offline.revalidationDays (kept as it is when the installation says none). */
  async discoverKeyRenewal(): Promise<DriverCapabilities> {
    const days = await this.keyRenewalDays();
    if (days !== null) this.capabilities = { ...this.capabilities, offline: { revalidationDays: days } };
    return this.capabilities;
  }

  // ---------------------------------------------------------------- groups

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const out: AccessGroupRef[] = [];
    let token = '';
    do {
      const r = await this.call<{ access_rights: PbAccessRight[]; next_page_token: string }>(this.accessRights, 'ListAccessRights', {
        parent: this.installation,
        page_size: 1000,
        page_token: token,
      });
      for (const a of r.access_rights) out.push({ ref: this.accessRightRef(a.name), name: a.display_name || this.accessRightRef(a.name) });
      token = r.next_page_token;
    } while (token);
    return out;
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const r = await this.call<{ users: PbUser[]; next_page_token: string }>(this.users, 'ListUsers', {
      parent: this.installation,
      page_size: this.opts.pageSize,
      page_token: cursor ?? '',
    });
    const items = await mapLimit(r.users, this.opts.concurrency, async (u) => this.toAccount(u, await this.userAccessRights(u.name)));
    return { items, next: r.next_page_token ? r.next_page_token : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const id = encodeUserId(externalId);
    return id === null ? null : this.getAccount(id);
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const u = await this.readUser(accountId);
    if (!u) return null;
    const rights = await this.userAccessRights(u.name).catch((e: unknown) => {
      if (e instanceof LockstepError && e.code === 'not_found') return null; // deleted in between
      throw e;
    });
    return rights ? this.toAccount(u, rights) : null;
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const id = encodeUserId(input.externalId);
    if (id === null) {
      throw new LockstepError(
        'validation',
        `externalId "${input.externalId}" is too long for a Nebula user id (at most ${MAX_USER_ID} characters as written)`,
        {
          field: 'externalId',
          retryable: false,
        },
      );
    }
    const existing = await this.readUser(id);
    if (existing) return this.updateUser(existing, input);
    const names = namesFor(input);
    const user: Record<string, unknown> = { given_name: names.given, ...(names.family !== null ? { family_name: names.family } : {}) };
    if (input.email) user.email = input.email;
    if (input.validity?.from) user.activate_time = toTimestamp(input.validity.from);
    if (input.validity?.until) user.expire_time = toTimestamp(input.validity.until);
    try {
      await this.call(this.users, 'CreateUser', { parent: this.installation, user_id: id, user });
    } catch (e) {
      // another worker created it first (or our first attempt did, and its answer was lost)
      if (!(e instanceof LockstepError && e.code === 'conflict')) throw e;
      const raced = await this.readUser(id);
      if (!raced) throw e;
      return this.updateUser(raced, input);
    }
    return this.mustAccount(id);
  }

  private async updateUser(u: PbUser, input: AccountInput): Promise<Account> {
    const names = namesFor(input);
    const user: Record<string, unknown> = { name: u.name };
    const paths: string[] = [];
    if (u.given_name !== names.given) {
      user.given_name = names.given;
      paths.push('given_name');
    }
    if ((u.family_name || null) !== names.family) {
      if (names.family !== null) user.family_name = names.family;
      paths.push('family_name');
    }
    if (input.email && input.email !== u.email) {
      user.email = input.email;
      paths.push('email');
    }
    if (input.validity) {
      if (!sameInstant(fromTimestamp(u.activate_time), input.validity.from)) {
        if (input.validity.from) user.activate_time = toTimestamp(input.validity.from);
        paths.push('activate_time');
      }
      if (!sameInstant(fromTimestamp(u.expire_time), input.validity.until)) {
        if (input.validity.until) user.expire_time = toTimestamp(input.validity.until);
        paths.push('expire_time');
      }
    }
    if (paths.length > 0) await this.call(this.users, 'UpdateUser', { user, update_mask: { paths } });
    return this.mustAccount(this.userId(u.name));
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    const u = await this.mustUser(accountId);
    const block = state === 'suspended';
    if (u.blocked === block) return;
    await this.call(this.users, block ? 'BlockUser' : 'UnblockUser', { name: u.name });
  }

  async deleteAccount(accountId: string): Promise<void> {
    const name = this.userName(accountId);
    if (!name) return;
    await ignoreNotFound(this.call(this.users, 'DeleteUser', { name }));
  }

  // ---------------------------------------------------------------- memberships

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const userName = this.userName(accountId);
    if (!userName) throw new LockstepError('not_found', `${accountId} is not a Nebula user id`, { retryable: false });
    const ar = this.accessRightName(group);
    let held = (await this.userAccessRights(userName)).filter((r) => r.access_right === ar);
    if (held.length === 0) {
      const uar: Record<string, unknown> = { access_right: ar };
      if (validity.from) uar.activate_time = toTimestamp(validity.from);
      if (validity.until) uar.expire_time = toTimestamp(validity.until);
      try {
        await this.call(this.users, 'CreateUserAccessRight', { parent: userName, user_access_right: uar });
        return;
      } catch (e) {
        if (!(e instanceof LockstepError && e.code === 'conflict')) throw e;
        held = (await this.userAccessRights(userName)).filter((r) => r.access_right === ar);
        if (held.length === 0) throw e;
      }
    }
    const [keep, ...extra] = held;
    // exactly one membership per group: duplicates (made elsewhere) go
    for (const x of extra) await ignoreNotFound(this.call(this.users, 'DeleteUserAccessRight', { name: x.name }));
    const uar: Record<string, unknown> = { name: keep.name };
    const paths: string[] = [];
    if (!sameInstant(fromTimestamp(keep.activate_time), validity.from)) {
      if (validity.from) uar.activate_time = toTimestamp(validity.from);
      paths.push('activate_time');
    }
    if (!sameInstant(fromTimestamp(keep.expire_time), validity.until)) {
      if (validity.until) uar.expire_time = toTimestamp(validity.until);
      paths.push('expire_time');
    }
    if (paths.length > 0) await this.call(this.users, 'UpdateUserAccessRight', { user_access_right: uar, update_mask: { paths } });
  }

  async revoke(accountId: string, group: string): Promise<void> {
    const userName = this.userName(accountId);
    if (!userName) return;
    const ar = this.accessRightName(group);
    let rights: PbUserAccessRight[];
    try {
      rights = await this.userAccessRights(userName);
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return; // no user, no membership
      throw e;
    }
    for (const r of rights.filter((x) => x.access_right === ar)) await ignoreNotFound(this.call(this.users, 'DeleteUserAccessRight', { name: r.name }));
  }

  // ---------------------------------------------------------------- credentials

  /**
   * Nebula keys are assigned or not: `revoked` and `lost` cancel the key (idempotently),
   * `active` holds for a key that is assigned; `suspended` has no Nebula equivalent.
   */
  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    const kind = keyKindOf(accountId, credentialId);
    const u = await this.readUser(accountId);
    const key = u?.[kind];
    const assigned = !!key && isAssigned(key.state);
    if (state === 'revoked' || state === 'lost') {
      if (!u || !assigned) return;
      try {
        await this.call(this.users, CANCEL[kind], { name: key.name });
      } catch (e) {
        // cancelled in between: what was asked for holds
        if (e instanceof LockstepError && (e.code === 'precondition' || e.code === 'not_found')) {
          const again = await this.readUser(accountId);
          if (!again || !isAssigned(again[kind]?.state)) return;
        }
        throw e;
      }
      return;
    }
    if (state === 'active' && assigned) return;
    throw new LockstepError(
      'precondition',
      state === 'active'
        ? `Nebula user ${accountId} has no ${kind} to keep active (keys are assigned in Nebula, not by lockstep)`
        : `Salto Nebula keys cannot be suspended, only cancelled; block the user or revoke the key`,
      { retryable: false, field: 'state' },
    );
  }

  /**
   * Re-encodes the user's card key at an encoder (EncodeCardKey, a long-running operation the
   * driver waits for): the key then carries what Nebula holds now, and offline locks learn the
   * changes it was `outdated` for. Returns until when the key is valid. Not part of LockDriver.
   */
  async encodeCardKey(accountId: string, opts: { encoder?: string } = {}): Promise<{ keyExpiresAt: string | null }> {
    const encoder = opts.encoder ?? this.opts.encoder;
    if (!encoder) throw new LockstepError('config', 'name an encoder (options.encoder) to encode card keys at', { field: 'encoder', retryable: false });
    const u = await this.mustUser(accountId);
    if (!u.card_key || !isAssigned(u.card_key.state)) throw new LockstepError('precondition', `Nebula user ${accountId} has no card key`, { retryable: false });
    let op = await this.call<PbOperation>(this.users, 'EncodeCardKey', { name: u.card_key.name, encoder });
    for (let i = 0; !op.done; i++) {
      if (i >= 60) throw new LockstepError('timeout', `EncodeCardKey ${op.name} did not finish`, { details: { operation: op.name } });
      await sleep(Math.min(2000, 100 * 2 ** Math.min(i, 5)));
      op = await this.call<PbOperation>(this.operations, 'GetOperation', { name: op.name });
    }
    if (op.error && op.error.code !== 0) {
      throw new LockstepError(codeFor(op.error.code), `EncodeCardKey failed: ${op.error.message}`, {
        details: { operation: op.name, grpcCode: op.error.code },
      });
    }
    const after = await this.mustUser(accountId);
    return { keyExpiresAt: fromTimestamp(after.card_key?.expire_time) };
  }

  // ---------------------------------------------------------------- events

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    // "From now on", by Nebula's clock: a few seconds back, so an event recorded just after this
    // read by a server whose clock runs behind ours is not missed (a few before it may come too)
    if (cursor === null) return { events: [], cursor: eventCursor.encode({ v: 1, t: new Date(Date.now() - FIRST_READ_SKEW_MS).toISOString(), seen: [] }) };
    let st = eventCursor.decode(cursor);
    const list = (c: EventCursor) =>
      this.call<{ events: PbEvent[]; next_page_token: string }>(this.eventsClient, 'ListEvents', {
        parent: this.installation,
        page_size: this.opts.eventsPageSize,
        page_token: c.p ?? '',
        filter: `create_time >= "${c.t}"`,
        order_by: 'create_time',
      });
    let r: { events: PbEvent[]; next_page_token: string };
    try {
      r = await list(st);
    } catch (e) {
      // A page token the server no longer takes: start a query after what was returned already.
      if (!(st.p && e instanceof LockstepError && e.code === 'validation')) throw e;
      st = { v: 1, t: st.hi ?? st.t, seen: st.hi ? (st.hiSeen ?? []) : st.seen };
      r = await list(st);
    }
    // events at exactly t that an earlier query returned may come on any page of this one
    const seen = new Set(st.seen);
    let hi = st.hi ?? st.t;
    let hiSeen = new Set(st.hi ? (st.hiSeen ?? []) : st.seen);
    const events: AccessEvent[] = [];
    for (const e of r.events) {
      const at = fromTimestamp(e.create_time) ?? st.t;
      if (seen.has(e.name)) continue;
      if (Date.parse(at) > Date.parse(hi)) {
        hi = at;
        hiSeen = new Set();
      }
      if (Date.parse(at) === Date.parse(hi)) hiSeen.add(e.name);
      const a = this.toAccessEvent(e);
      if (a) events.push(a);
    }
    const next: EventCursor = r.next_page_token
      ? { v: 1, t: st.t, seen: st.seen, p: r.next_page_token, hi, hiSeen: [...hiSeen] }
      : { v: 1, t: hi, seen: [...hiSeen] };
    return { events, cursor: eventCursor.encode(next) };
  }

  private toAccessEvent(e: PbEvent): AccessEvent | null {
    const type = e.type.toLowerCase();
    const granted = type.endsWith('.accesspointunlocked');
    if (!granted && !type.endsWith('.accessdenied')) return null;
    const data = structToJson(e.data);
    const user = pick(data, 'user');
    const userName = typeof user?.name === 'string' ? user.name : null;
    const accountId = userName ? this.userIdOrNull(userName) : null;
    const ap = pick(data, 'access_point');
    let credentialId: string | null = null;
    if (accountId) for (const kind of KEY_KINDS) if (pick(data, kind)) credentialId = `${accountId}/${kind}`;
    const door =
      typeof ap?.display_name === 'string' && ap.display_name
        ? ap.display_name
        : typeof ap?.displayName === 'string'
          ? ap.displayName
          : typeof ap?.name === 'string'
            ? ap.name
            : null;
    return { id: e.name, at: fromTimestamp(e.occur_time) ?? fromTimestamp(e.create_time) ?? new Date().toISOString(), accountId, credentialId, door, granted };
  }

  // ---------------------------------------------------------------- mapping

  private toAccount(u: PbUser, rights: PbUserAccessRight[]): Account {
    const id = this.userId(u.name);
    const memberships: Membership[] = rights.map((r) => ({
      group: this.accessRightRef(r.access_right),
      from: fromTimestamp(r.activate_time),
      until: fromTimestamp(r.expire_time),
    }));
    const credentials: Credential[] = [];
    for (const kind of KEY_KINDS) {
      const k = u[kind];
      if (!k || !isAssigned(k.state)) continue;
      const number = 'uid' in k && k.uid ? k.uid : 'device_id' in k && k.device_id ? k.device_id : undefined;
      const expires = 'expire_time' in k ? fromTimestamp(k.expire_time) : null;
      credentials.push({
        id: `${id}/${kind}`,
        type: KEY_TYPE[kind],
        ...(number !== undefined ? { number } : {}),
        // PENDING: assigned, activated the first time it is presented at an online lock
        status: 'active',
        lastUsedAt: null,
        ...(kind === 'passcode' ? {} : { keyExpiresAt: expires }),
      });
    }
    return {
      id,
      externalId: decodeUserId(id),
      displayName: [u.given_name, u.family_name].filter((x) => x).join(' ') || u.display_name,
      state: u.blocked ? 'suspended' : 'active',
      memberships,
      credentials,
      validity: { from: fromTimestamp(u.activate_time), until: fromTimestamp(u.expire_time) },
    };
  }

  private userName(accountId: string): string | null {
    return /^[^/\s]{1,128}$/.test(accountId) ? `${this.installation}/users/${accountId}` : null;
  }

  private userId(name: string): string {
    const id = this.userIdOrNull(name);
    if (id === null) throw new LockstepError('internal', `Nebula answered with a user outside ${this.installation}: ${name}`, { retryable: false });
    return id;
  }

  private userIdOrNull(name: string): string | null {
    const prefix = `${this.installation}/users/`;
    return name.startsWith(prefix) && !name.slice(prefix.length).includes('/') ? name.slice(prefix.length) : null;
  }

  /** An access right is referenced by its id (`office`); its full name is accepted too. */
  private accessRightName(group: string): string {
    const id = group.startsWith(`${this.installation}/access-rights/`) ? group.slice(`${this.installation}/access-rights/`.length) : group;
    if (!/^[^/\s]+$/.test(id)) throw new LockstepError('config', `${group} is not a Nebula access right id`, { field: 'group', retryable: false });
    return `${this.installation}/access-rights/${id}`;
  }

  private accessRightRef(name: string): string {
    const prefix = `${this.installation}/access-rights/`;
    return name.startsWith(prefix) ? name.slice(prefix.length) : name;
  }

  // ---------------------------------------------------------------- plumbing

  private async readUser(accountId: string): Promise<PbUser | null> {
    const name = this.userName(accountId);
    if (!name) return null;
    return ignoreNotFound(this.call<PbUser>(this.users, 'GetUser', { name }));
  }

  private async mustUser(accountId: string): Promise<PbUser> {
    const u = await this.readUser(accountId);
    if (!u) throw new LockstepError('not_found', `Nebula has no user ${accountId}`, { retryable: false });
    return u;
  }

  private async mustAccount(accountId: string): Promise<Account> {
    const a = await this.getAccount(accountId);
    if (!a) throw new LockstepError('internal', `Nebula user ${accountId} vanished right after it was written`);
    return a;
  }

  private async userAccessRights(userName: string): Promise<PbUserAccessRight[]> {
    const out: PbUserAccessRight[] = [];
    let token = '';
    do {
      const r = await this.call<{ user_access_rights: PbUserAccessRight[]; next_page_token: string }>(this.users, 'ListUserAccessRights', {
        parent: userName,
        page_size: 1000,
        page_token: token,
      });
      out.push(...r.user_access_rights);
      token = r.next_page_token;
    } while (token);
    return out;
  }

  /**
   * One unary call with the bearer token, a deadline and the retry policy of the HTTP drivers:
   * RESOURCE_EXHAUSTED and UNAVAILABLE (the server refused) are retried for every method,
   * honouring a retry-after trailer; DEADLINE_EXCEEDED only for methods safe to repeat. A
   * refused token is renewed once.
   */
  private async call<T>(client: Client, method: string, request: unknown): Promise<T> {
    const idempotent = IDEMPOTENT.test(method);
    let renewed = false;
    for (let attempt = 1; ;) {
      const token = await this.tokens.get();
      try {
        return await unary<T>(client, method, request, token, this.opts.timeoutMs);
      } catch (e) {
        const se = e as grpc.ServiceError;
        if (se.code === grpc.status.UNAUTHENTICATED && !renewed) {
          renewed = true;
          this.tokens.invalidate(token);
          continue;
        }
        const err = toError(se, method);
        const delay = this.retryDelay(err, attempt, idempotent);
        if (delay === undefined) throw err;
        this.onRetry?.({ method, attempt, delayMs: delay, code: err.code });
        await sleep(delay);
        attempt++;
      }
    }
  }

  private retryDelay(err: LockstepError, attempt: number, idempotent: boolean): number | undefined {
    if (attempt >= this.opts.maxAttempts) return undefined;
    const refused = err.code === 'rate_limited' || err.code === 'unavailable';
    if (!(refused || (idempotent && err.code === 'timeout'))) return undefined;
    if (err.retryAfterMs !== undefined) return err.retryAfterMs > this.opts.maxRetryAfterMs ? undefined : err.retryAfterMs + Math.floor(Math.random() * 200);
    const backoff = Math.min(5000, 200 * 2 ** (attempt - 1));
    return Math.floor(backoff / 2 + (Math.random() * backoff) / 2);
  }
}

// ---------------------------------------------------------------- helpers

function unary<T>(client: Client, method: string, request: unknown, token: string, timeoutMs: number): Promise<T> {
  const fn = client[method] as ((req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: T) => void) => void) | undefined;
  if (typeof fn !== 'function') return Promise.reject(new LockstepError('internal', `no gRPC method ${method}`, { retryable: false }));
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return new Promise<T>((resolve, reject) => {
    fn.call(client, request, md, { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

/** gRPC status → LockstepError code (retryable follows the code, as for HTTP). */
export function codeFor(status: number): ErrorCode {
  switch (status) {
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return 'auth';
    case grpc.status.NOT_FOUND:
      return 'not_found';
    case grpc.status.ALREADY_EXISTS:
    case grpc.status.ABORTED:
      return 'conflict';
    case grpc.status.RESOURCE_EXHAUSTED:
      return 'rate_limited';
    case grpc.status.UNAVAILABLE:
    case grpc.status.INTERNAL:
    case grpc.status.UNKNOWN:
    case grpc.status.CANCELLED:
      return 'unavailable';
    case grpc.status.DEADLINE_EXCEEDED:
      return 'timeout';
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
      return 'validation';
    case grpc.status.FAILED_PRECONDITION:
      return 'precondition';
    default:
      return 'internal';
  }
}

function toError(e: grpc.ServiceError, method: string): LockstepError {
  if (typeof e?.code !== 'number') return new LockstepError('internal', `Salto Nebula ${method}: ${String(e)}`, { cause: e, retryable: false });
  const code = codeFor(e.code);
  const name = grpc.status[e.code] ?? String(e.code);
  let retryAfterMs: number | undefined;
  if (code === 'rate_limited' || code === 'unavailable') {
    // google.rpc.RetryInfo in the status details, as Google-style APIs send it; else a retry-after trailer
    const bin = e.metadata?.get('grpc-status-details-bin')[0];
    retryAfterMs = retryDelayFromDetails(Buffer.isBuffer(bin) ? bin : undefined);
    const ra = e.metadata?.get('retry-after')[0];
    const secs = typeof ra === 'string' && /^\d+(\.\d+)?$/.test(ra.trim()) ? Number(ra) : undefined;
    if (retryAfterMs === undefined && secs !== undefined) retryAfterMs = Math.round(secs * 1000);
  }
  const details = (e.details ?? '').replace(/\s+/g, ' ').slice(0, 200);
  return new LockstepError(code, `Salto Nebula ${method}: ${name}${details ? ` (${details})` : ''}`, {
    cause: e,
    retryAfterMs,
    details: { method, grpcCode: e.code, ...(details ? { response: details } : {}) },
  });
}

async function ignoreNotFound<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof LockstepError && e.code === 'not_found') return null;
    throw e;
  }
}

function isAssigned(state: KeyState | undefined): boolean {
  return state === 'ACTIVE' || state === 'PENDING';
}

function keyKindOf(accountId: string, credentialId: string): KeyKind {
  const i = credentialId.lastIndexOf('/');
  const kind = credentialId.slice(i + 1) as KeyKind;
  if (i < 0 || credentialId.slice(0, i) !== accountId || !KEY_KINDS.includes(kind)) {
    throw new LockstepError('not_found', `${credentialId} is not a key of Nebula user ${accountId}`, { retryable: false });
  }
  return kind;
}

/** Given and family name for Nebula (given_name is required): the parts when they spell displayName, else all of it as the given name. */
export function namesFor(input: Pick<AccountInput, 'displayName' | 'firstName' | 'lastName'>): { given: string; family: string | null } {
  const first = input.firstName?.trim() || '';
  const last = input.lastName?.trim() || '';
  if (first && [first, last].filter(Boolean).join(' ') === input.displayName) return { given: first, family: last || null };
  return { given: input.displayName, family: null };
}

/** The Nebula user id for an externalId (null: too long to write as one). */
export function encodeUserId(externalId: string): string | null {
  if (PLAIN_ID.test(externalId) && !externalId.toLowerCase().startsWith(ENCODED_PREFIX)) return externalId;
  const id = ENCODED_PREFIX + base32(Buffer.from(externalId, 'utf8'));
  return id.length <= MAX_USER_ID ? id : null;
}

/** The externalId a Nebula user id carries (ids lockstep did not write read as themselves). */
export function decodeUserId(id: string): string {
  if (!id.toLowerCase().startsWith(ENCODED_PREFIX)) return id;
  const decoded = unbase32(id.slice(ENCODED_PREFIX.length));
  return decoded !== null && encodeUserId(decoded) === id ? decoded : id;
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(buf: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(s: string): string | null {
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const ch of s) {
    const v = B32.indexOf(ch);
    if (v < 0) return null;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function pick(o: Record<string, unknown>, snake: string): Record<string, unknown> | undefined {
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const v = o[snake] ?? o[camel];
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function sameInstant(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return Date.parse(a) === Date.parse(b);
}

const eventCursor = cursorCodec(eventCursorSchema, 'Salto Nebula');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Validates options, reads the secret (and CA) files, and builds the driver; asks the installation for its key renewal duration unless revalidationDays is set. */
export async function createSaltoDriver(ctx: DriverContext, env: NodeJS.ProcessEnv = process.env): Promise<SaltoDriver> {
  const opts = parseDriverOptions(saltoOptionsSchema, ctx);
  const read = (file: string, field: string): Promise<string> => readOptionFile(ctx, file, field);
  const secret =
    opts.clientSecret ?? (opts.clientSecretFile ? (await read(opts.clientSecretFile, 'clientSecretFile')).trim() : env.SALTO_CLIENT_SECRET?.trim());
  if (!secret) {
    throw new LockstepError('config', `systems.${ctx.system}.options: give clientSecret or clientSecretFile, or set SALTO_CLIENT_SECRET`, {
      field: `systems.${ctx.system}.options.clientSecret`,
      retryable: false,
    });
  }
  const creds = opts.plaintext
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(opts.caFile ? Buffer.from(await read(opts.caFile, 'caFile')) : undefined);
  const tokens = new TokenSource({ tokenUrl: opts.tokenUrl, clientId: opts.clientId, clientSecret: secret, scopes: opts.scopes, timeoutMs: opts.timeoutMs });
  const logger = ctx.logger;
  const onRetry = (info: { method: string; attempt: number; delayMs: number; code: ErrorCode }) =>
    logger?.warn({ system: ctx.system, ...info }, 'Salto Nebula call retried');
  const driver = new SaltoDriver(opts, tokens, opts.revalidationDays ?? DEFAULT_REVALIDATION_DAYS, ctx.system, creds, onRetry);
  if (opts.revalidationDays === undefined) {
    try {
      await driver.discoverKeyRenewal();
    } catch (e) {
      logger?.warn(
        { system: ctx.system, code: e instanceof LockstepError ? e.code : 'internal' },
        `could not read the installation's key renewal duration; assuming ${DEFAULT_REVALIDATION_DAYS} days (set options.revalidationDays)`,
      );
    }
  }
  return driver;
}

export const factory: DriverFactory = {
  type: 'salto',
  create: (ctx) => createSaltoDriver(ctx),
};

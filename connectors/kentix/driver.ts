import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, Credential, CredentialStatus, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, type HttpMethod, type RequestOptions, type RetryInfo } from '../../src/drivers/http.js';
import { caFileOption, httpUrlOption, maxAttemptsOption, pageSizeOption, rejectUnauthorizedOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import { cursorCodec, normaliseValidity, parseDriverOptions, readOptionFile, responseParser, sameValidity, validityEnvelope } from '../../src/drivers/util.js';
import {
  ACCOUNT_TYPES,
  KENTIX_PATHS as P,
  KENTIX_USER_FIELDS as F,
  accessEventSchema,
  accessProfileSchema,
  accessSettingsSchema,
  credentialIds,
  doorlockNameSchema,
  oneOf,
  pageOf,
  userSchema,
  type KentixAccessEvent,
  type KentixUser,
} from './api.js';

/**
 * The LockDriver for KentixONE through the Kentix SmartAPI 8.x. What the API looks like, and
 * which of it lockstep had to assume, is in ./api.ts; this module only maps it onto the contract:
 *
 * - Accounts are KentixONE users; the link is the `username` (unique in the system), which
 *   lockstep sets to the identity's externalId. lockstep creates users as `accountType`
 *   (default `guest`: doors only, no web interface) in `userGroupId`, and never changes the
 *   type or group of a user afterwards.
 * - Access groups are access profiles (a time profile and a set of doorlocks), referenced by
 *   their numeric id; a user's profiles are the list `accessprofiles`, written whole (PUT), so
 *   writes to one user are serialised in this process.
 * - Validity lives on the user (`active_from` / `deactivate_from`): `validity: 'account'`. The
 *   engine grants a profile once its window has begun, revokes it when it ends, and sets the
 *   user's end to the latest end of its profiles; grant() writes a profile's window to the user
 *   when it is the user's only profile and otherwise only widens the dates, so one profile's
 *   window never cuts another's short.
 * - Suspension is the user's `is_active` ("inactive users cannot open DoorLocks").
 * - Credentials are the user's RFID token and PIN. They have no state in the API: lost and
 *   revoked clear the field (the token or PIN stops opening doors at once); suspended cannot be
 *   expressed, so credentialStates is ['lost', 'revoked'].
 * - Access events come from the access-event list (newest first); the cursor is the highest
 *   event id returned.
 * - Auth is the API user's bearer `api_token`. It cannot be renewed from the API: a refused token
 *   fails with `auth` and says what to do. `apiUser` (that user's username) is never listed,
 *   changed or deleted, so lockstep cannot lock itself out.
 */

export const kentixOptionsSchema = z
  .strictObject({
    /** The KentixONE device's address (e.g. https://kentix.example.com); `/api/` is appended. */
    url: httpUrlOption(),
    /** The API user's api_token; prefer tokenFile, ${ENV} in lockstep.yaml, or KENTIX_API_TOKEN. */
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** The username of the user the token belongs to: lockstep never lists, changes or deletes it. */
    apiUser: z.string().min(1),
    /** The user group new users are put in (KentixONE requires one). */
    userGroupId: z.number().int().positive(),
    /** Account type of the users lockstep creates; guest opens doors and has no web interface. */
    accountType: z.enum(ACCOUNT_TYPES).default('guest'),
    /** PEM CA bundle to trust for the device's certificate (devices often have their own CA). */
    caFile: caFileOption(),
    /** Defaults to true; turning it off is for lab systems only. */
    rejectUnauthorized: rejectUnauthorizedOption(),
    timeoutMs: timeoutMsOption(15_000),
    maxAttempts: maxAttemptsOption(),
    /** Longest Retry-After waited out in-process; longer ones go back to the queue. */
    maxRetryAfterMs: z.number().int().min(0).default(30_000),
    /** `per_page` for user lists (the API's default page is 25). */
    pageSize: pageSizeOption(1000, 100),
    /** `per_page` for the access-event list. */
    eventsPageSize: z.number().int().min(1).max(1000).default(100),
    /** Pages of new events read in one poll at most; older ones beyond it are skipped, with a warning. */
    eventsMaxPages: z.number().int().min(1).max(10_000).default(200),
  })
  .refine((o) => !(o.token && o.tokenFile), { message: 'give at most one of token and tokenFile', path: ['token'] });

export type KentixOptions = z.input<typeof kentixOptionsSchema>;
type Options = z.output<typeof kentixOptionsSchema>;

const eventCursorSchema = z.strictObject({ v: z.literal(1), after: z.number().int().min(0) });
const eventCursor = cursorCodec(eventCursorSchema, 'Kentix');
const parse = responseParser('Kentix SmartAPI');

type Logger = NonNullable<DriverContext['logger']>;

export class KentixDriver implements LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities = {
    validity: 'account',
    suspendAccount: true,
    // a token or PIN is cleared (lost, revoked); there is no suspended state for it in the API
    credentialStates: ['lost', 'revoked'],
    accessEvents: 'cursor',
    deleteAccount: true,
    // no `limits`: the reference documents no maximum length for username, name or email
  };

  private readonly http: HttpClient;
  /** username → user id, from earlier reads; always checked against the user before use. */
  private readonly ids = new Map<string, number>();
  private readonly locks = new Map<string, Promise<void>>();
  private settingsChecked = false;

  constructor(
    private readonly opts: Options,
    token: string,
    private readonly ca?: string,
    name = 'kentix',
    private readonly logger?: Logger,
    onRetry?: (info: RetryInfo) => void,
  ) {
    this.name = name;
    const base = new URL(opts.url);
    // `url` is the device; tolerate it given with the /api suffix as well
    base.pathname = `${base.pathname.replace(/\/+$/, '').replace(/\/api$/, '')}/api/`;
    this.http = new HttpClient({
      baseUrl: base.toString(),
      // without Accept: application/json the SmartAPI redirects to its login page
      headers: { accept: 'application/json', authorization: `Bearer ${token}` },
      timeoutMs: opts.timeoutMs,
      maxAttempts: opts.maxAttempts,
      maxRetryAfterMs: opts.maxRetryAfterMs,
      tls: { ...(ca ? { ca } : {}), rejectUnauthorized: opts.rejectUnauthorized },
      onRetry,
    });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---------------------------------------------------------------- groups

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    await this.checkSettings();
    const out: AccessGroupRef[] = [];
    for (let page = 1; ; page++) {
      const res = parse(
        pageOf(accessProfileSchema),
        await this.call('GET', P.accessProfiles, { query: { page, per_page: this.opts.pageSize } }),
        'access profile list',
      );
      for (const p of res.data) out.push({ ref: String(p.id), name: p.name });
      if (!hasNext(res, page)) return out;
    }
  }

  /**
   * With external evaluation on, the AccessManager ignores access profiles (a webhook decides
   * instead): lockstep's grants would open nothing. Said once, loudly; never a reason to stop,
   * since revocations must still land.
   */
  private async checkSettings(): Promise<void> {
    if (this.settingsChecked) return;
    this.settingsChecked = true;
    try {
      const s = parse(accessSettingsSchema, await this.call('GET', P.accessSettings), 'access settings');
      if (s.external_evaluation === true) {
        this.logger?.warn(
          { system: this.name },
          'KentixONE evaluates access externally (access settings: external_evaluation): access profiles lockstep grants do not open doors there',
        );
      }
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'auth' && e.status === 401) throw e;
      // the API user may lack the right to read access settings: nothing lockstep needs
    }
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const page = cursor === null ? 1 : Number(cursor);
    if (!Number.isInteger(page) || page < 1) throw new LockstepError('validation', `not a Kentix listAccounts cursor: ${cursor}`, { retryable: false });
    const res = await this.userPage(page);
    const items = res.data.filter((u) => u.username !== this.opts.apiUser).map((u) => this.toAccount(u));
    return { items, next: hasNext(res, page) ? String(page + 1) : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const u = await this.findUser(externalId);
    return u ? this.toAccount(u) : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const u = await this.readUser(accountId);
    return u && u.username !== this.opts.apiUser ? this.toAccount(u) : null;
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    if (input.externalId === this.opts.apiUser) {
      throw new LockstepError('conflict', `Kentix user ${input.externalId} is the SmartAPI user lockstep signs in as (apiUser); lockstep never manages it`, {
        retryable: false,
        field: 'externalId',
      });
    }
    const existing = await this.findUser(input.externalId);
    if (existing) {
      return this.exclusive(String(existing.id), async () => {
        const u = (await this.readUser(String(existing.id))) ?? existing;
        const body: Record<string, unknown> = {};
        if ((u.name ?? '') !== input.displayName) body[F.name] = input.displayName;
        if (input.email && u.email !== input.email) body[F.email] = input.email;
        if (input.validity && !sameValidity(userWindow(u), input.validity)) Object.assign(body, datesBody(input.validity));
        return this.toAccount(Object.keys(body).length > 0 ? await this.putUser(u.id, body) : u);
      });
    }
    const body: Record<string, unknown> = {
      [F.username]: input.externalId,
      [F.name]: input.displayName,
      ...(input.email ? { [F.email]: input.email } : {}),
      [F.isActive]: true,
      [F.accountType]: this.opts.accountType,
      [F.userGroup]: this.opts.userGroupId,
      [F.accessProfiles]: [],
      ...(input.validity && (input.validity.from || input.validity.until) ? datesBody(input.validity) : {}),
    };
    let created: KentixUser;
    try {
      created = parse(oneOf(userSchema), await this.call('POST', P.users, { body }), 'created user');
    } catch (e) {
      // another worker may have created it first: the username is taken, and it is ours
      if (e instanceof LockstepError && e.code === 'validation') {
        const again = await this.findUser(input.externalId);
        if (again) return this.toAccount(again);
      }
      throw e;
    }
    this.ids.set(created.username, created.id);
    return this.toAccount(created);
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    await this.exclusive(accountId, async () => {
      const u = await this.mustUser(accountId);
      this.refuseSelf(u, state === 'suspended' ? 'suspend' : 'activate');
      const want = state === 'active';
      if (u.is_active !== want) await this.putUser(u.id, { [F.isActive]: want });
    });
  }

  async deleteAccount(accountId: string): Promise<void> {
    const u = await this.readUser(accountId);
    if (!u) return;
    this.refuseSelf(u, 'delete');
    try {
      await this.call('DELETE', P.user(u.id));
    } catch (e) {
      if (!(e instanceof LockstepError && e.code === 'not_found')) throw e;
    }
    this.ids.delete(u.username);
  }

  // ---------------------------------------------------------------- memberships

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const pid = profileId(group);
    await this.exclusive(accountId, async () => {
      const u = await this.mustUser(accountId);
      this.refuseSelf(u, 'grant to');
      const held = new Set(u.accessprofiles);
      const body: Record<string, unknown> = {};
      if (!held.has(pid)) body[F.accessProfiles] = [...u.accessprofiles, pid];
      held.delete(pid);
      const current = userWindow(u);
      // Sole profile: the user's dates are its window. Otherwise never narrow them: the other
      // profiles' windows are kept nowhere in KentixONE, and the engine ends each on time.
      const want = held.size === 0 ? normaliseValidity(validity) : validityEnvelope(current, validity);
      if (!sameValidity(current, want)) Object.assign(body, datesBody(want));
      if (Object.keys(body).length > 0) await this.putUser(u.id, body);
    });
  }

  async revoke(accountId: string, group: string): Promise<void> {
    const pid = profileId(group);
    await this.exclusive(accountId, async () => {
      const u = await this.readUser(accountId);
      if (!u || !u.accessprofiles.includes(pid)) return;
      this.refuseSelf(u, 'revoke from');
      await this.putUser(u.id, { [F.accessProfiles]: u.accessprofiles.filter((p) => p !== pid) });
    });
  }

  // ---------------------------------------------------------------- credentials

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    const which = credentialIds.parse(credentialId);
    if (!which) throw new LockstepError('not_found', `${credentialId} is not a Kentix credential id (rfid-<UID> or pin-<user id>)`, { retryable: false });
    if (state === 'suspended') {
      throw new LockstepError(
        'precondition',
        `Kentix cannot suspend ${credentialId}: an RFID token or PIN has no state in the SmartAPI, it can only be cleared (lost, revoked)`,
        {
          retryable: false,
        },
      );
    }
    await this.exclusive(accountId, async () => {
      const u = await this.mustUser(accountId);
      const holds = which.kind === 'rfid' ? (u.rfid ?? '').toUpperCase() === which.uid : which.userId === u.id && !!u.pin;
      if (state === 'active') {
        if (holds) return;
        throw new LockstepError(
          'precondition',
          `Kentix user ${u.id} no longer holds ${credentialId}: a cleared token or PIN is enrolled again in KentixONE, not restored by lockstep`,
          {
            retryable: false,
          },
        );
      }
      if (!holds) return; // lost or revoked already: cleared, or replaced by another token
      await this.putUser(u.id, which.kind === 'rfid' ? { [F.rfid]: null } : { [F.pin]: null });
    });
  }

  // ---------------------------------------------------------------- events

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    if (cursor === null) {
      // from now on: the newest event's id is where reading starts
      const first = await this.eventPage(1, 1);
      return { events: [], cursor: eventCursor.encode({ v: 1, after: first.data[0]?.id ?? 0 }) };
    }
    const { after } = eventCursor.decode(cursor);
    const fresh = new Map<number, KentixAccessEvent>();
    let reachedOld = false;
    let page = 1;
    for (; page <= this.opts.eventsMaxPages; page++) {
      const res = await this.eventPage(page, this.opts.eventsPageSize);
      // newest first: the list pages back in time; events arriving meanwhile push older ones to
      // later pages (read twice, kept once), never to earlier ones
      for (const e of res.data) {
        if (e.id > after) fresh.set(e.id, e);
        else reachedOld = true;
      }
      if (reachedOld || !hasNext(res, page)) break;
    }
    if (!reachedOld && page > this.opts.eventsMaxPages) {
      this.logger?.warn(
        { system: this.name, pages: this.opts.eventsMaxPages },
        'more new Kentix access events than eventsMaxPages pages: the oldest of them are skipped',
      );
    }
    const sorted = [...fresh.values()].sort((a, b) => a.id - b.id);
    const names = sorted.some((e) => !e.doorlock_name && e.doorlock_id != null) ? await this.doorlockNames() : new Map<number, string>();
    const events = sorted.map((e): AccessEvent => ({
      id: String(e.id),
      at: new Date(Date.parse(e.created_at)).toISOString(),
      accountId: e.user_id != null ? String(e.user_id) : null,
      credentialId: eventCredential(e),
      door: e.doorlock_name ?? (e.doorlock_id != null ? (names.get(e.doorlock_id) ?? String(e.doorlock_id)) : null),
      granted: e.granted,
    }));
    const last = sorted.at(-1)?.id ?? after;
    return { events, cursor: eventCursor.encode({ v: 1, after: Math.max(after, last) }) };
  }

  private async eventPage(page: number, perPage: number) {
    return parse(pageOf(accessEventSchema), await this.call('GET', P.accessEvents, { query: { page, per_page: perPage } }), 'access event list');
  }

  private async doorlockNames(): Promise<Map<number, string>> {
    try {
      const list = parse(z.array(doorlockNameSchema), await this.call('GET', P.doorlockNames), 'doorlock names');
      return new Map(list.map((d) => [d.id, d.name]));
    } catch {
      return new Map(); // names are for people reading events; ids will do
    }
  }

  // ---------------------------------------------------------------- mapping

  private toAccount(u: KentixUser): Account {
    const credentials: Credential[] = [];
    if (u.rfid)
      credentials.push({ id: credentialIds.rfid(u.rfid.toUpperCase()), type: 'card', number: u.rfid.toUpperCase(), status: 'active', lastUsedAt: null });
    // the PIN itself is never carried: its id names its holder
    if (u.pin) credentials.push({ id: credentialIds.pin(u.id), type: 'pin', status: 'active', lastUsedAt: null });
    return {
      id: String(u.id),
      externalId: u.username,
      displayName: u.name ?? u.username,
      state: u.is_active ? 'active' : 'suspended',
      memberships: u.accessprofiles.map((p) => ({ group: String(p), from: null, until: null })),
      credentials,
      validity: userWindow(u),
    };
  }

  // ---------------------------------------------------------------- plumbing

  private async userPage(page: number) {
    const res = parse(pageOf(userSchema), await this.call('GET', P.users, { query: { page, per_page: this.opts.pageSize } }), 'user list');
    for (const u of res.data) this.ids.set(u.username, u.id);
    return res;
  }

  /** The user whose username is the externalId: a remembered id checked against the user, else a scan compared exactly. */
  private async findUser(externalId: string): Promise<KentixUser | null> {
    if (externalId === this.opts.apiUser) return null;
    const known = this.ids.get(externalId);
    if (known !== undefined) {
      const u = await this.readUser(String(known));
      if (u && u.username === externalId) return u;
      this.ids.delete(externalId);
    }
    for (let page = 1; ; page++) {
      const res = await this.userPage(page);
      const hit = res.data.find((u) => u.username === externalId);
      if (hit) return hit;
      if (!hasNext(res, page)) return null;
    }
  }

  private async readUser(accountId: string): Promise<KentixUser | null> {
    if (!/^\d{1,15}$/.test(accountId)) return null;
    try {
      return parse(oneOf(userSchema), await this.call('GET', P.user(accountId)), 'user');
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return null;
      throw e;
    }
  }

  private async mustUser(accountId: string): Promise<KentixUser> {
    const u = await this.readUser(accountId);
    if (!u || u.username === this.opts.apiUser) throw new LockstepError('not_found', `Kentix has no user ${accountId}`, { retryable: false });
    return u;
  }

  private async putUser(id: number, body: Record<string, unknown>): Promise<KentixUser> {
    return parse(oneOf(userSchema), await this.call('PUT', P.user(id), { body }), 'updated user');
  }

  private refuseSelf(u: KentixUser, what: string): void {
    if (u.username !== this.opts.apiUser) return;
    throw new LockstepError('precondition', `refusing to ${what} Kentix user ${u.username}: it is the SmartAPI user lockstep signs in as`, {
      retryable: false,
    });
  }

  /** One read-modify-write of a user at a time in this process: profiles are written as a whole list. */
  private async exclusive<T>(accountId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(accountId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = prev.then(() => mine);
    this.locks.set(accountId, chain);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(accountId) === chain) this.locks.delete(accountId);
    }
  }

  /** One SmartAPI request; its failure as a LockstepError naming the system, the call and what Kentix said. */
  private async call(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<unknown> {
    try {
      return (await this.http.request<unknown>(method, path, opts)).body;
    } catch (e) {
      throw this.explain(e);
    }
  }

  private explain(e: unknown): unknown {
    if (!(e instanceof LockstepError)) return e;
    const said = `Kentix SmartAPI (${this.name}) ${e.message}`;
    const keep = { status: e.status, retryAfterMs: e.retryAfterMs, details: e.details, cause: e };
    if (e.status === 401) {
      return new LockstepError(
        'auth',
        `${said}: the api_token was refused. A SmartAPI bearer token cannot be renewed by lockstep: copy the current api_token from the profile of KentixONE user ${this.opts.apiUser} into tokenFile (or KENTIX_API_TOKEN), check that the user is active, and restart`,
        { ...keep, retryable: false },
      );
    }
    if (e.status === 403) {
      return new LockstepError(
        'auth',
        `${said}: KentixONE user ${this.opts.apiUser} lacks the permission for this call; grant its user group user management and access rights (see the Kentix driver README)`,
        {
          ...keep,
          retryable: false,
        },
      );
    }
    if (e.status !== undefined && e.status >= 300 && e.status < 400) {
      return new LockstepError(
        'config',
        `${said}: redirected, as KentixONE does to its login page when a request does not ask for JSON or does not reach the SmartAPI; check url (the device's address, without /api)`,
        {
          ...keep,
          retryable: false,
        },
      );
    }
    return new LockstepError(e.code, said, { ...keep, field: e.field, retryable: e.retryable });
  }
}

// ---------------------------------------------------------------- helpers

function hasNext(res: { links?: { next?: string | null }; meta?: { current_page: number; last_page?: number } }, page: number): boolean {
  if (res.meta?.last_page !== undefined) return page < res.meta.last_page;
  return typeof res.links?.next === 'string' && res.links.next !== '';
}

function profileId(group: string): number {
  if (!/^\d{1,15}$/.test(group)) {
    throw new LockstepError('config', `${group} is not a Kentix access profile id (a number)`, { retryable: false, field: 'group' });
  }
  return Number(group);
}

function eventCredential(e: KentixAccessEvent): string | null {
  if (e.medium === 'rfid' && e.rfid) return credentialIds.rfid(e.rfid.toUpperCase());
  if (e.medium === 'pin' && e.user_id != null) return credentialIds.pin(e.user_id);
  return null;
}

function instant(v: string | null | undefined): string | null {
  if (v == null || v === '') return null;
  const ms = Date.parse(v.includes('T') ? v : v.replace(' ', 'T'));
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function userWindow(u: KentixUser): Validity {
  return { from: instant(u.active_from), until: instant(u.deactivate_from) };
}

function datesBody(v: Validity): Record<string, unknown> {
  return {
    [F.activeFrom]: v.from === null ? null : new Date(v.from).toISOString(),
    [F.deactivateFrom]: v.until === null ? null : new Date(v.until).toISOString(),
  };
}

/** Validates options, reads the token (and CA) files, and builds the driver. */
export async function createKentixDriver(ctx: DriverContext, env: NodeJS.ProcessEnv = process.env): Promise<KentixDriver> {
  const opts = parseDriverOptions(kentixOptionsSchema, ctx);
  const token = opts.token ?? (opts.tokenFile ? (await readOptionFile(ctx, opts.tokenFile, 'tokenFile')).trim() : env.KENTIX_API_TOKEN?.trim());
  if (!token) {
    throw new LockstepError('config', `systems.${ctx.system}.options: give token or tokenFile, or set KENTIX_API_TOKEN (the API user's api_token)`, {
      field: `systems.${ctx.system}.options.token`,
      retryable: false,
    });
  }
  const ca = opts.caFile ? await readOptionFile(ctx, opts.caFile, 'caFile') : undefined;
  return new KentixDriver(opts, token, ca, ctx.system, ctx.logger, retryLog(ctx, 'Kentix SmartAPI request retried'));
}

export const factory: DriverFactory = {
  type: 'kentix',
  create: (ctx) => createKentixDriver(ctx),
};

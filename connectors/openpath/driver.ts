import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, Credential, CredentialStatus, CredentialType, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, type HttpMethod, type RequestOptions, type RetryInfo } from '../../src/drivers/http.js';
import { httpUrlOption, maxAttemptsOption, pageSizeOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import {
  cursorCodec,
  mapLimit,
  normaliseValidity,
  parseDriverOptions,
  readOptionFile,
  responseParser,
  sameValidity,
  validityEnvelope,
} from '../../src/drivers/util.js';

/**
 * The LockDriver for Avigilon Alta (Openpath), from the vendor's Swagger 2.0 document
 * ("Openpath API Documentation" 1.0.0). Everything is under `/orgs/{orgId}/`.
 *
 * - Accounts are Openpath users; the link is the user's own `externalId` field, searched with
 *   `filter=externalId:(value)` and compared exactly (the API's filter is not an exact match).
 * - Access groups are Openpath groups, referenced by their numeric id; memberships are added and
 *   removed with `PATCH users/{id}/groupIds` ({ add, remove }).
 * - Validity lives on the user (`startDate`/`endDate`), not on a membership: capabilities say
 *   `validity: 'account'`. The engine grants a group once its window has begun and revokes it
 *   when it ends; grant() sets the user's dates to the window when it is the user's only group,
 *   and otherwise only widens them to cover the new window, so one group's window never cuts
 *   another's short. The user's dates bound the whole account.
 * - Suspension is the user status (`PUT users/{id}/status`, A/S); `I` (inactive) reads as suspended.
 * - Credentials have no state field: suspended is an `endDate` in the past, lost is `isLost` on
 *   the card types that have it (Openpath DESFire, Allegion fobs); revoked, and lost on other
 *   types, delete the credential.
 * - Access events come from `GET reports/activity/events`, a time-window query
 *   (`uiData.time:(from-<to)`) paged by `cursors.nextCursor`; the driver's cursor carries the
 *   window, the API cursor and the ids seen in the last second (windows overlap by one second).
 * - Auth is the document's `jwt` scheme: the token itself in the Authorization header, from
 *   options, a file, OPENPATH_TOKEN, or `POST /auth/login` with an API user's email and password
 *   (then renewed once on a 401). The token is never logged.
 */

export const openpathOptionsSchema = z
  .strictObject({
    /** The API's address; the document's host is api.openpath.com. */
    url: httpUrlOption().default('https://api.openpath.com'),
    /** The org's numeric id (Alta Control Center: the org id in the address bar / org settings). */
    orgId: z.number().int().positive(),
    /** A JWT for the Authorization header; prefer tokenFile, ${ENV} in lockstep.yaml, or OPENPATH_TOKEN. */
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** An API user to log in as (POST /auth/login); the token it returns is renewed on a 401. */
    login: z
      .strictObject({
        email: z.string().min(1),
        password: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        namespaceId: z.number().int().optional(),
      })
      .refine((l) => !!l.password !== !!l.passwordFile, { message: 'give exactly one of password and passwordFile' })
      .optional(),
    /**
     * Openpath requires an email on every user. For identities without one, the driver writes
     * `lockstep-<externalId>-<hash>@<placeholderEmailDomain>`; without this option such a
     * create is refused.
     */
    placeholderEmailDomain: z
      .string()
      .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'a domain name such as badges.example.com')
      .optional(),
    /** Written as the user's startAndEndDateTimeZoneId with the dates (an IANA zone, e.g. UTC). */
    timeZone: z.string().min(1).optional(),
    timeoutMs: timeoutMsOption(15_000),
    maxAttempts: maxAttemptsOption(),
    /** Users per listAccounts page (the API allows 1..1000). */
    pageSize: pageSizeOption(1000, 500),
    /** The `limit` sent to the events report (a suggestion to the API; 1..30000). */
    eventsLimit: z.number().int().min(1).max(30_000).default(1000),
    /** Credential lists read in parallel while listing accounts. */
    concurrency: z.number().int().min(1).max(32).default(8),
  })
  .refine((o) => [o.token, o.tokenFile, o.login].filter((x) => x !== undefined).length <= 1, {
    message: 'give at most one of token, tokenFile and login',
    path: ['token'],
  });

export type OpenpathOptions = z.input<typeof openpathOptionsSchema>;
type Options = z.output<typeof openpathOptionsSchema>;

// ---------------------------------------------------------------- response shapes (what the driver reads)

const nullableString = z.string().nullable().optional();

const userSchema = z.looseObject({
  id: z.number(),
  status: z.enum(['I', 'A', 'S']).optional(),
  startDate: nullableString,
  endDate: nullableString,
  externalId: nullableString,
  identity: z
    .looseObject({
      email: z.string().optional(),
      firstName: nullableString,
      middleName: nullableString,
      lastName: nullableString,
      fullName: nullableString,
    })
    .optional(),
  groups: z.array(z.looseObject({ id: z.number(), name: z.string().optional() })).optional(),
});
type OpUser = z.infer<typeof userSchema>;

const lostCapable = ['cardOpenpathDesfireEv1', 'fobAllegion'] as const;
const numbered = z.looseObject({ id: z.number().optional(), number: z.string().optional(), isLost: z.boolean().optional() }).optional();
const credentialSchema = z.looseObject({
  id: z.number(),
  startDate: nullableString,
  endDate: nullableString,
  credentialType: z.looseObject({ id: z.number(), name: z.string().optional(), modelName: z.string().optional() }).optional(),
  card: numbered,
  cardMifareCsn: numbered,
  cardOpenpathDesfireEv1: numbered,
  pincode: numbered,
  fobAllegion: z.looseObject({ id: z.number().optional(), csn: z.string().optional(), isLost: z.boolean().optional() }).optional(),
  mobile: z.looseObject({ name: nullableString }).optional(),
  cloudKey: z.looseObject({}).optional(),
  wallet: z.looseObject({}).optional(),
  allegionMobile: z.looseObject({}).optional(),
  licensePlate: z.looseObject({ plate: z.string().optional() }).optional(),
});
type OpCredential = z.infer<typeof credentialSchema>;

const listOf = <T extends z.ZodType>(item: T) =>
  z.looseObject({
    totalCount: z.number().optional(),
    filteredCount: z.number().optional(),
    cursors: z.looseObject({ nextCursor: z.union([z.number(), z.string()]).nullable().optional(), hasNextPage: z.boolean().optional() }).optional(),
    data: z.array(item),
  });
const one = <T extends z.ZodType>(item: T) => z.looseObject({ data: item });

const groupSchema = z.looseObject({ id: z.number(), name: z.string().optional() });
const eventSchema = z.looseObject({
  uiData: z.looseObject({
    time: z.number(),
    timeIsoString: z.string().optional(),
    userId: z.number().nullable().optional(),
    credentialTypeModelName: nullableString,
    credentialDetail: nullableString,
    entryId: z.number().nullable().optional(),
    entryName: z.string().optional(),
    entries: z.array(z.looseObject({ id: z.number(), name: z.string().optional() })).optional(),
    requestId: z.string().optional(),
    result: z.string().optional(),
    resultDescription: z.string().optional(),
  }),
});
type OpEvent = z.infer<typeof eventSchema>;
const loginSchema = one(z.looseObject({ token: z.string().min(1) }));

/** What the driver's events cursor carries (base64url JSON). */
const eventCursorSchema = z.strictObject({
  v: z.literal(1),
  /** Window start, epoch seconds (inclusive). */
  from: z.number().int(),
  /** Window end while a query is being paged. */
  to: z.number().int().optional(),
  /** The API's nextCursor within that query. */
  c: z.string().optional(),
  /** Event ids already returned from [from, from + 1). */
  seen: z.array(z.string()),
  /** Ids returned so far from [to - 1, to) of the query being paged. */
  acc: z.array(z.string()).optional(),
});
type EventCursor = z.infer<typeof eventCursorSchema>;

/** Filter values the driver sends as they are; anything else could change the filter's syntax. */
const FILTER_SAFE = /^[A-Za-z0-9@._~+-]+$/;

export class OpenpathDriver implements LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities = {
    validity: 'account',
    suspendAccount: true,
    credentialStates: true,
    accessEvents: 'cursor',
    deleteAccount: true,
    // createUser/updateUser: identity.firstName and lastName maxLength 100, email maxLength 254. A
    // displayName that is not "first last" is written whole as the last name (namesFor), so 100.
    // externalId has no documented limit: not declared.
    limits: { displayName: 100, email: 254 },
  };

  private readonly http: HttpClient;
  private readonly org: string;
  private token?: string;
  private tokenLoading?: Promise<string>;

  constructor(
    private readonly opts: Options,
    private readonly auth: { token: string } | { login: { email: string; password: string; namespaceId?: number } },
    name = 'openpath',
    onRetry?: (info: RetryInfo) => void,
  ) {
    this.name = name;
    this.org = `orgs/${opts.orgId}`;
    if ('token' in auth) this.token = auth.token;
    this.http = new HttpClient({ baseUrl: opts.url, timeoutMs: opts.timeoutMs, maxAttempts: opts.maxAttempts, onRetry });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---------------------------------------------------------------- groups

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const out: AccessGroupRef[] = [];
    for (let offset = 0; ;) {
      const page = parse(
        listOf(groupSchema),
        await this.call('GET', `${this.org}/groups`, { query: { limit: 1000, offset, sort: 'id', order: 'asc' } }),
        'group list',
      );
      for (const g of page.data) out.push({ ref: String(g.id), name: g.name ?? String(g.id) });
      offset += page.data.length;
      if (page.data.length === 0 || offset >= (page.filteredCount ?? page.totalCount ?? 0)) return out;
    }
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const offset = cursor === null ? 0 : Number(cursor);
    if (!Number.isInteger(offset) || offset < 0) throw new LockstepError('validation', `not an Openpath listAccounts cursor: ${cursor}`, { retryable: false });
    const page = parse(
      listOf(userSchema),
      await this.call('GET', `${this.org}/users`, { query: { limit: this.opts.pageSize, offset, sort: 'id', order: 'asc' } }),
      'user list',
    );
    const items = await mapLimit(page.data, this.opts.concurrency, async (u) => this.toAccount(u, await this.credentialsOf(u.id)));
    const end = offset + page.data.length;
    const total = page.filteredCount ?? page.totalCount;
    const more = page.data.length > 0 && (total !== undefined ? end < total : page.cursors?.hasNextPage === true);
    return { items, next: more ? String(end) : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const u = await this.findUser(externalId);
    return u ? this.toAccount(u, await this.credentialsOf(u.id)) : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const u = await this.readUser(accountId);
    return u ? this.toAccount(u, await this.credentialsOf(u.id)) : null;
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const existing = await this.findUser(input.externalId);
    const names = namesFor(input);
    if (existing) {
      const id = existing.identity ?? {};
      const identity: Record<string, unknown> = {};
      if ((id.firstName ?? null) !== names.firstName) identity.firstName = names.firstName;
      if ((id.lastName ?? null) !== names.lastName) identity.lastName = names.lastName;
      // lockstep writes no middle name; one set in the portal would make the name differ from displayName on every run
      if ((id.middleName ?? null) !== null) identity.middleName = null;
      if (input.email !== undefined && input.email !== '' && id.email !== input.email) identity.email = input.email;
      const body: Record<string, unknown> = Object.keys(identity).length > 0 ? { identity } : {};
      if (input.validity && !sameValidity(userWindow(existing), input.validity)) Object.assign(body, this.datesBody(input.validity));
      if (Object.keys(body).length > 0) await this.call('PATCH', `${this.org}/users/${existing.id}`, { body });
      return this.mustAccount(existing.id);
    }
    const body: Record<string, unknown> = {
      identity: {
        email: input.email || this.placeholderEmail(input.externalId),
        ...(names.firstName ? { firstName: names.firstName } : {}),
        lastName: names.lastName,
      },
      externalId: input.externalId,
      ...(input.validity && (input.validity.from || input.validity.until) ? this.datesBody(input.validity) : {}),
    };
    let created: OpUser;
    try {
      created = parse(one(userSchema), await this.call('POST', `${this.org}/users`, { body }), 'created user').data;
    } catch (e) {
      // Another worker may have created it first: Openpath refuses the second user with that email.
      if (e instanceof LockstepError && (e.code === 'conflict' || e.code === 'validation')) {
        const again = await this.findUser(input.externalId);
        if (again) return this.mustAccount(again.id);
      }
      throw e;
    }
    return this.mustAccount(created.id);
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    await this.call('PUT', `${this.org}/users/${mustNumeric(accountId, 'user')}/status`, { body: { status: state === 'active' ? 'A' : 'S' } });
  }

  async deleteAccount(accountId: string): Promise<void> {
    if (!isNumeric(accountId)) return;
    try {
      await this.call('DELETE', `${this.org}/users/${accountId}`);
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return;
      throw e;
    }
  }

  // ---------------------------------------------------------------- memberships

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const gid = mustNumeric(group, 'group');
    const u = await this.mustUser(accountId);
    const held = new Set((u.groups ?? []).map((g) => g.id));
    if (!held.has(gid)) await this.call('PATCH', `${this.org}/users/${u.id}/groupIds`, { body: { add: [gid] } });
    held.delete(gid);
    const current = userWindow(u);
    // Sole group: the user's dates are this group's window. Otherwise never narrow them: the
    // other groups' windows are not stored anywhere in Openpath, and the engine ends each on time.
    const want = held.size === 0 ? normaliseValidity(validity) : validityEnvelope(current, validity);
    if (!sameValidity(current, want)) await this.call('PATCH', `${this.org}/users/${u.id}`, { body: this.datesBody(want) });
  }

  async revoke(accountId: string, group: string): Promise<void> {
    const gid = mustNumeric(group, 'group');
    const u = await this.readUser(accountId);
    if (!u) return;
    if (!(u.groups ?? []).some((g) => g.id === gid)) return;
    await this.call('PATCH', `${this.org}/users/${u.id}/groupIds`, { body: { remove: [gid] } });
  }

  // ---------------------------------------------------------------- credentials

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    const userId = mustNumeric(accountId, 'user');
    const cid = mustNumeric(credentialId, 'credential');
    const c = (await this.credentialsOf(userId)).find((x) => x.id === cid);
    const path = `${this.org}/users/${userId}/credentials/${cid}`;
    if (!c) {
      if (state === 'revoked') return;
      throw new LockstepError('not_found', `Openpath user ${userId} has no credential ${cid}`, { retryable: false });
    }
    const kind = lostCapable.find((k) => c[k] !== undefined);
    const lost = kind ? c[kind]?.isLost === true : false;
    const now = Date.now();
    const ended = c.endDate != null && Date.parse(c.endDate) <= now;
    const body: Record<string, unknown> = {};
    const setLost = (v: boolean): void => {
      if (kind === 'cardOpenpathDesfireEv1') body.cardOpenpathDesfireEv1 = { number: c.cardOpenpathDesfireEv1?.number, isLost: v };
      else if (kind === 'fobAllegion') body.fobAllegion = { id: c.fobAllegion?.id, isLost: v };
    };
    switch (state) {
      case 'revoked':
        return this.deleteCredential(path);
      case 'lost':
        if (!kind) return this.deleteCredential(path);
        if (!lost) setLost(true);
        break;
      case 'suspended':
        if (!ended) body.endDate = new Date(now).toISOString();
        if (lost) setLost(false);
        break;
      case 'active':
        if (ended) body.endDate = null;
        if (lost) setLost(false);
        break;
    }
    if (Object.keys(body).length > 0) await this.call('PATCH', path, { body });
  }

  private async deleteCredential(path: string): Promise<void> {
    try {
      await this.call('DELETE', path);
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return;
      throw e;
    }
  }

  // ---------------------------------------------------------------- events

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    const nowSec = Math.floor(Date.now() / 1000);
    if (cursor === null) return { events: [], cursor: eventCursor.encode({ v: 1, from: nowSec, seen: [] }) };
    const st = eventCursor.decode(cursor);
    const to = st.to ?? Math.max(nowSec + 1, st.from + 1);
    const query = (c: string | undefined) =>
      this.call('GET', `${this.org}/reports/activity/events`, {
        query: { limit: this.opts.eventsLimit, filter: `uiData.time:(${st.from}-<${to})`, cursor: c, options: 'uiDataOnly' },
      });
    let body: unknown;
    try {
      body = await query(st.c);
    } catch (e) {
      // An API cursor the server no longer knows (a query left half-read for long) is refused;
      // the window is read again from its start rather than leaving the poller stuck on it.
      // Events of that window's earlier pages may then come a second time.
      if (!(st.c && e instanceof LockstepError && e.code === 'validation')) throw e;
      body = await query(undefined);
    }
    const res = parse(listOf(eventSchema), body, 'activity events');
    const seen = new Set(st.seen);
    const acc = new Set(st.acc ?? []);
    const picked: Array<{ e: OpEvent; id: string }> = [];
    for (const e of res.data) {
      const id = eventId(e);
      if (e.uiData.time >= to - 1) acc.add(id);
      if (e.uiData.time < st.from + 1 && seen.has(id)) continue;
      if (e.uiData.entryId == null && !(e.uiData.entries?.length ?? 0)) continue; // not an entry request
      picked.push({ e, id });
    }
    picked.sort((a, b) => a.e.uiData.time - b.e.uiData.time);
    const creds = new Map<number, Promise<OpCredential[]>>();
    const events: AccessEvent[] = [];
    for (const { e, id } of picked) {
      const u = e.uiData;
      events.push({
        id,
        at: u.timeIsoString ?? new Date(u.time * 1000).toISOString(),
        accountId: u.userId != null ? String(u.userId) : null,
        credentialId: await this.credentialOfEvent(e, creds),
        door: u.entryName ?? u.entries?.[0]?.name ?? null,
        granted: granted(e),
      });
    }
    const next = res.cursors?.nextCursor;
    const more = res.cursors?.hasNextPage === true && next !== null && next !== undefined && String(next) !== '';
    const state: EventCursor = more ? { v: 1, from: st.from, to, c: String(next), seen: st.seen, acc: [...acc] } : { v: 1, from: to - 1, seen: [...acc] };
    return { events, cursor: eventCursor.encode(state) };
  }

  /** Events name a credential by its detail (card number); the id is looked up on the user. */
  private async credentialOfEvent(e: OpEvent, cache: Map<number, Promise<OpCredential[]>>): Promise<string | null> {
    const userId = e.uiData.userId;
    const detail = e.uiData.credentialDetail;
    if (userId == null || !detail) return null;
    let list = cache.get(userId);
    if (!list) {
      list = this.credentialsOf(userId).catch((err: unknown) => {
        if (err instanceof LockstepError && err.code === 'not_found') return [];
        throw err;
      });
      cache.set(userId, list);
    }
    const hit = (await list).find((c) => credentialNumber(c) === detail);
    return hit ? String(hit.id) : null;
  }

  // ---------------------------------------------------------------- mapping

  private toAccount(u: OpUser, creds: OpCredential[]): Account {
    const id = u.identity ?? {};
    const now = Date.now();
    return {
      id: String(u.id),
      externalId: u.externalId ? u.externalId : null,
      // From the parts lockstep writes, so that a name it wrote reads back as written (fullName is the API's rendering).
      displayName: [id.firstName, id.middleName, id.lastName].filter((x) => x).join(' ') || id.fullName || '',
      state: u.status === 'A' || u.status === undefined ? 'active' : 'suspended',
      memberships: (u.groups ?? []).map((g) => ({ group: String(g.id), from: null, until: null })),
      credentials: creds.map((c): Credential => {
        const number = credentialNumber(c);
        return { id: String(c.id), type: credentialType(c), ...(number !== undefined ? { number } : {}), status: credentialStatus(c, now), lastUsedAt: null };
      }),
      validity: userWindow(u),
    };
  }

  private datesBody(v: Validity): Record<string, unknown> {
    return {
      startDate: v.from === null ? null : new Date(v.from).toISOString(),
      endDate: v.until === null ? null : new Date(v.until).toISOString(),
      ...(this.opts.timeZone ? { startAndEndDateTimeZoneId: this.opts.timeZone } : {}),
    };
  }

  private placeholderEmail(externalId: string): string {
    const domain = this.opts.placeholderEmailDomain;
    if (!domain) {
      throw new LockstepError(
        'validation',
        `Openpath requires an email on every user and identity ${externalId} has none: give the identity an email or set placeholderEmailDomain`,
        { field: 'email', retryable: false },
      );
    }
    const local = externalId.replace(/[^A-Za-z0-9._+-]/g, '-').slice(0, 40);
    const hash = createHash('sha256').update(externalId).digest('hex').slice(0, 8);
    return `lockstep-${local}-${hash}@${domain}`;
  }

  // ---------------------------------------------------------------- plumbing

  private async findUser(externalId: string): Promise<OpUser | null> {
    const hits: OpUser[] = [];
    // The API's filter matches more than the exact value (and its syntax has no documented
    // escaping): ask it for a safe value, otherwise read every user; compare exactly either way.
    const filter = FILTER_SAFE.test(externalId) ? `externalId:(${externalId})` : undefined;
    for (let offset = 0; ;) {
      const page = parse(
        listOf(userSchema),
        await this.call('GET', `${this.org}/users`, { query: { limit: 1000, offset, sort: 'id', order: 'asc', filter } }),
        'user search',
      );
      hits.push(...page.data.filter((u) => u.externalId === externalId));
      offset += page.data.length;
      if (page.data.length === 0 || offset >= (page.filteredCount ?? page.totalCount ?? 0)) break;
    }
    if (hits.length > 1) {
      throw new LockstepError('conflict', `${hits.length} Openpath users carry externalId "${externalId}"; remove the duplicates`, {
        retryable: false,
        details: { users: hits.map((h) => String(h.id)) },
      });
    }
    return hits[0] ?? null;
  }

  private async readUser(accountId: string): Promise<OpUser | null> {
    if (!isNumeric(accountId)) return null;
    try {
      return parse(one(userSchema), await this.call('GET', `${this.org}/users/${accountId}`), 'user').data;
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return null;
      throw e;
    }
  }

  private async mustUser(accountId: string): Promise<OpUser> {
    const u = await this.readUser(accountId);
    if (!u) throw new LockstepError('not_found', `Openpath has no user ${accountId}`, { retryable: false });
    return u;
  }

  private async mustAccount(userId: number): Promise<Account> {
    const a = await this.getAccount(String(userId));
    if (!a) throw new LockstepError('internal', `Openpath user ${userId} vanished right after it was written`);
    return a;
  }

  private async credentialsOf(userId: number): Promise<OpCredential[]> {
    const out: OpCredential[] = [];
    for (let offset = 0; ;) {
      const page = parse(
        listOf(credentialSchema),
        await this.call('GET', `${this.org}/users/${userId}/credentials`, { query: { limit: 1000, offset } }),
        'credential list',
      );
      out.push(...page.data);
      offset += page.data.length;
      if (page.data.length === 0 || offset >= (page.filteredCount ?? page.totalCount ?? 0)) return out;
    }
  }

  /** One request with the JWT; with a login, a refused token is renewed once. */
  private async call(method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<unknown> {
    const send = async (token: string) =>
      (await this.http.request<unknown>(method, path, { ...opts, headers: { ...(opts.headers ?? {}), authorization: token } })).body;
    const token = await this.currentToken();
    try {
      return await send(token);
    } catch (e) {
      if (!(e instanceof LockstepError && e.status === 401 && 'login' in this.auth)) throw e;
      if (this.token === token) this.token = undefined;
      return send(await this.currentToken());
    }
  }

  private currentToken(): Promise<string> {
    if (this.token) return Promise.resolve(this.token);
    if (!('login' in this.auth)) throw new LockstepError('config', 'no Openpath token', { retryable: false });
    const { email, password, namespaceId } = this.auth.login;
    this.tokenLoading ??= this.http
      .request<unknown>('POST', 'auth/login', { body: { email, password, ...(namespaceId !== undefined ? { namespaceId } : {}) } })
      .then((r) => {
        const token = parse(loginSchema, r.body, 'login').data.token;
        this.token = token;
        return token;
      })
      .catch((e: unknown) => {
        if (e instanceof LockstepError && (e.status === 401 || e.status === 400)) {
          throw new LockstepError('auth', `Openpath refused the login of API user ${email}`, { retryable: false, status: e.status });
        }
        throw e;
      })
      .finally(() => {
        this.tokenLoading = undefined;
      });
    return this.tokenLoading;
  }
}

// ---------------------------------------------------------------- helpers

/** First and last name for Openpath from a displayName (and the names, when they spell it). */
export function namesFor(input: Pick<AccountInput, 'displayName' | 'firstName' | 'lastName'>): { firstName: string | null; lastName: string } {
  const first = input.firstName?.trim() || null;
  const last = input.lastName?.trim() || '';
  if (last && [first, last].filter(Boolean).join(' ') === input.displayName) return { firstName: first, lastName: last };
  return { firstName: null, lastName: input.displayName };
}

function userWindow(u: OpUser): Validity {
  return { from: u.startDate ?? null, until: u.endDate ?? null };
}

function credentialNumber(c: OpCredential): string | undefined {
  return (
    c.card?.number ??
    c.cardMifareCsn?.number ??
    c.cardOpenpathDesfireEv1?.number ??
    c.fobAllegion?.csn ??
    c.pincode?.number ??
    c.licensePlate?.plate ??
    undefined
  );
}

function credentialType(c: OpCredential): CredentialType {
  if (c.card || c.cardMifareCsn || c.cardOpenpathDesfireEv1 || c.fobAllegion) return 'card';
  if (c.pincode) return 'pin';
  if (c.mobile || c.cloudKey || c.wallet || c.allegionMobile) return 'mobile';
  const model = c.credentialType?.modelName ?? '';
  if (/pin/i.test(model)) return 'pin';
  if (/mobile|cloud|wallet/i.test(model)) return 'mobile';
  return /card|fob/i.test(model) ? 'card' : 'key';
}

function credentialStatus(c: OpCredential, now: number): CredentialStatus {
  if (c.cardOpenpathDesfireEv1?.isLost || c.fobAllegion?.isLost) return 'lost';
  if (c.endDate != null && Date.parse(c.endDate) <= now) return 'suspended';
  if (c.startDate != null && Date.parse(c.startDate) > now) return 'suspended';
  return 'active';
}

function eventId(e: OpEvent): string {
  const u = e.uiData;
  return u.requestId ? u.requestId : `${u.time}:${u.userId ?? ''}:${u.entryId ?? ''}`;
}

/** The document types `result` as a string only; the portal reports a granted entry as S / "Granted". */
function granted(e: OpEvent): boolean {
  const r = (e.uiData.result ?? '').trim();
  if (/^(s|success|granted|allowed)$/i.test(r)) return true;
  if (r === '' && /grant/i.test(e.uiData.resultDescription ?? '')) return true;
  return false;
}

const eventCursor = cursorCodec(eventCursorSchema, 'Openpath');

function isNumeric(id: string): boolean {
  return /^\d{1,15}$/.test(id);
}

function mustNumeric(id: string, what: string): number {
  if (!isNumeric(id)) {
    throw new LockstepError(what === 'group' ? 'config' : 'not_found', `${id} is not an Openpath ${what} id (a number)`, {
      retryable: false,
      ...(what === 'group' ? { field: 'group' } : {}),
    });
  }
  return Number(id);
}

const parse = responseParser('Openpath');

/** Validates options and builds the driver; the token (or password) file is read here. */
export async function createOpenpathDriver(ctx: DriverContext, env: NodeJS.ProcessEnv = process.env): Promise<OpenpathDriver> {
  const opts = parseDriverOptions(openpathOptionsSchema, ctx);
  const read = async (file: string, field: string): Promise<string> => (await readOptionFile(ctx, file, field)).trim();
  let auth: ConstructorParameters<typeof OpenpathDriver>[1];
  if (opts.login) {
    const password = opts.login.password ?? (await read(opts.login.passwordFile!, 'login.passwordFile'));
    auth = { login: { email: opts.login.email, password, ...(opts.login.namespaceId !== undefined ? { namespaceId: opts.login.namespaceId } : {}) } };
  } else {
    const token = opts.token ?? (opts.tokenFile ? await read(opts.tokenFile, 'tokenFile') : env.OPENPATH_TOKEN?.trim());
    if (!token) {
      throw new LockstepError('config', `systems.${ctx.system}.options: give token, tokenFile or login, or set OPENPATH_TOKEN`, {
        field: `systems.${ctx.system}.options.token`,
        retryable: false,
      });
    }
    auth = { token };
  }
  return new OpenpathDriver(opts, auth, ctx.system, retryLog(ctx, 'Openpath request retried'));
}

export const factory: DriverFactory = {
  type: 'openpath',
  create: (ctx) => createOpenpathDriver(ctx),
};

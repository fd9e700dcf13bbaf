import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, Credential, CredentialStatus, Membership, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, type HttpMethod, type QueryValue, type RetryInfo } from '../../src/drivers/http.js';
import { httpUrlOption, maxAttemptsOption, pageSizeOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import { cursorCodec, mapLimit, optionsField, parseDriverOptions, responseParser } from '../../src/drivers/util.js';

/**
 * The LockDriver for LenelS2 OnGuard through OpenAccess 7.5 (the vendor's Swagger 2.0 document,
 * basePath `/api/access/onguard/openaccess`).
 *
 * - Accounts are `Lnl_Cardholder` instances (`ID`); the link is a cardholder property
 *   (`externalIdProperty`, default `SSNO`), found with `filter=SSNO = "value"` and compared exactly.
 * - Access groups are `Lnl_AccessLevel` instances (`ID`).
 * - OnGuard assigns access levels to **badges**, not to cardholders: a membership is a
 *   `Lnl_AccessLevelAssignment` (ACCESSLEVELID, BADGEKEY) with its own ACTIVATE / DEACTIVATE, so
 *   `validity: 'membership'`. grant() writes the assignment, with the same dates, to every usable
 *   badge of the cardholder (status active or suspended); a cardholder with none gets a badge
 *   when `issueBadge` is set, and is otherwise refused (`precondition`). revoke() removes the
 *   level from every badge the cardholder has.
 * - Credentials are the cardholder's `Lnl_Badge` instances (id = BADGEKEY, number = badge ID);
 *   their states are badge STATUS values, configured by name (`badgeStatus`) and resolved
 *   through `Lnl_BadgeStatus` once.
 * - OpenAccess has no cardholder-level state: `suspendAccount: false` (leavers' badges are
 *   suspended one by one instead).
 * - Access events come from `GET /logged_events`, filtered on `timestamp >=` the cursor's and
 *   ordered by it; the cursor carries that timestamp and the ids already returned at it.
 * - Auth: `POST /authentication` (user_name, password, directory_id) with the `Application-Id`
 *   header; the session token goes in `Session-Token`. A 401 on a call logs in again once.
 *   Neither the password nor the token is ever logged.
 */

const statusName = z.string().min(1).max(64);

export const lenelOptionsSchema = z.strictObject({
  /** The OpenAccess address with its basePath, e.g. https://onguard.example.com/api/access/onguard/openaccess */
  url: httpUrlOption(),
  /** The application ID LenelS2 licensed for this integration (the `Application-Id` header); or LENEL_APPLICATION_ID. */
  applicationId: z.string().min(1).optional(),
  /** An OnGuard user (System Administration → Users) allowed to read and write cardholders, badges and access levels. */
  userName: z.string().min(1),
  password: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
  /** The directory the user logs in through (`GET /directories`): `id-1` is OnGuard's internal directory. */
  directoryId: z.string().min(1).default('id-1'),
  /** The Lnl_Cardholder property that holds lockstep's externalId (SSNO, or a user-defined field). */
  externalIdProperty: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a property name such as SSNO')
    .default('SSNO')
    .transform((s) => s.toUpperCase()),
  /** Names of the Badge Status list entries (List Builder) for each lockstep credential state. */
  badgeStatus: z
    .strictObject({
      active: statusName.default('Active'),
      lost: statusName.default('Lost'),
      suspended: statusName.default('Suspended'),
      revoked: statusName.default('Returned'),
    })
    .default({ active: 'Active', lost: 'Lost', suspended: 'Suspended', revoked: 'Returned' }),
  /**
   * When set, grant() on a cardholder without a usable badge issues one of this badge type (with
   * an automatically allocated badge ID) to carry the access level. Unset: such a grant is refused.
   */
  issueBadge: z.strictObject({ typeId: z.number().int().positive() }).optional(),
  timeoutMs: timeoutMsOption(30_000),
  maxAttempts: maxAttemptsOption(),
  /** Cardholders per listAccounts page (OpenAccess allows 1..100). */
  pageSize: pageSizeOption(100, 100),
  /** Logged events per request, and requests per readAccessEvents. */
  eventsPageSize: z.number().int().min(1).max(100).default(100),
  eventsMaxPages: z.number().int().min(1).max(1000).default(10),
  /** Badge and assignment reads in parallel while listing accounts. */
  concurrency: z.number().int().min(1).max(32).default(8),
});

export type LenelOptions = z.input<typeof lenelOptionsSchema>;
type Options = z.output<typeof lenelOptionsSchema>;

// ---------------------------------------------------------------- response shapes (what the driver reads)

const API_VERSION = '1.0';
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const propMap = z.record(z.string(), scalar.optional());
const pagedSchema = z.looseObject({
  count: z.number().optional(),
  item_list: z.array(z.looseObject({ property_value_map: propMap })),
  page_number: z.number().optional(),
  total_items: z.number().optional(),
  total_pages: z.number().optional(),
});
const instanceSchema = z.looseObject({ property_value_map: propMap });
const loginSchema = z.looseObject({ session_token: z.string().min(1), token_expiration_time: z.string().optional() });
const settingsSchema = z.looseObject({ activate_deactivate_dates_use_time: z.boolean().optional() });
const loggedEventSchema = z.looseObject({
  serial_number: z.number().optional(),
  timestamp: z.string(),
  controller_id: z.number().nullable().optional(),
  device_id: z.number().nullable().optional(),
  device_name: z.string().nullable().optional(),
  badge_id: z.number().nullable().optional(),
  cardholder_key: z.number().nullable().optional(),
  access_result: z.number().nullable().optional(),
});
const eventsSchema = z.looseObject({ item_list: z.array(loggedEventSchema), total_pages: z.number().optional(), page_number: z.number().optional() });
type LoggedEvent = z.infer<typeof loggedEventSchema>;
type PropMap = z.infer<typeof propMap>;

/** DataConduIT's access results: 2 granted, 3 denied; the rest (0 other, 1 unknown, 4 n/a) are not entry decisions. */
const ACCESS_GRANTED = 2;
const ACCESS_DENIED = 3;

const eventCursorSchema = z.strictObject({ v: z.literal(1), t: z.string(), seen: z.array(z.string()) });
type EventCursor = z.infer<typeof eventCursorSchema>;
const EPOCH = '1970-01-01T00:00:00Z';

interface Holder {
  ch: PropMap;
  badges: PropMap[];
  /** BADGEKEY → its assignments */
  levels: Map<number, PropMap[]>;
}

export class LenelDriver implements LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities = {
    validity: 'membership',
    suspendAccount: false,
    credentialStates: true,
    accessEvents: 'cursor',
    deleteAccount: true,
    // OpenAccess documents no lengths; GET /type?type_name=Lnl_Cardholder gives each site's max_length.
  };

  private readonly http: HttpClient;
  private token?: string;
  private tokenLoading?: Promise<string>;
  private statuses?: Promise<Record<CredentialStatus, number> & { names: Map<number, string> }>;
  private useTime?: Promise<boolean>;

  constructor(
    private readonly opts: Options,
    private readonly secrets: { applicationId: string; password: string },
    name = 'lenel',
    onRetry?: (info: RetryInfo) => void,
  ) {
    this.name = name;
    this.http = new HttpClient({
      baseUrl: opts.url,
      timeoutMs: opts.timeoutMs,
      maxAttempts: opts.maxAttempts,
      onRetry,
      headers: { 'application-id': secrets.applicationId },
    });
  }

  /** Ends the session (DELETE /authentication) and closes connections. */
  async close(): Promise<void> {
    const token = this.token;
    this.token = undefined;
    if (token) {
      await this.http
        .request('DELETE', 'authentication', { query: { version: API_VERSION }, headers: { 'session-token': token }, maxAttempts: 1, timeoutMs: 5000 })
        .catch(() => undefined);
    }
    await this.http.close();
  }

  // ---------------------------------------------------------------- groups

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const rows = await this.all('Lnl_AccessLevel', undefined, 'ID');
    return rows.map((r) => ({ ref: String(r.ID), name: typeof r.NAME === 'string' && r.NAME ? r.NAME : String(r.ID) }));
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    // Keyset paging on ID: cardholders added or deleted meanwhile shift no page.
    const after = cursor === null ? null : Number(cursor);
    if (after !== null && (!Number.isSafeInteger(after) || after < 0))
      throw new LockstepError('validation', `not a Lenel listAccounts cursor: ${cursor}`, { retryable: false });
    const page = await this.page('Lnl_Cardholder', after === null ? undefined : `ID > ${after}`, 'ID', 1, this.opts.pageSize);
    const holders = await mapLimit(page.item_list, this.opts.concurrency, (i) => this.holder(i.property_value_map));
    const items = holders.map((h) => this.toAccount(h));
    const last = page.item_list.at(-1)?.property_value_map.ID;
    const more = page.item_list.length > 0 && (page.total_pages ?? 1) > 1;
    return { items: await Promise.all(items), next: more && last != null ? String(last) : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const ch = await this.findCardholder(externalId);
    return ch ? this.toAccount(await this.holder(ch)) : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const ch = await this.readCardholder(accountId);
    return ch ? this.toAccount(await this.holder(ch)) : null;
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const names = namesFor(input);
    const xp = this.opts.externalIdProperty;
    const existing = await this.findCardholder(input.externalId);
    if (existing) {
      const change: Record<string, string | null> = {};
      if ((existing.FIRSTNAME ?? null) !== names.firstName) change.FIRSTNAME = names.firstName;
      if ((existing.LASTNAME ?? null) !== names.lastName) change.LASTNAME = names.lastName;
      // lockstep writes no middle name; one typed in System Administration would make the name differ on every run
      if ((existing.MIDNAME ?? null) !== null && existing.MIDNAME !== '') change.MIDNAME = null;
      if (input.email && existing.EMAIL !== input.email) change.EMAIL = input.email;
      if (Object.keys(change).length > 0) await this.write('PUT', 'Lnl_Cardholder', { ID: existing.ID as number, ...change });
      return this.mustAccount(String(existing.ID));
    }
    const created = await this.write('POST', 'Lnl_Cardholder', {
      ...(names.firstName ? { FIRSTNAME: names.firstName } : {}),
      LASTNAME: names.lastName,
      [xp]: input.externalId,
      ...(input.email ? { EMAIL: input.email } : {}),
    });
    const id = created?.ID;
    if (typeof id !== 'number') {
      const again = await this.findCardholder(input.externalId);
      if (!again) throw new LockstepError('internal', `OnGuard accepted cardholder ${input.externalId} but it cannot be found`);
      return this.mustAccount(String(again.ID));
    }
    return this.mustAccount(String(id));
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    if (state === 'active') return; // OpenAccess cardholders have no state: they are always active
    throw new LockstepError('precondition', `OnGuard cardholders cannot be suspended through OpenAccess (cardholder ${accountId}): suspend their badges`, {
      retryable: false,
    });
  }

  async deleteAccount(accountId: string): Promise<void> {
    const ch = await this.readCardholder(accountId);
    if (!ch) return;
    // Badges first: whatever OnGuard's cascade, no badge (and its access levels) outlives its cardholder.
    for (const b of await this.badgesOf(ch.ID as number)) await this.ignoreMissing(this.write('DELETE', 'Lnl_Badge', { BADGEKEY: b.BADGEKEY as number }));
    await this.ignoreMissing(this.write('DELETE', 'Lnl_Cardholder', { ID: ch.ID as number }));
  }

  // ---------------------------------------------------------------- memberships

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const level = mustNumeric(group, 'access level');
    await this.checkDates(validity);
    const ch = await this.mustCardholder(accountId);
    const statuses = await this.badgeStatuses();
    let badges = (await this.badgesOf(ch.ID as number)).filter((b) => b.STATUS === statuses.active || b.STATUS === statuses.suspended);
    if (badges.length === 0) {
      if (!this.opts.issueBadge) {
        throw new LockstepError(
          'precondition',
          `cardholder ${accountId} has no active badge to carry access level ${group}: issue one in OnGuard, or set issueBadge`,
          {
            retryable: false,
            details: { cardholder: accountId, accessLevel: group },
          },
        );
      }
      const b = await this.write('POST', 'Lnl_Badge', { PERSONID: ch.ID as number, TYPE: this.opts.issueBadge.typeId, STATUS: statuses.active });
      badges = b ? [b] : (await this.badgesOf(ch.ID as number)).filter((x) => x.STATUS === statuses.active);
    }
    const want = { ACTIVATE: toOnGuardDate(validity.from), DEACTIVATE: toOnGuardDate(validity.until) };
    for (const b of badges) {
      const key = b.BADGEKEY as number;
      const have = (await this.assignmentsOf(key)).find((a) => a.ACCESSLEVELID === level);
      if (have && sameInstant(fromOnGuardDate(have.ACTIVATE), validity.from) && sameInstant(fromOnGuardDate(have.DEACTIVATE), validity.until)) continue;
      const props = { ACCESSLEVELID: level, BADGEKEY: key, ...want };
      if (have) {
        await this.write('PUT', 'Lnl_AccessLevelAssignment', props);
        continue;
      }
      try {
        await this.write('POST', 'Lnl_AccessLevelAssignment', props);
      } catch (e) {
        // Another worker assigned it first: OnGuard refuses the second one; set the dates on it instead.
        if (!(e instanceof LockstepError && e.code === 'validation')) throw e;
        if (!(await this.assignmentsOf(key)).some((a) => a.ACCESSLEVELID === level)) throw e;
        await this.write('PUT', 'Lnl_AccessLevelAssignment', props);
      }
    }
  }

  async revoke(accountId: string, group: string): Promise<void> {
    if (!isNumeric(group)) return;
    const level = Number(group);
    const ch = await this.readCardholder(accountId);
    if (!ch) return;
    for (const b of await this.badgesOf(ch.ID as number)) {
      const key = b.BADGEKEY as number;
      if ((await this.assignmentsOf(key)).some((a) => a.ACCESSLEVELID === level)) {
        await this.ignoreMissing(this.write('DELETE', 'Lnl_AccessLevelAssignment', { ACCESSLEVELID: level, BADGEKEY: key }));
      }
    }
  }

  // ---------------------------------------------------------------- credentials

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    const ch = await this.mustCardholder(accountId);
    const badge = isNumeric(credentialId) ? (await this.badgesOf(ch.ID as number)).find((b) => b.BADGEKEY === Number(credentialId)) : undefined;
    if (!badge) throw new LockstepError('not_found', `cardholder ${accountId} has no badge ${credentialId}`, { retryable: false });
    const statuses = await this.badgeStatuses();
    const want = statuses[state];
    if (badge.STATUS === want) return;
    await this.write('PUT', 'Lnl_Badge', { BADGEKEY: badge.BADGEKEY as number, STATUS: want });
  }

  // ---------------------------------------------------------------- events

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    if (cursor === null) {
      // From now on, by the server's clock: the newest logged event is where reading starts.
      const newest = await this.eventsPage(`timestamp >= "${EPOCH}"`, 'timestamp desc', 1, 1);
      const top = newest.item_list[0];
      const st: EventCursor = top
        ? { v: 1, t: normTime(top.timestamp), seen: newest.item_list.filter((e) => normTime(e.timestamp) === normTime(top.timestamp)).map(eventId) }
        : { v: 1, t: EPOCH, seen: [] };
      return { events: [], cursor: eventCursor.encode(st) };
    }
    const st = eventCursor.decode(cursor);
    const seen = new Set(st.seen);
    const read: LoggedEvent[] = [];
    // The events at the cursor's second that were returned already come first in the listing:
    // whole pages of them are skipped, so that more of them than one read takes cannot stall it.
    const first = Math.floor(st.seen.length / this.opts.eventsPageSize) + 1;
    for (let p = first; p < first + this.opts.eventsMaxPages; p++) {
      const page = await this.eventsPage(`timestamp >= "${st.t}"`, 'timestamp', p, this.opts.eventsPageSize);
      read.push(...page.item_list);
      if (page.item_list.length < this.opts.eventsPageSize || p >= (page.total_pages ?? p)) break;
    }
    const fresh = read.filter((e) => !(normTime(e.timestamp) === st.t && seen.has(eventId(e))));
    let t = st.t;
    for (const e of read) if (Date.parse(normTime(e.timestamp)) > Date.parse(t)) t = normTime(e.timestamp);
    const atT = read.filter((e) => normTime(e.timestamp) === t).map(eventId);
    const nextSeen = t === st.t ? [...new Set([...st.seen, ...atT])] : atT;
    const badges = new Map<number, Promise<PropMap[]>>();
    const events: AccessEvent[] = [];
    for (const e of fresh) {
      if (e.access_result !== ACCESS_GRANTED && e.access_result !== ACCESS_DENIED) continue;
      events.push({
        id: eventId(e),
        at: normTime(e.timestamp).replace(/Z$/, '.000Z'),
        accountId: e.cardholder_key != null && e.cardholder_key > 0 ? String(e.cardholder_key) : null,
        credentialId: await this.badgeKeyOfEvent(e, badges),
        door: e.device_name ?? null,
        granted: e.access_result === ACCESS_GRANTED,
      });
    }
    return { events, cursor: eventCursor.encode({ v: 1, t, seen: nextSeen }) };
  }

  /** Logged events name the badge by its ID (the number on the card); lockstep's credential id is the BADGEKEY. */
  private async badgeKeyOfEvent(e: LoggedEvent, cache: Map<number, Promise<PropMap[]>>): Promise<string | null> {
    if (e.cardholder_key == null || e.badge_id == null || e.cardholder_key <= 0) return null;
    let list = cache.get(e.cardholder_key);
    if (!list) {
      list = this.badgesOf(e.cardholder_key);
      cache.set(e.cardholder_key, list);
    }
    const hit = (await list).find((b) => b.ID === e.badge_id);
    return hit ? String(hit.BADGEKEY) : null;
  }

  // ---------------------------------------------------------------- mapping

  private async toAccount(h: Holder): Promise<Account> {
    const statuses = await this.badgeStatuses();
    const usable = h.badges.filter((b) => b.STATUS === statuses.active || b.STATUS === statuses.suspended);
    // A level held on one usable badge and missing on another reads as a second membership, so
    // that reconcile's change_validity writes it to every badge again.
    const memberships: Membership[] = [];
    const groups = new Map<number, { windows: Map<string, Validity>; on: Set<number> }>();
    for (const b of h.badges) {
      for (const a of h.levels.get(b.BADGEKEY as number) ?? []) {
        const level = a.ACCESSLEVELID as number;
        const g = groups.get(level) ?? { windows: new Map(), on: new Set() };
        const v = { from: fromOnGuardDate(a.ACTIVATE), until: fromOnGuardDate(a.DEACTIVATE) };
        g.windows.set(`${v.from}|${v.until}`, v);
        g.on.add(b.BADGEKEY as number);
        groups.set(level, g);
      }
    }
    for (const [level, g] of groups) {
      for (const v of g.windows.values()) memberships.push({ group: String(level), ...v });
      const partial = usable.some((b) => !g.on.has(b.BADGEKEY as number));
      if (partial && g.windows.size === 1) memberships.push({ group: String(level), ...[...g.windows.values()][0] });
    }
    const credentials = h.badges.map((b): Credential => ({
      id: String(b.BADGEKEY),
      type: 'card',
      ...(b.ID != null ? { number: String(b.ID) } : {}),
      status: credentialStatus(b.STATUS, statuses),
      lastUsedAt: null,
    }));
    const x = h.ch[this.opts.externalIdProperty];
    return {
      id: String(h.ch.ID),
      externalId: typeof x === 'string' && x !== '' ? x : typeof x === 'number' ? String(x) : null,
      displayName: [h.ch.FIRSTNAME, h.ch.MIDNAME, h.ch.LASTNAME].filter((s) => typeof s === 'string' && s.trim() !== '').join(' '),
      state: 'active',
      memberships,
      credentials,
    };
  }

  private async holder(ch: PropMap): Promise<Holder> {
    const badges = await this.badgesOf(ch.ID as number);
    const levels = new Map<number, PropMap[]>();
    for (const b of badges) levels.set(b.BADGEKEY as number, await this.assignmentsOf(b.BADGEKEY as number));
    return { ch, badges, levels };
  }

  // ---------------------------------------------------------------- reads

  private async findCardholder(externalId: string): Promise<PropMap | null> {
    const xp = this.opts.externalIdProperty;
    const rows = (await this.all('Lnl_Cardholder', `${xp} = ${quote(externalId)}`, 'ID')).filter((r) => r[xp] === externalId || String(r[xp]) === externalId);
    if (rows.length > 1) {
      throw new LockstepError('conflict', `${rows.length} OnGuard cardholders carry ${xp} "${externalId}"; remove the duplicates`, {
        retryable: false,
        details: { cardholders: rows.map((r) => String(r.ID)) },
      });
    }
    return rows[0] ?? null;
  }

  private async readCardholder(accountId: string): Promise<PropMap | null> {
    if (!isNumeric(accountId)) return null;
    const page = await this.page('Lnl_Cardholder', `ID = ${Number(accountId)}`, undefined, 1, 1);
    return page.item_list.find((i) => i.property_value_map.ID === Number(accountId))?.property_value_map ?? null;
  }

  private async mustCardholder(accountId: string): Promise<PropMap> {
    const ch = await this.readCardholder(accountId);
    if (!ch) throw new LockstepError('not_found', `OnGuard has no cardholder ${accountId}`, { retryable: false });
    return ch;
  }

  private async mustAccount(accountId: string): Promise<Account> {
    const a = await this.getAccount(accountId);
    if (!a) throw new LockstepError('internal', `OnGuard cardholder ${accountId} vanished right after it was written`);
    return a;
  }

  private badgesOf(personId: number): Promise<PropMap[]> {
    return this.all('Lnl_Badge', `PERSONID = ${personId}`, 'BADGEKEY').then((rows) => rows.filter((b) => b.PERSONID === personId));
  }

  private assignmentsOf(badgeKey: number): Promise<PropMap[]> {
    return this.all('Lnl_AccessLevelAssignment', `BADGEKEY = ${badgeKey}`, 'ACCESSLEVELID').then((rows) => rows.filter((a) => a.BADGEKEY === badgeKey));
  }

  /** The Badge Status list, resolved once: lockstep state → STATUS id. */
  private badgeStatuses(): Promise<Record<CredentialStatus, number> & { names: Map<number, string> }> {
    this.statuses ??= this.all('Lnl_BadgeStatus', undefined, 'ID')
      .then((rows) => {
        const byName = new Map(rows.map((r) => [String(r.NAME ?? '').toLowerCase(), r.ID as number]));
        const names = new Map(rows.map((r) => [r.ID as number, String(r.NAME ?? '')]));
        const pick = (state: CredentialStatus): number => {
          const want = this.opts.badgeStatus[state];
          const id = byName.get(want.toLowerCase());
          if (id === undefined) {
            throw new LockstepError(
              'config',
              `systems.${this.name}.options.badgeStatus.${state}: OnGuard has no badge status "${want}" (it has: ${[...names.values()].join(', ')})`,
              {
                field: `systems.${this.name}.options.badgeStatus.${state}`,
                retryable: false,
              },
            );
          }
          return id;
        };
        return { active: pick('active'), lost: pick('lost'), suspended: pick('suspended'), revoked: pick('revoked'), names };
      })
      .catch((e: unknown) => {
        this.statuses = undefined;
        throw e;
      });
    return this.statuses;
  }

  /** Times on assignments need "use time" for activate/deactivate dates (System Administration → Cardholder options). */
  private async checkDates(v: Validity): Promise<void> {
    if (v.from === null && v.until === null) return;
    this.useTime ??= this.call('GET', 'settings/cardholder')
      .then((b) => parse(settingsSchema, b, 'cardholder settings').activate_deactivate_dates_use_time !== false)
      .catch((e: unknown) => {
        this.useTime = undefined;
        throw e;
      });
    if (await this.useTime) return;
    const midnight = (s: string | null) => s === null || new Date(s).toISOString().endsWith('T00:00:00.000Z');
    if (midnight(v.from) && midnight(v.until)) return;
    throw new LockstepError(
      'config',
      `OnGuard stores activate/deactivate dates without a time here: turn on "use time" in Cardholder options, or lockstep's windows would move`,
      {
        field: `systems.${this.name}`,
        retryable: false,
      },
    );
  }

  // ---------------------------------------------------------------- plumbing

  private async page(
    type: string,
    filter: string | undefined,
    orderBy: string | undefined,
    pageNumber: number,
    pageSize: number,
  ): Promise<z.infer<typeof pagedSchema>> {
    const body = await this.call('GET', 'instances', { type_name: type, filter, order_by: orderBy, page_number: pageNumber, page_size: pageSize });
    const page = parse(pagedSchema, body, `${type} list`);
    return { ...page, item_list: page.item_list.map((i) => ({ ...i, property_value_map: upperKeys(i.property_value_map) })) };
  }

  private async all(type: string, filter: string | undefined, orderBy: string): Promise<PropMap[]> {
    const out: PropMap[] = [];
    for (let p = 1; ; p++) {
      const page = await this.page(type, filter, orderBy, p, 100);
      out.push(...page.item_list.map((i) => i.property_value_map));
      if (page.item_list.length === 0 || p >= (page.total_pages ?? p)) return out;
    }
  }

  private async eventsPage(filter: string, orderBy: string, pageNumber: number, pageSize: number): Promise<z.infer<typeof eventsSchema>> {
    const body = await this.call('GET', 'logged_events', { filter, order_by: orderBy, page_number: pageNumber, page_size: pageSize });
    return parse(eventsSchema, body, 'logged events');
  }

  /** POST / PUT / DELETE an instance; answers the instance's properties (add, modify) or null. */
  private async write(method: 'POST' | 'PUT' | 'DELETE', type: string, props: Record<string, string | number | null>): Promise<PropMap | null> {
    const body = await this.call(method, 'instances', { type_name: type }, { property_value_map: props });
    if (method === 'DELETE') return null;
    const r = instanceSchema.safeParse(body);
    return r.success ? upperKeys(r.data.property_value_map) : null;
  }

  private async ignoreMissing(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (e) {
      // OnGuard answers a key that names nothing with a 400 (invalidrequestitem), some versions 404.
      if (
        e instanceof LockstepError &&
        (e.code === 'not_found' || (e.code === 'validation' && /does not exist|invalidrequestitem/i.test(String(serverCode(e) ?? e.message))))
      )
        return;
      throw e;
    }
  }

  /** One request with the session token; a refused (expired) token is renewed once. */
  private async call(method: HttpMethod, path: string, query: Record<string, QueryValue> = {}, body?: unknown): Promise<unknown> {
    const send = async (token: string) =>
      (
        await this.http.request<unknown>(method, path, {
          query: { ...query, version: API_VERSION },
          headers: { 'session-token': token },
          ...(body !== undefined ? { body } : {}),
        })
      ).body;
    const token = await this.session();
    try {
      return await send(token);
    } catch (e) {
      if (!(e instanceof LockstepError && e.status === 401)) throw mapError(e);
      if (this.token === token) this.token = undefined;
      try {
        return await send(await this.session());
      } catch (again) {
        throw mapError(again);
      }
    }
  }

  private session(): Promise<string> {
    if (this.token) return Promise.resolve(this.token);
    this.tokenLoading ??= this.http
      .request<unknown>('POST', 'authentication', {
        query: { version: API_VERSION },
        body: { user_name: this.opts.userName, password: this.secrets.password, directory_id: this.opts.directoryId },
      })
      .then((r) => {
        const token = parse(loginSchema, r.body, 'authentication').session_token;
        this.token = token;
        return token;
      })
      .catch((e: unknown) => {
        if (e instanceof LockstepError && (e.status === 401 || e.status === 403 || (e.status === 400 && /credential|password|user/i.test(e.message)))) {
          throw new LockstepError('auth', `OpenAccess refused the login of ${this.opts.userName} (directory ${this.opts.directoryId}) or the application ID`, {
            retryable: false,
            status: e.status,
            details: { code: serverCode(e) },
          });
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

/** OpenAccess's error code (`openaccess.general.…`) from the body the HTTP client kept. */
function serverCode(e: LockstepError): string | undefined {
  const said = (e.details as { response?: string } | undefined)?.response;
  return said ? /"code"\s*:\s*"([^"]+)"/.exec(said)?.[1] : undefined;
}

/** OnGuard's property names are case-insensitive (DataConduIT spells them upper-case); the driver reads them upper-case. */
function upperKeys(m: PropMap): PropMap {
  const out: PropMap = {};
  for (const [k, v] of Object.entries(m)) out[k.toUpperCase()] = v;
  return out;
}

/** A 401 that survived a new login is an auth failure that retrying cannot fix. */
function mapError(e: unknown): unknown {
  if (!(e instanceof LockstepError)) return e;
  if (e.status === 401) {
    return new LockstepError('auth', `OpenAccess refused the session: ${e.message}`, { retryable: false, status: e.status, details: e.details, cause: e });
  }
  return e;
}

/** First and last name for OnGuard (LASTNAME is required) from a displayName and the names, when they spell it. */
export function namesFor(input: Pick<AccountInput, 'displayName' | 'firstName' | 'lastName'>): { firstName: string | null; lastName: string } {
  const first = input.firstName?.trim() || null;
  const last = input.lastName?.trim() || '';
  if (last && [first, last].filter(Boolean).join(' ') === input.displayName) return { firstName: first, lastName: last };
  return { firstName: null, lastName: input.displayName };
}

/** A filter string literal: double quotes, with `"` and `\` escaped. */
export function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function toOnGuardDate(iso: string | null): string | null {
  return iso === null ? null : `${new Date(iso).toISOString().slice(0, 19)}Z`;
}

export function fromOnGuardDate(v: unknown): string | null {
  if (typeof v !== 'string' || v === '') return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function credentialStatus(status: unknown, s: Record<CredentialStatus, number>): CredentialStatus {
  if (status === s.active) return 'active';
  if (status === s.suspended) return 'suspended';
  if (status === s.lost) return 'lost';
  // Returned, destroyed and any other list entry: the badge no longer opens anything lockstep grants.
  return 'revoked';
}

function normTime(v: string): string {
  const t = Date.parse(v);
  return Number.isNaN(t) ? v : `${new Date(t).toISOString().slice(0, 19)}Z`;
}

function eventId(e: LoggedEvent): string {
  return `${e.controller_id ?? 0}:${e.serial_number ?? 0}:${normTime(e.timestamp)}`;
}

function sameInstant(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.floor(Date.parse(a) / 1000) === Math.floor(Date.parse(b) / 1000);
}

const eventCursor = cursorCodec(eventCursorSchema, 'Lenel');

function isNumeric(id: string): boolean {
  return /^\d{1,15}$/.test(id);
}

function mustNumeric(id: string, what: string): number {
  if (!isNumeric(id)) throw new LockstepError('config', `${id} is not an OnGuard ${what} id (a number)`, { retryable: false, field: 'group' });
  return Number(id);
}

const parse = responseParser('OpenAccess');

/** Validates options and builds the driver; the password file is read here. */
export async function createLenelDriver(ctx: DriverContext, env: NodeJS.ProcessEnv = process.env): Promise<LenelDriver> {
  const opts = parseDriverOptions(lenelOptionsSchema, ctx);
  const at = (path: string) => optionsField(ctx, path);
  if (opts.password !== undefined && opts.passwordFile !== undefined) {
    throw new LockstepError('config', `${at('password')}: give password or passwordFile, not both`, { field: at('password'), retryable: false });
  }
  let password = opts.password ?? env.LENEL_PASSWORD?.trim();
  if (opts.passwordFile) {
    try {
      password = (await readFile(opts.passwordFile, 'utf8')).trim();
    } catch (e) {
      throw new LockstepError('config', `${at('passwordFile')}: cannot read ${opts.passwordFile}`, { field: at('passwordFile'), retryable: false, cause: e });
    }
  }
  if (!password)
    throw new LockstepError('config', `${at('password')}: give password or passwordFile, or set LENEL_PASSWORD`, { field: at('password'), retryable: false });
  const applicationId = opts.applicationId ?? env.LENEL_APPLICATION_ID?.trim();
  if (!applicationId) {
    throw new LockstepError('config', `${at('applicationId')}: give the OpenAccess application ID, or set LENEL_APPLICATION_ID`, {
      field: at('applicationId'),
      retryable: false,
    });
  }
  return new LenelDriver(opts, { applicationId, password }, ctx.system, retryLog(ctx, 'OpenAccess request retried'));
}

export const factory: DriverFactory = {
  type: 'lenel',
  create: (ctx) => createLenelDriver(ctx),
};

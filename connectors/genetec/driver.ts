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
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, type HttpMethod, type QueryValue, type RetryInfo } from '../../src/drivers/http.js';
import { caFileOption, httpUrlOption, maxAttemptsOption, pageSizeOption, rejectUnauthorizedOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import { cursorCodec, mapLimit, parseDriverOptions, readOptionFile, responseParser } from '../../src/drivers/util.js';
import {
  GRANTED_EVENT,
  LAST_ACCESS_POINT_FOR_SINGLE_CREDENTIAL,
  REAUTHENTICATE_ONCE,
  SORT_ASCENDING,
  SYSTEM_CONFIGURATION,
  hasNextPage,
  isNoDate,
  offlineKeyExpiry,
  qValue,
  sdkErrorKind,
} from './assumptions.js';

/**
 * The LockDriver for Genetec Security Center (Synergis) through its Web SDK role, from the
 * vendor's Postman collection "Security Center Web SDK". Every call is a GET, POST or DELETE on
 * `/entity`, `/entity/{guid}`, `/report/{Report}` or `/customField/...` with the Web SDK's `q=`
 * syntax; answers come in the `{ Rsp: { Status, Result } }` envelope.
 *
 * - Accounts are cardholders. The link is a cardholder custom field (Text, `externalIdField`,
 *   default `LockstepId`), searched with `CardholderConfiguration?q=CustomFields@CustomField(guid,value)`
 *   and compared exactly; it is written with `PUT /customField/{cardholder}/{field}/{value}`.
 * - Access groups are access rules (`AddCardholders` / `RemoveCardholders`), or cardholder
 *   groups (`AddCardholderIntoGroup` / `RemoveCardholderFromGroup`) at sites that grant through
 *   them (`accessGroups: cardholderGroups`). A temporary access rule's StartTime/EndTime is
 *   reported as the window of its memberships.
 * - Validity lives on the cardholder (`Status.Activate(a, e)`, `Status.Deactivate(e)`):
 *   capabilities say `validity: 'account'`, or `'none'` for a system block that leaves the
 *   cardholder's dates to another block over the same Security Center (CLIQ and Aperio).
 * - Suspension is `Status.Deactivate()` / `Status.Activate()`; credentials likewise, with
 *   `Status.Lost()` for lost and, for revoked, deactivation and unassignment from the cardholder.
 * - CLIQ keys (Security Center CLIQ plugin): `offline.revalidationDays` in the options makes the
 *   system a data-on-key one; each active key reports when it stops opening (keyExpiresAt).
 * - Access events are the CardholderActivity report over a time window (granted accesses).
 * - Auth is HTTP Basic with `username;applicationId` and the password on every request; a
 *   session the server ended (401) is opened again once.
 *
 * Where the collection is silent, ./assumptions.ts says what was assumed.
 */

const guid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const genetecOptionsSchema = z
  .strictObject({
    /** The Web SDK role's address with its base URI, e.g. https://sc.example.com:4590/WebSdk. */
    url: httpUrlOption(),
    /** The Security Center user lockstep logs on as. */
    username: z
      .string()
      .min(1)
      .refine((u) => !u.includes(';') && !u.includes(':'), 'a user name without ";" or ":"'),
    /** The SDK certificate's application id (the part after ";" in the Web SDK user name). */
    applicationId: z.string().min(1).optional(),
    applicationIdFile: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    /** The cardholder custom field (Text) that holds lockstep's externalId. */
    externalIdField: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'letters, digits and _ (custom field names have no spaces)')
      .default('LockstepId'),
    /** Create the custom field when it is missing (POST /customField/Cardholder/{name}/Text/); otherwise a missing field is a config error. */
    createExternalIdField: z.boolean().default(false),
    /** What an access group's ref names: an access rule (default) or a cardholder group. */
    accessGroups: z.enum(['accessRules', 'cardholderGroups']).default('accessRules'),
    /**
     * `account`: this block keeps the cardholder's activation/expiration (the latest end of its
     * groups). `none`: it leaves them alone and lockstep ends windows on schedule; for a second
     * block over the same Security Center (only one block may own a cardholder's dates).
     */
    validity: z.enum(['account', 'none']).default('account'),
    /** CLIQ (data on key): keys learn a revocation when next revalidated, within this many days. */
    offline: z.strictObject({ revalidationDays: z.number().int().min(1).max(365) }).optional(),
    /** How credentials are reported: `key` for CLIQ keys (the default with offline), else `card`. */
    credentialType: z.enum(['card', 'key']).optional(),
    /** PEM CA bundle for the role's certificate (the Web SDK's is self-signed by default). */
    caFile: caFileOption(),
    /** Lab systems only. */
    rejectUnauthorized: rejectUnauthorizedOption(),
    timeoutMs: timeoutMsOption(20_000),
    maxAttempts: maxAttemptsOption(),
    /** Cardholders per listAccounts page (the report's PageSize). */
    pageSize: pageSizeOption(5000, 500),
    /** MaximumResultCount of one activity report read. */
    eventsLimit: z.number().int().min(1).max(100_000).default(1000),
    /** Each events read looks this far back again, for events units and offline locks report late. */
    eventsLookbackMinutes: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 60)
      .default(15),
    /** Entity reads in parallel. */
    concurrency: z.number().int().min(1).max(32).default(8),
  })
  .refine((o) => !(o.password && o.passwordFile), { message: 'give at most one of password and passwordFile', path: ['password'] })
  .refine((o) => !(o.applicationId && o.applicationIdFile), { message: 'give at most one of applicationId and applicationIdFile', path: ['applicationId'] });

export type GenetecOptions = z.input<typeof genetecOptionsSchema>;
type Options = z.output<typeof genetecOptionsSchema>;

// ---------------------------------------------------------------- response shapes (what the driver reads)

const date = z.string().nullable().optional();
const statusSchema = z.looseObject({
  ActivationDate: date,
  ActivationType: z.string().nullable().optional(),
  ExpirationDate: date,
  ExpirationType: z.string().nullable().optional(),
  State: z.string(),
});
const cardholderSchema = z.looseObject({
  Guid: z.string(),
  EntityType: z.literal('Cardholder'),
  Name: z.string().nullable().optional(),
  FirstName: z.string().nullable().optional(),
  LastName: z.string().nullable().optional(),
  EmailAddress: z.string().nullable().optional(),
  Credentials: z.array(z.string()).default([]),
  Groups: z.array(z.string()).default([]),
  AccessRules: z.array(z.string()).default([]),
  LastAccessPoint: z.looseObject({ AccessPointDate: date, AccessGranted: z.boolean().optional() }).nullable().optional(),
  Status: statusSchema,
  CustomFields: z.array(z.looseObject({ Name: z.string(), Value: z.unknown().optional() })).default([]),
});
type GCardholder = z.infer<typeof cardholderSchema>;
const credentialSchema = z.looseObject({
  Guid: z.string(),
  EntityType: z.literal('Credential'),
  Name: z.string().nullable().optional(),
  CardholderGuid: z.string().nullable().optional(),
  Cardholder: z.string().nullable().optional(),
  Format: z
    .looseObject({
      CardId: z.number().optional(),
      Facility: z.number().optional(),
      UniqueId: z.string().optional(),
      Type: z.string().optional(),
      IsMobile: z.boolean().optional(),
    })
    .nullable()
    .optional(),
  Status: statusSchema,
});
type GCredential = z.infer<typeof credentialSchema>;
const accessRuleSchema = z.looseObject({
  Guid: z.string(),
  EntityType: z.literal('AccessRule'),
  Name: z.string().nullable().optional(),
  AccessRuleType: z.string().optional(),
  StartTime: date,
  EndTime: date,
  IsDenyingRule: z.boolean().optional(),
  IsSystemRule: z.boolean().optional(),
});
const namedSchema = z.looseObject({ Guid: z.string(), EntityType: z.string(), Name: z.string().nullable().optional() });
const guidRows = z.array(z.looseObject({ Guid: z.string() }));
const activityRows = z.array(
  z.looseObject({
    Timestamp: z.string(),
    EventType: z.union([z.number(), z.string()]).optional(),
    CardholderGuid: z.string().nullable().optional(),
    CredentialGuid: z.string().nullable().optional(),
    APGuid: z.string().nullable().optional(),
    AccessPointGroupGuid: z.string().nullable().optional(),
  }),
);
const customFieldsSchema = z.looseObject({ CustomFields: z.array(z.looseObject({ Guid: z.string(), Name: z.string(), EntityType: z.string() })) });
const createdSchema = z.looseObject({ Guid: z.string().regex(guid) });
const envelopeSchema = z.looseObject({
  Rsp: z.looseObject({ Status: z.string(), Result: z.unknown().optional() }),
});
const failSchema = z.looseObject({ SdkErrorCode: z.string().optional(), Message: z.string().optional() });

/** What the events cursor carries: the window start, and the events already returned from the look-back before it. */
const eventCursorSchema = z.strictObject({
  v: z.literal(1),
  /** Window start, epoch ms (events before it were read). */
  from: z.number().int(),
  /** [event id, epoch ms] of events returned that are still inside the look-back. */
  seen: z.array(z.tuple([z.string(), z.number()])),
  /** The last read was cut short by MaximumResultCount: continue at `from`, without the look-back. */
  more: z.literal(true).optional(),
});
type EventCursor = z.infer<typeof eventCursorSchema>;
const eventCursor = cursorCodec(eventCursorSchema, 'Genetec');

const ZERO = '00000000-0000-0000-0000-000000000000';
const RULE_TTL_MS = 60_000;

interface RuleInfo {
  name: string;
  window: Validity;
  deny: boolean;
  system: boolean;
  at: number;
}

export class GenetecDriver implements LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;

  private readonly http: HttpClient;
  private readonly authorization: string;
  private fieldGuid?: Promise<string>;
  private readonly rules = new Map<string, RuleInfo>();
  private readonly parse = responseParser('Genetec Security Center');

  constructor(
    private readonly opts: Options,
    secrets: { applicationId: string; password: string; ca?: string },
    name = 'genetec',
    onRetry?: (info: RetryInfo) => void,
  ) {
    this.name = name;
    this.capabilities = {
      validity: opts.validity,
      suspendAccount: true,
      credentialStates: true,
      accessEvents: 'cursor',
      deleteAccount: true,
      ...(opts.offline ? { offline: { revalidationDays: opts.offline.revalidationDays } } : {}),
    };
    this.authorization = `Basic ${Buffer.from(`${opts.username};${secrets.applicationId}:${secrets.password}`, 'utf8').toString('base64')}`;
    this.http = new HttpClient({
      baseUrl: opts.url,
      timeoutMs: opts.timeoutMs,
      maxAttempts: opts.maxAttempts,
      // the collection's Accept: the Web SDK answers text/json with it
      headers: { accept: 'text/json' },
      tls: { ...(secrets.ca ? { ca: secrets.ca } : {}), rejectUnauthorized: opts.rejectUnauthorized },
      onRetry,
    });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---------------------------------------------------------------- groups

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const report = this.opts.accessGroups === 'accessRules' ? 'AccessRuleConfiguration' : 'EntityConfiguration';
    const guids: string[] = [];
    for (let page = 1; ; page++) {
      const q =
        this.opts.accessGroups === 'accessRules'
          ? `Page=${page},PageSize=${this.opts.pageSize}`
          : `EntityTypes@CardholderGroup,Page=${page},PageSize=${this.opts.pageSize}`;
      const r = await this.call(`${report} report`, 'GET', `report/${report}`, q);
      const rows = this.parse(guidRows, r.result ?? [], `${report} report`);
      guids.push(...rows.map((x) => x.Guid));
      if (!hasNextPage(r.status, rows.length, this.opts.pageSize)) break;
    }
    const out = await mapLimit(guids, this.opts.concurrency, async (g): Promise<AccessGroupRef | null> => {
      if (this.opts.accessGroups === 'accessRules') {
        const info = await this.ruleInfo(g).catch(nullIfNotFound);
        return info && !info.system ? { ref: g, name: info.name } : null;
      }
      const e = await this.entity(g, namedSchema, 'cardholder group').catch(nullIfNotFound);
      return e ? { ref: g, name: e.Name || g } : null;
    });
    return out.filter((x): x is AccessGroupRef => x !== null);
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const page = cursor === null ? 1 : Number(cursor);
    if (!Number.isInteger(page) || page < 1) throw new LockstepError('validation', `not a Genetec listAccounts cursor: ${cursor}`, { retryable: false });
    const r = await this.call('CardholderConfiguration report', 'GET', 'report/CardholderConfiguration', `Page=${page},PageSize=${this.opts.pageSize}`);
    const rows = this.parse(guidRows, r.result ?? [], 'CardholderConfiguration report');
    // a cardholder deleted between the report and its read is simply not listed
    const items = (await mapLimit(rows, this.opts.concurrency, (x) => this.getAccount(x.Guid))).filter((a): a is Account => a !== null);
    return { items, next: hasNextPage(r.status, rows.length, this.opts.pageSize) ? String(page + 1) : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const hits = await this.findCardholders(externalId);
    if (hits.length > 1) {
      throw new LockstepError(
        'conflict',
        `${this.where()}: ${hits.length} cardholders carry ${this.opts.externalIdField} "${externalId}"; remove the duplicates`,
        {
          retryable: false,
          details: { cardholders: hits.map((h) => h.Guid) },
        },
      );
    }
    return hits[0] ? this.toAccount(hits[0]) : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const ch = await this.cardholder(accountId);
    return ch ? this.toAccount(ch) : null;
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const names = namesFor(input);
    const existing = (await this.findCardholders(input.externalId))[0];
    let id: string;
    if (existing) {
      id = existing.Guid;
      if ((existing.Name ?? '') !== input.displayName) await this.post('rename cardholder', [`entity=${id}`, `Name=${qValue(input.displayName)}`]);
      const update: string[] = [];
      if ((existing.FirstName ?? '') !== names.firstName) update.push(`FirstName=${qValue(names.firstName)}`);
      if ((existing.LastName ?? '') !== names.lastName) update.push(`LastName=${qValue(names.lastName)}`);
      if (input.email && (existing.EmailAddress ?? '') !== input.email) update.push(`EmailAddress=${qValue(input.email)}`);
      if (update.length > 0) await this.post('update cardholder', [`entity=${id}`, ...update]);
      if (input.validity && this.opts.validity === 'account') await this.writeWindow(existing, input.validity);
    } else {
      const created = await this.post(
        'create cardholder',
        [
          'entity=NewEntity(Cardholder)',
          `Name=${qValue(input.displayName)}`,
          `FirstName=${qValue(names.firstName)}`,
          `LastName=${qValue(names.lastName)}`,
          ...(input.email ? [`EmailAddress=${qValue(input.email)}`] : []),
          'Guid',
        ],
        { idempotent: false },
      );
      id = this.parse(createdSchema, created.result, 'created cardholder').Guid;
      try {
        await this.setExternalId(id, input.externalId);
      } catch (e) {
        // a cardholder without the link would be an orphan lockstep makes again on the next run
        await this.call('delete cardholder', 'DELETE', `entity/${id}`).catch(() => undefined);
        throw e;
      }
      if (input.validity && this.opts.validity === 'account' && (input.validity.from !== null || input.validity.until !== null)) {
        const ch = await this.mustCardholder(id);
        await this.writeWindow(ch, input.validity);
      }
    }
    const a = await this.getAccount(id);
    if (!a) throw new LockstepError('internal', `${this.where()}: cardholder ${id} vanished right after it was written`);
    return a;
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    const ch = await this.mustCardholder(accountId);
    if (cardholderState(ch) === state) return;
    if (state === 'suspended') await this.post('deactivate cardholder', [`entity=${ch.Guid}`, 'Status.Deactivate()']);
    else await this.activate('activate cardholder', ch.Guid, ch.Status);
  }

  async deleteAccount(accountId: string): Promise<void> {
    if (!guid.test(accountId)) return;
    try {
      await this.call('delete cardholder', 'DELETE', `entity/${accountId}`);
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return;
      throw e;
    }
  }

  // ---------------------------------------------------------------- memberships

  async grant(accountId: string, group: string, _validity: Validity): Promise<void> {
    // Validity is the cardholder's (upsertAccount); the engine grants a group once its window began.
    const g = this.groupRef(group);
    const ch = await this.mustCardholder(accountId);
    if (this.opts.accessGroups === 'accessRules') {
      const info = await this.ruleInfo(g);
      if (info.deny || info.system) {
        throw new LockstepError(
          'config',
          `${this.where()}: access rule ${info.name} (${g}) is a ${info.system ? 'system' : 'denying'} rule; map a granting rule`,
          { field: 'group', retryable: false },
        );
      }
      if (ch.AccessRules.includes(g)) return;
      await this.post(`AddCardholders on access rule ${info.name}`, [`entity=${g}`, `AddCardholders(${ch.Guid})`]);
    } else {
      if (ch.Groups.includes(g)) return;
      await this.post('AddCardholderIntoGroup', [`entity=${g}`, `AddCardholderIntoGroup(${ch.Guid})`]);
    }
  }

  async revoke(accountId: string, group: string): Promise<void> {
    const g = this.groupRef(group);
    const ch = await this.cardholder(accountId);
    if (!ch) return;
    if (this.opts.accessGroups === 'accessRules') {
      if (!ch.AccessRules.includes(g)) return;
      await this.post('RemoveCardholders from access rule', [`entity=${g}`, `RemoveCardholders(${ch.Guid})`]);
    } else {
      if (!ch.Groups.includes(g)) return;
      await this.post('RemoveCardholderFromGroup', [`entity=${g}`, `RemoveCardholderFromGroup(${ch.Guid})`]);
    }
  }

  // ---------------------------------------------------------------- credentials

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    const ch = await this.mustCardholder(accountId);
    if (!guid.test(credentialId) || !ch.Credentials.includes(credentialId)) {
      // revoked is unassignment: a credential no longer on the cardholder is already revoked
      if (state === 'revoked') return;
      throw new LockstepError('not_found', `${this.where()}: cardholder ${accountId} has no credential ${credentialId}`, { retryable: false });
    }
    const cred = await this.entity(credentialId, credentialSchema, 'credential');
    const now = credentialStatus(cred);
    switch (state) {
      case 'active':
        if (now !== 'active') await this.activate('activate credential', credentialId, cred.Status);
        return;
      case 'suspended':
        if (now !== 'suspended') await this.post('deactivate credential', [`entity=${credentialId}`, 'Status.Deactivate()']);
        return;
      case 'lost':
        if (now !== 'lost') await this.post('mark credential lost', [`entity=${credentialId}`, 'Status.Lost()']);
        return;
      case 'revoked':
        // deactivated first, so that a card handed back to the pool never opens anything on its own
        if (now === 'active') await this.post('deactivate credential', [`entity=${credentialId}`, 'Status.Deactivate()']);
        await this.post('unassign credential', [`entity=${ch.Guid}`, `Credentials-${credentialId}`]);
        return;
    }
  }

  // ---------------------------------------------------------------- events

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    const now = Date.now();
    // a first read starts now (five seconds back, for a server clock behind ours)
    if (cursor === null) return { events: [], cursor: eventCursor.encode({ v: 1, from: now - 5000, seen: [] }) };
    const st = eventCursor.decode(cursor);
    const lookback = this.opts.eventsLookbackMinutes * 60_000;
    // a window cut short continues where it stopped; a new one looks back for late events
    const start = st.more ? st.from : st.from - lookback;
    const r = await this.call(
      'CardholderActivity report',
      'GET',
      'report/CardholderActivity',
      [
        'Events*',
        `Events@${GRANTED_EVENT}`,
        `TimeRange.SetTimeRange(${new Date(start).toISOString()},${new Date(now).toISOString()})`,
        `SortOrder=${SORT_ASCENDING}`,
        `MaximumResultCount=${this.opts.eventsLimit}`,
      ].join(','),
    );
    const rows = this.parse(activityRows, r.result ?? [], 'CardholderActivity report');
    const seen = new Map(st.seen);
    const events: AccessEvent[] = [];
    let last = start;
    for (const row of rows) {
      const at = Date.parse(row.Timestamp);
      if (!Number.isFinite(at)) continue;
      last = Math.max(last, at);
      const id = [row.Timestamp, row.CardholderGuid ?? '', row.CredentialGuid ?? '', row.APGuid ?? '', row.EventType ?? ''].join('|');
      if (seen.has(id)) continue;
      seen.set(id, at);
      events.push({
        id,
        at: new Date(at).toISOString(),
        accountId: realGuid(row.CardholderGuid),
        credentialId: realGuid(row.CredentialGuid),
        door: realGuid(row.AccessPointGroupGuid) ?? realGuid(row.APGuid),
        granted: true,
      });
    }
    // a window cut short by MaximumResultCount continues after its last row; otherwise it ends now
    const truncated = r.status === 'TooManyResults' || rows.length >= this.opts.eventsLimit;
    const from = truncated ? last : Math.max(st.from, now);
    const keep = [...seen].filter(([, at]) => at >= from - lookback);
    return { events, cursor: eventCursor.encode({ v: 1, from, seen: keep, ...(truncated ? { more: true as const } : {}) } satisfies EventCursor) };
  }

  // ---------------------------------------------------------------- mapping

  private async toAccount(ch: GCardholder): Promise<Account> {
    const creds = (await mapLimit(ch.Credentials, this.opts.concurrency, (c) => this.entity(c, credentialSchema, 'credential').catch(nullIfNotFound))).filter(
      (c): c is GCredential => c !== null,
    );
    const memberships =
      this.opts.accessGroups === 'accessRules'
        ? await this.ruleMemberships(ch.AccessRules)
        : ch.Groups.map((g): Membership => ({ group: g, from: null, until: null }));
    const lastAccess =
      ch.LastAccessPoint && ch.LastAccessPoint.AccessGranted && !isNoDate(ch.LastAccessPoint.AccessPointDate)
        ? toIso(ch.LastAccessPoint.AccessPointDate!)
        : null;
    const field = ch.CustomFields.find((f) => f.Name === this.opts.externalIdField)?.Value;
    const now = Date.now();
    return {
      id: ch.Guid,
      externalId: typeof field === 'string' && field !== '' ? field : null,
      displayName: ch.Name || [ch.FirstName, ch.LastName].filter((x) => x).join(' '),
      state: cardholderState(ch),
      memberships,
      credentials: creds.map((c): Credential => {
        const status = credentialStatus(c);
        const number = c.Format?.CardId !== undefined ? String(c.Format.CardId) : c.Format?.UniqueId;
        return {
          id: c.Guid,
          type: this.credentialType(c),
          ...(number !== undefined ? { number } : {}),
          status,
          lastUsedAt: LAST_ACCESS_POINT_FOR_SINGLE_CREDENTIAL && creds.length === 1 ? lastAccess : null,
          ...(this.opts.offline
            ? { keyExpiresAt: status === 'active' ? offlineKeyExpiry(now, this.opts.offline.revalidationDays, c.Status.ExpirationDate ?? null) : null }
            : {}),
        };
      }),
      ...(this.opts.validity === 'account' ? { validity: statusWindow(ch.Status) } : {}),
    };
  }

  private async ruleMemberships(rules: string[]): Promise<Membership[]> {
    return mapLimit(rules, this.opts.concurrency, async (g): Promise<Membership> => {
      // the window of a temporary rule bounds every membership of it
      const info = await this.ruleInfo(g).catch(nullIfNotFound);
      return { group: g, from: info?.window.from ?? null, until: info?.window.until ?? null };
    });
  }

  private credentialType(c: GCredential): CredentialType {
    if (c.Format?.Type === 'Keypad') return 'pin';
    if (c.Format?.IsMobile) return 'mobile';
    return this.opts.credentialType ?? (this.opts.offline ? 'key' : 'card');
  }

  /** Writes the account window with the Status methods (A-5), keeping a deactivated cardholder deactivated. */
  private async writeWindow(ch: GCardholder, want: Validity): Promise<void> {
    const have = statusWindow(ch.Status);
    const fromDiffers = want.from !== null && !sameInstant(have.from, want.from);
    if (!fromDiffers && sameInstant(have.until, want.until)) return;
    const suspended = cardholderState(ch) === 'suspended';
    if (fromDiffers && !suspended) {
      await this.post('set cardholder activation and expiration', [
        `entity=${ch.Guid}`,
        want.until === null ? `Status.Activate(${iso(want.from!)})` : `Status.Activate(${iso(want.from!)},${iso(want.until)})`,
      ]);
    } else if (want.until !== null) {
      await this.post('set cardholder expiration', [`entity=${ch.Guid}`, `Status.Deactivate(${iso(want.until)})`]);
    } else if (!suspended) {
      // no end: activated again from its own activation date, which removes the expiration
      await this.post('remove cardholder expiration', [`entity=${ch.Guid}`, have.from ? `Status.Activate(${iso(have.from)})` : 'Status.Activate()']);
    }
  }

  /** Activates now, keeping an expiration still to come (Activate() alone would remove it, A-5). */
  private async activate(what: string, id: string, status: z.infer<typeof statusSchema>): Promise<void> {
    const until = isNoDate(status.ExpirationDate) ? null : Date.parse(status.ExpirationDate!);
    const call = until !== null && until > Date.now() ? `Status.Activate(${new Date().toISOString()},${new Date(until).toISOString()})` : 'Status.Activate()';
    await this.post(what, [`entity=${id}`, call]);
  }

  // ---------------------------------------------------------------- plumbing

  private async findCardholders(externalId: string): Promise<GCardholder[]> {
    const field = await this.externalIdFieldGuid();
    const r = await this.call(
      'CardholderConfiguration report by custom field',
      'GET',
      'report/CardholderConfiguration',
      `CustomFields@CustomField(${field},${qValue(externalId)})`,
    );
    const rows = this.parse(guidRows, r.result ?? [], 'CardholderConfiguration report');
    const found = await mapLimit(rows, this.opts.concurrency, (x) => this.cardholder(x.Guid));
    // the report's match is the server's; the link is exact
    return found.filter((c): c is GCardholder => c !== null && c.CustomFields.find((f) => f.Name === this.opts.externalIdField)?.Value === externalId);
  }

  private async setExternalId(id: string, externalId: string): Promise<void> {
    await this.externalIdFieldGuid();
    await this.call(
      'set the externalId custom field',
      'PUT',
      `customField/${id}/${encodeURIComponent(this.opts.externalIdField)}/${encodeURIComponent(externalId)}`,
    );
  }

  /** The custom field's GUID (CustomFields of the system configuration), made once when allowed. */
  private externalIdFieldGuid(): Promise<string> {
    this.fieldGuid ??= (async () => {
      const read = async (): Promise<string | undefined> => {
        const r = await this.call('read custom fields', 'GET', 'entity', `entity=${SYSTEM_CONFIGURATION},CustomFields`);
        const fields = this.parse(customFieldsSchema, r.result, 'custom fields').CustomFields;
        return fields.find((f) => f.EntityType === 'Cardholder' && f.Name === this.opts.externalIdField)?.Guid;
      };
      const found = await read();
      if (found) return found;
      if (!this.opts.createExternalIdField) {
        throw new LockstepError(
          'config',
          `${this.where()}: Security Center has no cardholder custom field ${this.opts.externalIdField} (Text) to hold lockstep's externalId; create it in Config Tool or set createExternalIdField: true`,
          { field: `systems.${this.name}.options.externalIdField`, retryable: false },
        );
      }
      await this.call('create the externalId custom field', 'POST', `customField/Cardholder/${encodeURIComponent(this.opts.externalIdField)}/Text/`);
      const made = await read();
      if (!made) throw new LockstepError('internal', `${this.where()}: custom field ${this.opts.externalIdField} was created but is not listed`);
      return made;
    })().catch((e: unknown) => {
      this.fieldGuid = undefined;
      throw e;
    });
    return this.fieldGuid;
  }

  private async cardholder(id: string): Promise<GCardholder | null> {
    if (!guid.test(id)) return null;
    const e = await this.entity(id, z.looseObject({ EntityType: z.string() }), 'cardholder').catch(nullIfNotFound);
    if (!e || e.EntityType !== 'Cardholder') return null;
    return this.parse(cardholderSchema, e, 'cardholder');
  }

  private async mustCardholder(id: string): Promise<GCardholder> {
    const ch = await this.cardholder(id);
    if (!ch) throw new LockstepError('not_found', `${this.where()}: no cardholder ${id}`, { retryable: false });
    return ch;
  }

  private async ruleInfo(g: string): Promise<RuleInfo> {
    const cached = this.rules.get(g);
    if (cached && Date.now() - cached.at < RULE_TTL_MS) return cached;
    const e = await this.entity(g, z.looseObject({ EntityType: z.string() }), 'access rule');
    if (e.EntityType !== 'AccessRule')
      throw new LockstepError('config', `${this.where()}: ${g} is a ${e.EntityType}, not an access rule`, { field: 'group', retryable: false });
    const r = this.parse(accessRuleSchema, e, 'access rule');
    const temporary = r.AccessRuleType === 'Temporary';
    const info: RuleInfo = {
      name: r.Name || g,
      window: temporary
        ? { from: isNoDate(r.StartTime) ? null : toIso(r.StartTime!), until: isNoDate(r.EndTime) ? null : toIso(r.EndTime!) }
        : { from: null, until: null },
      deny: r.IsDenyingRule === true,
      system: r.IsSystemRule === true,
      at: Date.now(),
    };
    this.rules.set(g, info);
    return info;
  }

  private async entity<T>(id: string, schema: z.ZodType<T>, what: string): Promise<T> {
    const r = await this.call(`read ${what} ${id}`, 'GET', `entity/${id}`);
    return this.parse(schema, r.result, what);
  }

  private groupRef(group: string): string {
    if (!guid.test(group)) {
      throw new LockstepError(
        'config',
        `${this.where()}: access group ref "${group}" is not a Security Center GUID (the ${this.opts.accessGroups === 'accessRules' ? 'access rule' : 'cardholder group'}'s Guid)`,
        {
          field: 'group',
          retryable: false,
        },
      );
    }
    return group.toLowerCase();
  }

  private post(what: string, segments: string[], opts: { idempotent?: boolean } = {}): Promise<{ status: string; result: unknown }> {
    return this.call(what, 'POST', 'entity', segments.join(','), opts.idempotent ?? true);
  }

  /**
   * One Web SDK request: Basic auth, the envelope unwrapped, `Fail` and HTTP errors turned into
   * LockstepErrors naming the system, the call and what the Web SDK said; a 401 re-authenticates once (A-4).
   */
  private async call(what: string, method: HttpMethod, path: string, q?: string, idempotent?: boolean): Promise<{ status: string; result: unknown }> {
    const query: Record<string, QueryValue> | undefined = q === undefined ? undefined : { q };
    const headers: Record<string, string> = { authorization: this.authorization, ...(method === 'POST' || method === 'PUT' ? { 'content-length': '0' } : {}) };
    const send = () => this.http.request<unknown>(method, path, { query, headers, ...(idempotent !== undefined ? { idempotent } : {}) });
    let body: unknown;
    try {
      try {
        body = (await send()).body;
      } catch (e) {
        if (!(REAUTHENTICATE_ONCE && e instanceof LockstepError && e.status === 401)) throw e;
        body = (await send()).body;
      }
    } catch (e) {
      if (!(e instanceof LockstepError)) throw e;
      const code = e.status === 401 ? 'auth' : e.code;
      const hint = e.status === 401 ? ` (user ${this.opts.username}: check the password, the ApplicationId and the "Log on using the SDK" privilege)` : '';
      throw new LockstepError(code, `${this.where()}: ${what}: ${e.message}${hint}`, {
        retryable: code === 'auth' ? false : e.retryable,
        retryAfterMs: e.retryAfterMs,
        status: e.status,
        details: e.details,
        cause: e,
      });
    }
    const env = envelopeSchema.safeParse(body);
    if (!env.success)
      throw new LockstepError('internal', `${this.where()}: ${what}: the answer is not a Web SDK envelope ({ Rsp: { Status } })`, { retryable: false });
    const { Status, Result } = env.data.Rsp;
    if (Status === 'Fail') {
      const f = failSchema.safeParse(Result);
      const sdk = f.success ? (f.data.SdkErrorCode ?? 'Unknown') : 'Unknown';
      const said = f.success ? (f.data.Message ?? '') : '';
      throw new LockstepError(sdkErrorKind(sdk), `${this.where()}: ${what}: the Web SDK answered Fail ${sdk}${said ? `: ${said}` : ''}`, {
        retryable: false,
        details: { method, path, sdkErrorCode: sdk, message: said },
      });
    }
    return { status: Status, result: Result };
  }

  private where(): string {
    return `Genetec Security Center (system ${this.name})`;
  }
}

// ---------------------------------------------------------------- helpers

/** First and last name: the identity's when they spell the displayName, else the whole displayName as last name. */
export function namesFor(input: Pick<AccountInput, 'displayName' | 'firstName' | 'lastName'>): { firstName: string; lastName: string } {
  const first = input.firstName?.trim() || '';
  const last = input.lastName?.trim() || '';
  if (last && [first, last].filter(Boolean).join(' ') === input.displayName) return { firstName: first, lastName: last };
  return { firstName: '', lastName: input.displayName };
}

function cardholderState(ch: GCardholder): AccountState {
  // Inactive (deactivated, or activation still to come) and Expired open nothing: suspended. An
  // entitled person is activated now, even where an operator had scheduled a later activation.
  return ch.Status.State === 'Active' ? 'active' : 'suspended';
}

function credentialStatus(c: GCredential): CredentialStatus {
  switch (c.Status.State) {
    case 'Active':
      return 'active';
    case 'Lost':
    case 'Stolen':
      return 'lost';
    default:
      return 'suspended';
  }
}

function statusWindow(s: z.infer<typeof statusSchema>): Validity {
  return {
    from: isNoDate(s.ActivationDate) ? null : toIso(s.ActivationDate!),
    until: s.ExpirationType === 'Never' || isNoDate(s.ExpirationDate) ? null : toIso(s.ExpirationDate!),
  };
}

/** Web SDK dates without a zone are the server's UTC (the collection's "0001-01-01T00:00:00"). */
function toIso(s: string): string {
  const t = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s}Z`);
  return Number.isNaN(t) ? s : new Date(t).toISOString();
}

function iso(s: string): string {
  return new Date(s).toISOString();
}

function sameInstant(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return Date.parse(a) === Date.parse(b);
}

function realGuid(g: string | null | undefined): string | null {
  return g && g !== ZERO ? g : null;
}

function nullIfNotFound(e: unknown): null {
  if (e instanceof LockstepError && e.code === 'not_found') return null;
  throw e;
}

/** Validates options, reads the secret files, and builds the driver. */
export async function createGenetecDriver(ctx: DriverContext, env: NodeJS.ProcessEnv = process.env): Promise<GenetecDriver> {
  const opts = parseDriverOptions(genetecOptionsSchema, ctx);
  const read = async (file: string, field: string): Promise<string> => (await readOptionFile(ctx, file, field)).trim();
  const password = opts.password ?? (opts.passwordFile ? await read(opts.passwordFile, 'passwordFile') : env.GENETEC_PASSWORD?.trim());
  const applicationId =
    opts.applicationId ?? (opts.applicationIdFile ? await read(opts.applicationIdFile, 'applicationIdFile') : env.GENETEC_APPLICATION_ID?.trim());
  if (!password) {
    throw new LockstepError('config', `systems.${ctx.system}.options: give password or passwordFile, or set GENETEC_PASSWORD`, {
      field: `systems.${ctx.system}.options.password`,
      retryable: false,
    });
  }
  if (!applicationId) {
    throw new LockstepError(
      'config',
      `systems.${ctx.system}.options: give applicationId (the SDK certificate's) or applicationIdFile, or set GENETEC_APPLICATION_ID`,
      {
        field: `systems.${ctx.system}.options.applicationId`,
        retryable: false,
      },
    );
  }
  const ca = opts.caFile ? await readOptionFile(ctx, opts.caFile, 'caFile') : undefined;
  return new GenetecDriver(opts, { applicationId, password, ...(ca ? { ca } : {}) }, ctx.system, retryLog(ctx, 'Genetec Web SDK request retried'));
}

export const factory: DriverFactory = {
  type: 'genetec',
  create: (ctx) => createGenetecDriver(ctx),
};

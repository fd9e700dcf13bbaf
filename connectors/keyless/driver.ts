import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, Credential, CredentialStatus, Membership, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, type HttpMethod, type QueryValue, type RetryInfo } from '../../src/drivers/http.js';
import { httpUrlOption, maxAttemptsOption, pageSizeOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import { mapLimit, optionsField, parseDriverOptions, readOptionFile, responseParser } from '../../src/drivers/util.js';
import {
  ACTIVATED,
  ADMIN_ROLE,
  DEFAULT_OPERATING_KEY_VALIDITY,
  MEDIA_TYPE,
  OPEN_FROM,
  OPEN_UNTIL,
  OPERATION_OPEN,
  PAGING,
  PATHS,
  PRODUCTION_URL,
  REQUEST_CONTENT_TYPE,
  SINGLE_INTERVAL,
  USER_FIELDS,
  USER_FILTER_PARAM,
  USER_ROLE,
  type LoginBody,
} from './assumptions.js';
import { isoDurationDays, isoDurationMs } from './duration.js';

/**
 * The LockDriver for Abloy Keyless (CUMULUS / BEAT), over the Administration API 2.x. What the
 * vendor documents and what lockstep assumes is kept apart in assumptions.ts.
 *
 * - Accounts are Keyless users with role USER (administrators are never lockstep's). The link
 *   is the user's externalId field (assumed); findAccount reads the users and compares exactly,
 *   as no filter on it is documented.
 * - Keyless has no groups: a lockstep access group is a named set of locking devices declared
 *   in options.accessGroups. A grant is one OPEN permission per locking device of the group,
 *   SINGLE_INTERVAL with the entitlement's window (validity: 'membership'); a revocation deletes
 *   the user's permissions on those devices. A device belongs to one group at most, so revoking
 *   one group never takes a door another group gives.
 * - No account suspension (none documented): a leaver loses every permission, which the engine
 *   plans as one revocation per group.
 * - Permissions reach the locks through operating keys, which keep opening offline for the
 *   permission's operatingKeyValidityDuration (default P8D) after they were last refreshed: a
 *   revocation reaches an offline lock when the key expires or is refreshed. The driver writes
 *   the configured duration on each permission, declares it as offline.revalidationDays (and
 *   widens it when it reads a longer one from the system), and reports each activated operating
 *   device with keyExpiresAt = now + the longest duration among the user's permissions: the
 *   latest instant any key the phone holds can still open.
 * - Operating devices are read, never changed: the reference shows no way to block one, so
 *   credentialStates is false and a lost phone is handled by revoking (see README).
 * - Auth: X-Api-Key on every call, and a JWT from POST login (an administrator's userId and
 *   accessKey) as Bearer; a 401 or 403 logs in again once, then fails with code auth.
 * - 429 and 503 wait out Retry-After (the shared HTTP client), up to maxRetryAfterMs; a longer
 *   wait is surfaced as rate_limited with retryAfterMs so the queue delays the job instead.
 */

const accessGroupSchema = z.strictObject({
  name: z.string().min(1),
  /** Keyless locking device ids (padlocks, key deposits, swing handles, controllers). */
  lockingDevices: z.array(z.string().min(1)).min(1),
});

export const keylessOptionsSchema = z
  .strictObject({
    /** The API's base URL (READ: production eu-api…/administration, staging eu-staging-api…/administration). */
    url: httpUrlOption().default(PRODUCTION_URL),
    /** The application's API key (X-Api-Key); prefer apiKeyFile, ${ENV} in lockstep.yaml, or KEYLESS_API_KEY. */
    apiKey: z.string().min(1).optional(),
    apiKeyFile: z.string().min(1).optional(),
    /** The administrator's API credentials, exchanged for a JWT at the login endpoint. */
    login: z
      .strictObject({
        userId: z.string().min(1),
        accessKey: z.string().min(1).optional(),
        accessKeyFile: z.string().min(1).optional(),
      })
      .refine((l) => !(l.accessKey !== undefined && l.accessKeyFile !== undefined), { message: 'give at most one of accessKey and accessKeyFile' }),
    /** lockstep access groups: a reference (used in the mappings) → a name and the locking devices it opens. */
    accessGroups: z.record(z.string().min(1), accessGroupSchema).refine((g) => Object.keys(g).length > 0, { message: 'declare at least one access group' }),
    /** Written on every permission lockstep creates; how long an operating key opens offline without a refresh. */
    operatingKeyValidityDuration: z
      .string()
      .default(DEFAULT_OPERATING_KEY_VALIDITY)
      .refine((d) => isoDurationMs(d) !== null && isoDurationMs(d)! > 0, { message: 'an ISO 8601 duration such as P8D or PT36H' }),
    timeoutMs: timeoutMsOption(15_000),
    maxAttempts: maxAttemptsOption(),
    /** The longest Retry-After waited out in-process; longer ones go back to the queue as rate_limited. */
    maxRetryAfterMs: z.number().int().min(0).default(30_000),
    /** Users per listAccounts page (sent as the page size). */
    pageSize: pageSizeOption(PAGING.maxSize, 100),
    /** Per-user look-ups (permissions, operating devices) in flight at once; mind the API key's rate limit. */
    concurrency: z.number().int().min(1).max(16).default(4),
  })
  .superRefine((o, ctx) => {
    // A device in two groups would make revoking one group take the other's door away.
    const owner = new Map<string, string>();
    for (const [ref, g] of Object.entries(o.accessGroups)) {
      g.lockingDevices.forEach((d, i) => {
        const other = owner.get(d);
        if (other !== undefined && other !== ref) {
          ctx.addIssue({
            code: 'custom',
            path: ['accessGroups', ref, 'lockingDevices', i],
            message: `locking device ${d} is already in access group ${other}: a device belongs to one group at most (grant both groups instead)`,
          });
        }
        owner.set(d, ref);
      });
    }
  });

export type KeylessOptions = z.input<typeof keylessOptionsSchema>;
type Options = z.output<typeof keylessOptionsSchema>;

// ---------------------------------------------------------------- response shapes (loose: minor versions add fields)

const pageOf = <T extends z.ZodType>(item: T) => z.looseObject({ items: z.array(item), nextPageToken: z.string().nullable().optional() });
const userSchema = z.looseObject({
  id: z.string(),
  role: z.string().optional(),
  [USER_FIELDS.externalId]: z.string().nullable().optional(),
  [USER_FIELDS.name]: z.string().nullable().optional(),
  [USER_FIELDS.email]: z.string().nullable().optional(),
});
type KlUser = z.infer<typeof userSchema>;
const deviceSchema = z.looseObject({ id: z.string(), name: z.string().nullable().optional(), hardwareModel: z.string().nullable().optional() });
const permissionSchema = z.looseObject({
  id: z.string(),
  userId: z.string(),
  lockingDeviceId: z.string(),
  operationType: z.string(),
  permissionType: z.string(),
  operatingKeyValidityDuration: z.string().nullable().optional(),
  start: z.string().nullable().optional(),
  end: z.string().nullable().optional(),
});
type KlPermission = z.infer<typeof permissionSchema>;
const operatingDeviceSchema = z.looseObject({
  id: z.string(),
  userId: z.string().optional(),
  name: z.string().nullable().optional(),
  activationStatus: z.string().optional(),
});
type KlOperatingDevice = z.infer<typeof operatingDeviceSchema>;
const createdSchema = z.looseObject({ id: z.string() });
const loginSchema = z.looseObject({ token: z.string().min(1) });

const parse = responseParser('Keyless');
const DAY_MS = 86_400_000;

export class KeylessDriver implements LockDriver {
  readonly name: string;
  /** offline.revalidationDays starts from the configured duration and widens to the longest the driver reads. */
  capabilities: DriverCapabilities;

  private readonly http: HttpClient;
  private readonly groups: Map<string, { name: string; devices: Set<string> }>;
  private readonly groupOfDevice = new Map<string, string>();
  private readonly keyValidityMs: number;
  private token?: string;
  private tokenLoading?: Promise<string>;

  constructor(
    private readonly opts: Options,
    private readonly auth: { apiKey: string; login: LoginBody },
    name = 'keyless',
    onRetry?: (info: RetryInfo) => void,
  ) {
    this.name = name;
    this.keyValidityMs = isoDurationMs(opts.operatingKeyValidityDuration)!;
    this.capabilities = {
      validity: 'membership',
      suspendAccount: false,
      credentialStates: false,
      accessEvents: 'none',
      offline: { revalidationDays: isoDurationDays(opts.operatingKeyValidityDuration)! },
      deleteAccount: true,
      // No field limits: the reference lockstep read documents none.
    };
    this.groups = new Map(Object.entries(opts.accessGroups).map(([ref, g]) => [ref, { name: g.name, devices: new Set(g.lockingDevices) }]));
    for (const [ref, g] of this.groups) for (const d of g.devices) this.groupOfDevice.set(d, ref);
    this.http = new HttpClient({
      baseUrl: opts.url,
      headers: { accept: MEDIA_TYPE, 'x-api-key': auth.apiKey },
      timeoutMs: opts.timeoutMs,
      maxAttempts: opts.maxAttempts,
      maxRetryAfterMs: opts.maxRetryAfterMs,
      onRetry,
    });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---------------------------------------------------------------- groups

  /** The configured groups, after checking that the system has every locking device they name. */
  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const known = new Set<string>();
    await this.eachPage(PATHS.lockingDevices, {}, deviceSchema, 'list locking devices', (d) => known.add(d.id));
    for (const [ref, g] of this.groups) {
      const missing = [...g.devices].filter((d) => !known.has(d));
      if (missing.length > 0) {
        const field = optionsField({ system: this.name }, `accessGroups.${ref}.lockingDevices`);
        throw new LockstepError('config', `${field}: Keyless (${this.name}) has no locking device ${missing.join(', ')}`, { field, retryable: false });
      }
    }
    return [...this.groups].map(([ref, g]) => ({ ref, name: g.name }));
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const body = await this.call('GET', PATHS.users, 'list users', {
      query: { [PAGING.sizeParam]: this.opts.pageSize, [PAGING.tokenParam]: cursor ?? undefined },
    });
    const page = parse(pageOf(userSchema), body, 'user list');
    const users = page.items.filter(isLockstepUser);
    const items = await mapLimit(users, this.opts.concurrency, (u) => this.toAccount(u));
    const next = page.nextPageToken ? page.nextPageToken : null;
    return { items, next: next !== null && next !== cursor ? next : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const u = await this.findUser(externalId);
    return u ? this.toAccount(u) : null;
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const u = await this.readUser(accountId);
    return u ? this.toAccount(u) : null;
  }

  /** Invites the user for externalId (role USER), or renames the one that has it. */
  async upsertAccount(input: AccountInput): Promise<Account> {
    const existing = await this.findUser(input.externalId);
    if (existing) {
      const patch: Record<string, string | null> = {};
      if ((existing[USER_FIELDS.name] ?? '') !== input.displayName) patch[USER_FIELDS.name] = input.displayName;
      if (input.email !== undefined && (existing[USER_FIELDS.email] ?? null) !== input.email) patch[USER_FIELDS.email] = input.email;
      if (Object.keys(patch).length > 0) await this.call('PATCH', PATHS.user(existing.id), `update user ${existing.id}`, { body: patch });
      return this.mustAccount(existing.id);
    }
    const body: Record<string, string> = { role: USER_ROLE, [USER_FIELDS.externalId]: input.externalId, [USER_FIELDS.name]: input.displayName };
    if (input.email) body[USER_FIELDS.email] = input.email;
    // The answer may carry the user's own access key (a login secret): only its id is read, nothing of it is kept or logged.
    const created = parse(createdSchema, await this.call('POST', PATHS.users, `invite user ${input.externalId}`, { body }), 'user invitation');
    return this.mustAccount(created.id);
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    if (state === 'active') return;
    throw new LockstepError(
      'precondition',
      `Keyless (${this.name}) has no account suspension: a leaver's permissions are revoked instead (account ${accountId})`,
      { retryable: false },
    );
  }

  /** Deletes the user's OPEN permissions on lockstep's devices first (no cascade is documented), then the user. */
  async deleteAccount(accountId: string): Promise<void> {
    const u = await this.readUser(accountId);
    if (!u) return;
    const perms = (await this.permissionsOf(u.id)).filter((p) => this.groupOfDevice.has(p.lockingDeviceId));
    for (const p of perms) await this.deletePermission(p);
    await this.ignoreNotFound(this.call('DELETE', PATHS.user(u.id), `delete user ${u.id}`));
  }

  // ---------------------------------------------------------------- memberships = permissions

  /**
   * One OPEN, SINGLE_INTERVAL permission with this window on every device of the group: a
   * missing one is created, one with another window (or type) is replaced, the new one first so
   * the door never closes in between; duplicates on a device are removed.
   */
  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const g = this.mustGroup(group);
    const u = await this.readUser(accountId);
    if (!u) throw new LockstepError('not_found', `Keyless (${this.name}) has no user ${accountId}`, { retryable: false });
    const window = { start: toStart(validity.from), end: toEnd(validity.until) };
    const held = await this.permissionsOf(u.id);
    for (const device of g.devices) {
      const onDevice = held.filter((p) => p.lockingDeviceId === device);
      let keepId = onDevice.find((p) => p.permissionType === SINGLE_INTERVAL && sameWindow(p, window))?.id;
      if (keepId === undefined) {
        const created = parse(
          createdSchema,
          await this.call('POST', PATHS.permissions, `grant permission on locking device ${device} to user ${u.id}`, {
            body: {
              userId: u.id,
              lockingDeviceId: device,
              operationType: OPERATION_OPEN,
              permissionType: SINGLE_INTERVAL,
              start: window.start,
              end: window.end,
              operatingKeyValidityDuration: this.opts.operatingKeyValidityDuration,
            },
          }),
          'permission',
        );
        keepId = created.id;
      }
      for (const p of onDevice) if (p.id !== keepId) await this.deletePermission(p);
    }
  }

  /** Deletes every OPEN permission of the user on the group's devices. */
  async revoke(accountId: string, group: string): Promise<void> {
    const g = this.mustGroup(group);
    const u = await this.readUser(accountId);
    if (!u) return;
    for (const p of await this.permissionsOf(u.id)) if (g.devices.has(p.lockingDeviceId)) await this.deletePermission(p);
  }

  // ---------------------------------------------------------------- credentials, events

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    throw new LockstepError(
      'precondition',
      `Keyless (${this.name}) cannot set operating device ${credentialId} of user ${accountId} ${state}: the Administration API reference shows no way to block one; revoke the user's permissions (offline locks learn it within the operating key validity)`,
      { retryable: false },
    );
  }

  /** The Administration API has no access events that lockstep read of (capabilities.accessEvents: 'none'). */
  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    return { events: [], cursor };
  }

  // ---------------------------------------------------------------- mapping

  private async toAccount(u: KlUser): Promise<Account> {
    const [perms, devices] = await Promise.all([this.permissionsOf(u.id), this.operatingDevicesOf(u.id)]);
    const longest = this.longestKeyValidityMs(perms);
    const now = Date.now();
    return {
      id: u.id,
      externalId: u[USER_FIELDS.externalId] || null,
      displayName: u[USER_FIELDS.name] ?? '',
      state: 'active',
      memberships: this.membershipsOf(perms),
      credentials: devices.map((d): Credential => {
        const active = d.activationStatus === undefined || d.activationStatus === ACTIVATED;
        return {
          id: d.id,
          type: 'mobile',
          ...(d.name ? { number: d.name } : {}),
          // a phone not yet activated holds no operating key: it opens nothing
          status: active ? 'active' : 'suspended',
          lastUsedAt: null,
          // the key was refreshed at the latest now, so it stops opening offline locks by now + its validity
          keyExpiresAt: active ? new Date(now + longest).toISOString() : null,
        };
      }),
    };
  }

  /**
   * A group is held when the user has OPEN permissions on its devices. It reads as one
   * membership when every device has exactly one SINGLE_INTERVAL permission with the same window;
   * otherwise (a device missing, duplicates, another window or type) the group is reported once
   * per window and at least twice, which the engine answers with a grant that makes it whole
   * again — while a leaver's revocation still finds it.
   */
  private membershipsOf(perms: KlPermission[]): Membership[] {
    const out: Membership[] = [];
    for (const [ref, g] of this.groups) {
      const on = perms.filter((p) => g.devices.has(p.lockingDeviceId));
      if (on.length === 0) continue;
      const windows = new Map<string, Validity>();
      for (const p of on) {
        const v = { from: fromStart(p.start), until: fromEnd(p.end) };
        windows.set(`${v.from}|${v.until}`, v);
      }
      const perDevice = new Set(on.map((p) => p.lockingDeviceId));
      const whole =
        perDevice.size === g.devices.size && on.length === g.devices.size && on.every((p) => p.permissionType === SINGLE_INTERVAL) && windows.size === 1;
      const list = [...windows.values()];
      for (const v of list) out.push({ group: ref, ...v });
      if (!whole && list.length === 1) out.push({ group: ref, ...list[0] });
    }
    return out;
  }

  /** The longest operating key validity among the user's permissions (the configured one if none says); widens the declared revalidation. */
  private longestKeyValidityMs(perms: KlPermission[]): number {
    let ms = this.keyValidityMs;
    for (const p of perms) {
      const d = p.operatingKeyValidityDuration ? isoDurationMs(p.operatingKeyValidityDuration) : null;
      if (d !== null && d > ms) ms = d;
    }
    const days = Math.ceil(ms / DAY_MS);
    if (days > (this.capabilities.offline?.revalidationDays ?? 0)) this.capabilities = { ...this.capabilities, offline: { revalidationDays: days } };
    return ms;
  }

  // ---------------------------------------------------------------- plumbing

  private mustGroup(group: string): { name: string; devices: Set<string> } {
    const g = this.groups.get(group);
    if (!g) {
      throw new LockstepError('config', `Keyless (${this.name}) has no access group ${group}: declare it in systems.${this.name}.options.accessGroups`, {
        field: 'group',
        retryable: false,
      });
    }
    return g;
  }

  private async findUser(externalId: string): Promise<KlUser | null> {
    const hits: KlUser[] = [];
    await this.eachPage(PATHS.users, {}, userSchema, 'list users', (u) => {
      if (isLockstepUser(u) && u[USER_FIELDS.externalId] === externalId) hits.push(u);
    });
    if (hits.length > 1) {
      throw new LockstepError('conflict', `${hits.length} Keyless users of ${this.name} carry externalId "${externalId}"; remove the duplicates`, {
        retryable: false,
        details: { users: hits.map((h) => h.id) },
      });
    }
    return hits[0] ?? null;
  }

  private async readUser(accountId: string): Promise<KlUser | null> {
    try {
      const u = parse(userSchema, await this.call('GET', PATHS.user(accountId), `read user ${accountId}`), 'user');
      return isLockstepUser(u) ? u : null;
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return null;
      throw e;
    }
  }

  private async mustAccount(userId: string): Promise<Account> {
    const a = await this.getAccount(userId);
    if (!a) throw new LockstepError('internal', `Keyless user ${userId} of ${this.name} vanished right after it was written`);
    return a;
  }

  /** The user's OPEN permissions (other operations, such as firmware updates, are not lockstep's). */
  private async permissionsOf(userId: string): Promise<KlPermission[]> {
    const out: KlPermission[] = [];
    await this.eachPage(PATHS.permissions, { [USER_FILTER_PARAM]: userId }, permissionSchema, `list permissions of user ${userId}`, (p) => {
      if (p.userId === userId && p.operationType === OPERATION_OPEN) out.push(p);
    });
    return out;
  }

  private async operatingDevicesOf(userId: string): Promise<KlOperatingDevice[]> {
    const out: KlOperatingDevice[] = [];
    await this.eachPage(PATHS.operatingDevices, { [USER_FILTER_PARAM]: userId }, operatingDeviceSchema, `list operating devices of user ${userId}`, (d) => {
      if (d.userId === undefined || d.userId === userId) out.push(d);
    });
    return out;
  }

  private async deletePermission(p: Pick<KlPermission, 'id' | 'lockingDeviceId'>): Promise<void> {
    await this.ignoreNotFound(this.call('DELETE', PATHS.permission(p.id), `revoke permission ${p.id} on locking device ${p.lockingDeviceId}`));
  }

  private async ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return;
      throw e;
    }
  }

  /** Every item of a paged list, in order; stops on a page token that does not move. */
  private async eachPage<T>(path: string, query: Record<string, QueryValue>, item: z.ZodType<T>, what: string, each: (x: T) => void): Promise<void> {
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
      const body = await this.call('GET', path, what, { query: { ...query, [PAGING.sizeParam]: this.opts.pageSize, [PAGING.tokenParam]: token } });
      const page = parse(pageOf(item), body, what);
      for (const x of page.items) each(x);
      const next = page.nextPageToken;
      if (!next || seen.has(next)) return;
      seen.add(next);
      token = next;
    }
  }

  /**
   * One API call with the JWT. Refused (401: the token expired or was revoked; 403: the key or
   * the token refused), it logs in again once and repeats; refused again, it fails with code
   * auth and says which. Any other failure becomes a LockstepError naming the system, the call
   * and what the API said.
   */
  private async call(method: HttpMethod, path: string, what: string, opts: { query?: Record<string, QueryValue>; body?: unknown } = {}): Promise<unknown> {
    const send = async (token: string): Promise<unknown> =>
      (
        await this.http.request<unknown>(method, path, {
          query: opts.query,
          body: opts.body,
          headers: { authorization: `Bearer ${token}`, ...(opts.body !== undefined ? { 'content-type': REQUEST_CONTENT_TYPE } : {}) },
        })
      ).body;
    let token = await this.currentToken();
    try {
      return await send(token);
    } catch (e) {
      if (!(e instanceof LockstepError && (e.status === 401 || e.status === 403))) throw this.vendorError(e, what);
    }
    if (this.token === token) this.token = undefined;
    token = await this.currentToken();
    try {
      return await send(token);
    } catch (e) {
      if (e instanceof LockstepError && (e.status === 401 || e.status === 403)) {
        const why =
          e.status === 403
            ? 'the API key (X-Api-Key) was refused (403) even with a fresh token: it is invalid, revoked or not for this API'
            : "the administrator's access token was refused (401) right after logging in again";
        throw new LockstepError('auth', `Keyless (${this.name}) ${what}: ${why}: ${e.message}`, {
          status: e.status,
          retryable: false,
          details: e.details,
          cause: e,
        });
      }
      throw this.vendorError(e, what);
    }
  }

  private vendorError(e: unknown, what: string): LockstepError {
    if (!(e instanceof LockstepError)) return new LockstepError('internal', `Keyless (${this.name}) ${what}: ${String(e)}`, { cause: e, retryable: false });
    return new LockstepError(e.code, `Keyless (${this.name}) ${what}: ${e.message}`, {
      field: e.field,
      status: e.status,
      retryable: e.retryable,
      retryAfterMs: e.retryAfterMs,
      details: e.details,
      cause: e,
    });
  }

  private currentToken(): Promise<string> {
    if (this.token) return Promise.resolve(this.token);
    const { userId } = this.auth.login;
    this.tokenLoading ??= this.http
      .request<unknown>('POST', PATHS.login, { body: this.auth.login, headers: { 'content-type': REQUEST_CONTENT_TYPE } })
      .then((r) => {
        const token = parse(loginSchema, r.body, 'login').token;
        this.token = token;
        return token;
      })
      .catch((e: unknown) => {
        if (e instanceof LockstepError && e.status === 403) {
          throw new LockstepError(
            'auth',
            `Keyless (${this.name}) login: the API key (X-Api-Key) was refused (403): it is invalid, revoked or not for this API`,
            {
              status: 403,
              retryable: false,
              cause: e,
            },
          );
        }
        if (e instanceof LockstepError && (e.status === 401 || e.status === 400)) {
          throw new LockstepError('auth', `Keyless (${this.name}) login: the API credentials of administrator ${userId} were refused (${e.status})`, {
            status: e.status,
            retryable: false,
            cause: e,
          });
        }
        throw this.vendorError(e, 'login');
      })
      .finally(() => {
        this.tokenLoading = undefined;
      });
    return this.tokenLoading;
  }
}

// ---------------------------------------------------------------- helpers

function isLockstepUser(u: KlUser): boolean {
  return u.role !== ADMIN_ROLE;
}

function iso(s: string): string {
  return new Date(s).toISOString();
}

function toStart(from: string | null): string {
  return from === null ? OPEN_FROM : iso(from);
}

function toEnd(until: string | null): string {
  return until === null ? OPEN_UNTIL : iso(until);
}

function fromStart(start: string | null | undefined): string | null {
  if (!start) return null;
  return Date.parse(start) <= Date.parse(OPEN_FROM) ? null : iso(start);
}

function fromEnd(end: string | null | undefined): string | null {
  if (!end) return null;
  return Date.parse(end) >= Date.parse(OPEN_UNTIL) ? null : iso(end);
}

function sameWindow(p: KlPermission, w: { start: string; end: string }): boolean {
  return !!p.start && !!p.end && Date.parse(p.start) === Date.parse(w.start) && Date.parse(p.end) === Date.parse(w.end);
}

/** Validates options, reads the API key and access key (files or environment), and builds the driver. */
export async function createKeylessDriver(ctx: DriverContext, env: NodeJS.ProcessEnv = process.env): Promise<KeylessDriver> {
  const opts = parseDriverOptions(keylessOptionsSchema, ctx);
  const read = async (file: string, field: string): Promise<string> => (await readOptionFile(ctx, file, field)).trim();
  const missing = (what: string, field: string, envName: string): LockstepError =>
    new LockstepError('config', `${optionsField(ctx)}: give ${what}, or set ${envName}`, { field: optionsField(ctx, field), retryable: false });
  const apiKey = opts.apiKey ?? (opts.apiKeyFile ? await read(opts.apiKeyFile, 'apiKeyFile') : env.KEYLESS_API_KEY?.trim());
  if (!apiKey) throw missing('apiKey or apiKeyFile', 'apiKey', 'KEYLESS_API_KEY');
  const accessKey =
    opts.login.accessKey ?? (opts.login.accessKeyFile ? await read(opts.login.accessKeyFile, 'login.accessKeyFile') : env.KEYLESS_ACCESS_KEY?.trim());
  if (!accessKey) throw missing('login.accessKey or login.accessKeyFile', 'login.accessKey', 'KEYLESS_ACCESS_KEY');
  return new KeylessDriver(opts, { apiKey, login: { userId: opts.login.userId, accessKey } }, ctx.system, retryLog(ctx, 'Keyless request retried'));
}

export const factory: DriverFactory = {
  type: 'keyless',
  create: (ctx) => createKeylessDriver(ctx),
};

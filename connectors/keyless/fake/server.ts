import { LoopbackServer } from '../../../src/drivers/loopback.js';
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ADMIN_ROLE,
  DEFAULT_OPERATING_KEY_VALIDITY,
  MEDIA_TYPE,
  OPERATION_OPEN,
  PAGING,
  PATHS,
  PERMISSION_TYPES,
  USER_FIELDS,
  USER_FILTER_PARAM,
  USER_ROLE,
  type ErrorBody,
} from '../assumptions.js';
import { isoDurationMs } from '../duration.js';

/**
 * A fake Abloy Keyless Administration API 2.x on 127.0.0.1, for tests and demos. It serves
 * under `/administration/` what the lockstep driver uses, as assumptions.ts describes it:
 *
 * - Every request must carry the API key in X-Api-Key (403 otherwise, as the vendor documents)
 *   and name the vendor media type in Accept (406 otherwise: the vendor says it must, and not
 *   what it answers when it is missing). Successful answers carry that media type.
 * - `POST /login` exchanges an administrator's `{ userId, accessKey }` for `{ token }` (a JWT
 *   with an `exp`); every other call needs it as a Bearer token (401 when missing, unknown or
 *   expired).
 * - `/user` (list, invite), `/user/{id}` (read, PATCH, delete), `/locking-device(/{id})` (read),
 *   `/permission` (list with `user-id`, create), `/permission/{id}` (read, delete),
 *   `/operating-device` (list with `user-id`).
 * - Lists answer `{ items, nextPageToken }`, paged by `pageSize` and `pageToken`.
 * - Creates answer 201 (a permission only `{ id }`), deletes 204 (also for an id it does not
 *   hold, as the community mock does); errors are `{ status, error, message }`.
 *
 * Levers: failNext (status and Retry-After), a rate limit per API key, expiring every token,
 * rotating the API key, seeding users, locking devices and operating devices, and the
 * requests it received.
 */

export interface FakeKeylessOptions {
  apiKey?: string;
  /** The administrator whose API credentials log in. */
  admin?: { userId: string; accessKey: string };
  lockingDevices?: Array<{ id: string; name: string; hardwareModel?: string }>;
  /** Lifetime of the tokens login hands out. Default one hour. */
  tokenTtlMs?: number;
}

export interface FakeUser {
  id: string;
  role: 'ADMIN' | 'USER';
  externalId: string | null;
  name: string | null;
  email: string | null;
  /** The user's own login secret, shown once at creation (as the community mock does). */
  accessKey: string;
}

export interface FakeLockingDevice {
  id: string;
  name: string;
  claimingStatus: 'CLAIMED' | 'UNCLAIMED';
  hardwareModel: string | null;
}

export interface FakePermission {
  id: string;
  userId: string;
  lockingDeviceId: string;
  operationType: string;
  permissionType: string;
  operatingKeyValidityDuration: string;
  start: string;
  end: string;
  weekdays?: string[];
  intervals?: string[];
}

export interface FakeOperatingDevice {
  id: string;
  userId: string;
  name: string;
  activationStatus: 'PENDING_ACTIVATION' | 'ACTIVATED';
  /** Not in the API's view: the operating keys the phone holds since its last refresh (the offline model). */
  keys: FakeOperatingKey[];
  refreshedAt: number | null;
}

/** What an operating key lets a phone open offline: a lock, from when, until when (the permission's end, or the refresh plus the key validity). */
export interface FakeOperatingKey {
  lockingDeviceId: string;
  from: number;
  until: number;
}

/** One request as the fake saw it (secrets reduced to whether they were right). */
export interface FakeRequest {
  method: string;
  path: string;
  query: string;
  accept: string | null;
  apiKeyOk: boolean;
  bearer: boolean;
  status: number;
}

interface Ctx {
  url: URL;
  params: string[];
  body: unknown;
}
interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
interface Route {
  method: string;
  regex: RegExp;
  public?: boolean;
  handle(ctx: Ctx): Reply;
}

class FakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  409: 'Conflict',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const BASE = '/administration/';

export class FakeKeyless {
  apiKey: string;
  readonly admin: { userId: string; accessKey: string };
  readonly users = new Map<string, FakeUser>();
  readonly lockingDevices = new Map<string, FakeLockingDevice>();
  readonly permissions = new Map<string, FakePermission>();
  readonly operatingDevices = new Map<string, FakeOperatingDevice>();
  readonly requests: FakeRequest[] = [];
  url = '';
  private readonly tokens = new Map<string, number>();
  private readonly tokenTtlMs: number;
  private faults: Array<{ status: number; remaining: number; retryAfterSeconds?: number }> = [];
  private limit?: { max: number; windowMs: number; retryAfterSeconds: number; hits: number[] };
  private readonly routes: Route[] = [];
  private readonly http = new LoopbackServer((req, res) => void this.dispatch(req, res));

  constructor(opts: FakeKeylessOptions = {}) {
    this.apiKey = opts.apiKey ?? `key-${randomBytes(12).toString('hex')}`;
    this.admin = opts.admin ?? { userId: randomUUID(), accessKey: randomBytes(16).toString('hex') };
    this.tokenTtlMs = opts.tokenTtlMs ?? 3_600_000;
    this.users.set(this.admin.userId, {
      id: this.admin.userId,
      role: ADMIN_ROLE,
      externalId: null,
      name: 'API administrator',
      email: null,
      accessKey: this.admin.accessKey,
    });
    for (const d of opts.lockingDevices ?? [
      { id: 'ld-entrance', name: 'Main entrance swing handle', hardwareModel: 'SWING_HANDLE' },
      { id: 'ld-yard', name: 'Yard gate padlock', hardwareModel: 'PADLOCK' },
      { id: 'ld-keys', name: 'Key deposit', hardwareModel: 'KEY_DEPOSIT' },
      { id: 'ld-plant', name: 'Plant room controller', hardwareModel: 'CONTROLLER' },
    ]) {
      this.addLockingDevice(d);
    }
    this.defineRoutes();
  }

  // ---------------------------------------------------------------- levers

  /** The next `times` requests are answered with this status (and Retry-After seconds, if given). */
  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.faults.push({ status, remaining: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds });
  }

  clearFaults(): void {
    this.faults = [];
    this.limit = undefined;
  }

  /** At most `max` requests per `windowMs` for the API key; more get 429 with Retry-After. */
  rateLimit(max: number, windowMs: number, retryAfterSeconds = 1): void {
    this.limit = { max, windowMs, retryAfterSeconds, hits: [] };
  }

  /** Every token handed out so far is refused from now on (as if they expired). */
  expireTokens(): void {
    this.tokens.clear();
  }

  /** A new API key; the old one gets 403 from now on. */
  rotateApiKey(key = `key-${randomBytes(12).toString('hex')}`): string {
    this.apiKey = key;
    return key;
  }

  addLockingDevice(d: { id?: string; name: string; hardwareModel?: string }): FakeLockingDevice {
    const dev: FakeLockingDevice = { id: d.id ?? randomUUID(), name: d.name, claimingStatus: 'CLAIMED', hardwareModel: d.hardwareModel ?? null };
    this.lockingDevices.set(dev.id, dev);
    return dev;
  }

  addUser(u: { externalId?: string | null; name?: string | null; email?: string | null; role?: 'ADMIN' | 'USER' } = {}): FakeUser {
    const user: FakeUser = {
      id: randomUUID(),
      role: u.role ?? 'USER',
      externalId: u.externalId ?? null,
      name: u.name ?? null,
      email: u.email ?? null,
      accessKey: randomBytes(16).toString('hex'),
    };
    this.users.set(user.id, user);
    return user;
  }

  seedUsers(count: number, opts: { externalIdPrefix?: string } = {}): FakeUser[] {
    const out: FakeUser[] = [];
    for (let i = 0; i < count; i++) {
      const x = `${opts.externalIdPrefix ?? 'seed-'}${randomBytes(4).toString('hex')}-${i}`;
      out.push(this.addUser({ externalId: x, name: `Seeded ${x}` }));
    }
    return out;
  }

  /** A phone that installed the app for this user (ACTIVATED: it holds operating keys). */
  addOperatingDevice(userId: string, opts: { name?: string; activated?: boolean } = {}): FakeOperatingDevice {
    if (!this.users.has(userId)) throw new Error(`fake Keyless has no user ${userId}`);
    const d: FakeOperatingDevice = {
      id: randomUUID(),
      userId,
      name: opts.name ?? 'Phone',
      activationStatus: opts.activated === false ? 'PENDING_ACTIVATION' : 'ACTIVATED',
      keys: [],
      refreshedAt: null,
    };
    this.operatingDevices.set(d.id, d);
    if (d.activationStatus === 'ACTIVATED') this.refreshKeys(userId);
    return d;
  }

  /**
   * The user's activated phones fetch fresh operating keys (the app online): each OPEN
   * permission becomes a key that opens its lock until the permission ends or the key's
   * validity runs out, whichever is first. A permission deleted since is gone from the keys.
   */
  refreshKeys(userId: string, at = Date.now()): void {
    const keys = this.permissionsOf(userId)
      .filter((p) => p.operationType === OPERATION_OPEN)
      .map((p) => ({
        lockingDeviceId: p.lockingDeviceId,
        from: Date.parse(p.start),
        until: Math.min(Date.parse(p.end), at + (isoDurationMs(p.operatingKeyValidityDuration) ?? 0)),
      }));
    for (const d of this.operatingDevices.values()) {
      if (d.userId !== userId || d.activationStatus !== 'ACTIVATED') continue;
      d.keys = keys.map((k) => ({ ...k }));
      d.refreshedAt = at;
    }
  }

  /** Whether one of the user's phones opens this lock offline at `at`, from the keys it last fetched (not from the permissions now). */
  offlineLockOpens(userId: string, lockingDeviceId: string, at = Date.now()): boolean {
    return [...this.operatingDevices.values()].some(
      (d) => d.userId === userId && d.keys.some((k) => k.lockingDeviceId === lockingDeviceId && k.from <= at && at < k.until),
    );
  }

  /** A permission written directly (as an operator in the portal would). */
  addPermission(p: Omit<FakePermission, 'id' | 'operationType' | 'permissionType' | 'operatingKeyValidityDuration'> & Partial<FakePermission>): FakePermission {
    const perm: FakePermission = {
      id: randomUUID(),
      operationType: OPERATION_OPEN,
      permissionType: 'SINGLE_INTERVAL',
      operatingKeyValidityDuration: DEFAULT_OPERATING_KEY_VALIDITY,
      ...p,
    };
    this.permissions.set(perm.id, perm);
    return perm;
  }

  permissionsOf(userId: string): FakePermission[] {
    return [...this.permissions.values()].filter((p) => p.userId === userId);
  }

  userByExternalId(externalId: string): FakeUser | undefined {
    return [...this.users.values()].find((u) => u.externalId === externalId);
  }

  // ---------------------------------------------------------------- server

  async listen(): Promise<string> {
    this.url = `${await this.http.listen()}/administration`;
    return this.url;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const rec: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      accept: req.headers.accept ?? null,
      apiKeyOk: req.headers['x-api-key'] === this.apiKey,
      bearer: typeof req.headers.authorization === 'string',
      status: 0,
    };
    this.requests.push(rec);
    const send = (r: Reply): void => {
      rec.status = r.status;
      const headers: Record<string, string> = { ...(r.headers ?? {}) };
      let text = '';
      if (r.body !== undefined) {
        text = JSON.stringify(r.body);
        headers['content-type'] = r.status < 300 ? MEDIA_TYPE : 'application/json';
      }
      res.writeHead(r.status, headers);
      res.end(text);
    };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    try {
      const fault = this.faults[0];
      if (fault) {
        if (--fault.remaining <= 0) this.faults.shift();
        const headers = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : undefined;
        return send({ status: fault.status, body: errorBody(fault.status, 'injected by the fake'), headers });
      }
      if (!url.pathname.startsWith(BASE)) throw new FakeError(404, `no resource at ${url.pathname}`);
      // READ: an invalid API key is answered 403; a key over its rate limit 429.
      if (!rec.apiKeyOk) throw new FakeError(403, 'Invalid API key');
      if (this.limit) {
        const now = Date.now();
        this.limit.hits = this.limit.hits.filter((t) => t > now - this.limit!.windowMs);
        if (this.limit.hits.length >= this.limit.max) {
          return send({ status: 429, body: errorBody(429, 'API key rate limit exceeded'), headers: { 'retry-after': String(this.limit.retryAfterSeconds) } });
        }
        this.limit.hits.push(now);
      }
      if (!(req.headers.accept ?? '').split(',').some((a) => a.trim().split(';')[0] === MEDIA_TYPE)) {
        throw new FakeError(406, `Accept must name ${MEDIA_TYPE}`);
      }
      const sub = url.pathname.slice(BASE.length).replace(/\/+$/, '');
      const route = this.routes.find((r) => r.method === req.method && r.regex.test(sub));
      if (!route) {
        const other = this.routes.some((r) => r.regex.test(sub));
        throw new FakeError(other ? 405 : 404, other ? `${req.method} is not allowed on ${url.pathname}` : `no resource at ${url.pathname}`);
      }
      if (!route.public) this.authorize(req.headers.authorization);
      let body: unknown;
      if (chunks.length > 0) {
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
        if (type !== 'application/json' && type !== MEDIA_TYPE) throw new FakeError(415, `Content-Type ${type || '(none)'} is not supported`);
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          throw new FakeError(400, 'the body is not JSON');
        }
      }
      const params = route.regex.exec(sub)!.slice(1).map(decodeURIComponent);
      send(route.handle({ url, params, body }));
    } catch (e) {
      const status = e instanceof FakeError ? e.status : 500;
      send({ status, body: errorBody(status, e instanceof Error ? e.message : String(e)) });
    }
  }

  private authorize(header: string | undefined): void {
    const m = /^Bearer (\S+)$/.exec(header ?? '');
    if (!m) throw new FakeError(401, 'missing Bearer token');
    const exp = this.tokens.get(m[1]);
    if (exp === undefined) throw new FakeError(401, 'invalid token');
    if (exp <= Date.now()) {
      this.tokens.delete(m[1]);
      throw new FakeError(401, 'token expired');
    }
  }

  private issueToken(subject: string): string {
    const exp = Date.now() + this.tokenTtlMs;
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: subject, exp: Math.floor(exp / 1000), jti: randomUUID() })}.${randomBytes(16).toString('base64url')}`;
    this.tokens.set(token, exp);
    return token;
  }

  // ---------------------------------------------------------------- routes

  private defineRoutes(): void {
    const route = (method: string, path: string, handle: Route['handle'], isPublic = false): void => {
      const regex = new RegExp(`^${path.replace(/\{id\}/g, '([^/]+)')}$`);
      this.routes.push({ method, regex, handle, public: isPublic });
    };
    const idPath = (f: (id: string) => string) => f('{id}').replace(/%7Bid%7D/g, '{id}');

    route(
      'POST',
      PATHS.login,
      ({ body }) => {
        const b = obj(body);
        if (typeof b.userId !== 'string' || typeof b.accessKey !== 'string') throw new FakeError(400, 'userId and accessKey are required');
        if (b.userId !== this.admin.userId || b.accessKey !== this.admin.accessKey) throw new FakeError(401, 'invalid API credentials');
        return { status: 200, body: { token: this.issueToken(b.userId) } };
      },
      true,
    );

    route('GET', PATHS.users, ({ url }) => ({ status: 200, body: page([...this.users.values()].map(userView), url) }));
    route('POST', PATHS.users, ({ body }) => {
      const b = obj(body);
      if (b.role !== USER_ROLE && b.role !== ADMIN_ROLE) throw new FakeError(400, 'role must be ADMIN or USER');
      for (const f of Object.keys(b)) if (!['role', ...Object.values(USER_FIELDS)].includes(f)) throw new FakeError(400, `unknown field ${f}`);
      const user = this.addUser({
        role: b.role,
        externalId: optString(b, USER_FIELDS.externalId),
        name: optString(b, USER_FIELDS.name),
        email: optString(b, USER_FIELDS.email),
      });
      return { status: 201, body: { ...userView(user), accessKey: user.accessKey } };
    });
    route('GET', idPath(PATHS.user), ({ params }) => ({ status: 200, body: userView(this.mustUser(params[0])) }));
    route('PATCH', idPath(PATHS.user), ({ params, body }) => {
      const u = this.mustUser(params[0]);
      const b = obj(body);
      for (const f of Object.keys(b))
        if (![USER_FIELDS.name, USER_FIELDS.email].includes(f as 'name')) throw new FakeError(400, `field ${f} cannot be changed`);
      if (USER_FIELDS.name in b) u.name = optString(b, USER_FIELDS.name);
      if (USER_FIELDS.email in b) u.email = optString(b, USER_FIELDS.email);
      return { status: 200, body: userView(u) };
    });
    route('DELETE', idPath(PATHS.user), ({ params }) => {
      const id = params[0];
      if (id === this.admin.userId) throw new FakeError(409, 'the administrator cannot delete itself');
      // a deleted user's permissions and operating devices go with it
      for (const p of this.permissionsOf(id)) this.permissions.delete(p.id);
      for (const d of this.operatingDevices.values()) if (d.userId === id) this.operatingDevices.delete(d.id);
      this.users.delete(id);
      return { status: 204 };
    });

    route('GET', PATHS.lockingDevices, ({ url }) => ({ status: 200, body: page([...this.lockingDevices.values()], url) }));
    route('GET', idPath(PATHS.lockingDevice), ({ params }) => {
      const d = this.lockingDevices.get(params[0]);
      if (!d) throw new FakeError(404, `locking device ${params[0]} not found`);
      return { status: 200, body: d };
    });

    route('GET', PATHS.permissions, ({ url }) => {
      const user = url.searchParams.get(USER_FILTER_PARAM);
      const all = [...this.permissions.values()].filter((p) => user === null || p.userId === user);
      return { status: 200, body: page(all, url, [USER_FILTER_PARAM]) };
    });
    route('POST', PATHS.permissions, ({ body }) => {
      const b = obj(body);
      const userId = reqString(b, 'userId');
      const lockingDeviceId = reqString(b, 'lockingDeviceId');
      const operationType = reqString(b, 'operationType');
      const permissionType = reqString(b, 'permissionType');
      if (!['OPEN', 'UPDATE_FIRMWARE', 'UPDATE_TIME'].includes(operationType))
        throw new FakeError(400, `operationType ${operationType} is not one of OPEN, UPDATE_FIRMWARE, UPDATE_TIME`);
      if (!(PERMISSION_TYPES as readonly string[]).includes(permissionType))
        throw new FakeError(400, `permissionType ${permissionType} is not one of ${PERMISSION_TYPES.join(', ')}`);
      const start = reqInstant(b, 'start');
      const end = reqInstant(b, 'end');
      if (Date.parse(start) >= Date.parse(end)) throw new FakeError(400, 'start must be before end');
      const duration = b.operatingKeyValidityDuration === undefined ? DEFAULT_OPERATING_KEY_VALIDITY : b.operatingKeyValidityDuration;
      if (typeof duration !== 'string' || !isoDurationMs(duration)) throw new FakeError(400, 'operatingKeyValidityDuration must be an ISO 8601 duration');
      const u = this.users.get(userId);
      if (!u) throw new FakeError(404, `user ${userId} not found`);
      if (u.role !== USER_ROLE) throw new FakeError(400, `user ${userId} is not a USER`);
      if (!this.lockingDevices.has(lockingDeviceId)) throw new FakeError(404, `locking device ${lockingDeviceId} not found`);
      const p = this.addPermission({ userId, lockingDeviceId, operationType, permissionType, start, end, operatingKeyValidityDuration: duration });
      return { status: 201, body: { id: p.id } };
    });
    route('GET', idPath(PATHS.permission), ({ params }) => {
      const p = this.permissions.get(params[0]);
      if (!p) throw new FakeError(404, `permission ${params[0]} not found`);
      return { status: 200, body: p };
    });
    route('DELETE', idPath(PATHS.permission), ({ params }) => {
      this.permissions.delete(params[0]);
      return { status: 204 };
    });

    route('GET', PATHS.operatingDevices, ({ url }) => {
      const user = url.searchParams.get(USER_FILTER_PARAM);
      const all = [...this.operatingDevices.values()].filter((d) => user === null || d.userId === user);
      return { status: 200, body: page(all.map(operatingDeviceView), url, [USER_FILTER_PARAM]) };
    });
  }

  private mustUser(id: string): FakeUser {
    const u = this.users.get(id);
    if (!u) throw new FakeError(404, `user ${id} not found`);
    return u;
  }
}

// ---------------------------------------------------------------- helpers

function errorBody(status: number, message: string): ErrorBody {
  return { status, error: REASONS[status] ?? 'Error', message };
}

function userView(u: FakeUser): Record<string, unknown> {
  const out: Record<string, unknown> = { id: u.id, role: u.role };
  if (u.externalId !== null) out[USER_FIELDS.externalId] = u.externalId;
  if (u.name !== null) out[USER_FIELDS.name] = u.name;
  if (u.email !== null) out[USER_FIELDS.email] = u.email;
  return out;
}

function operatingDeviceView(d: FakeOperatingDevice): Record<string, unknown> {
  return { id: d.id, userId: d.userId, name: d.name, activationStatus: d.activationStatus };
}

/** `{ items, nextPageToken }` for the page the query asks for; the token is opaque (an offset in base64url). */
function page<T>(all: T[], url: URL, allowed: string[] = []): { items: T[]; nextPageToken?: string } {
  for (const k of url.searchParams.keys()) {
    if (k !== PAGING.sizeParam && k !== PAGING.tokenParam && !allowed.includes(k)) throw new FakeError(400, `unknown query parameter ${k}`);
  }
  const sizeText = url.searchParams.get(PAGING.sizeParam);
  const size = sizeText === null ? PAGING.defaultSize : Number(sizeText);
  if (!Number.isInteger(size) || size < 1 || size > PAGING.maxSize) throw new FakeError(400, `${PAGING.sizeParam} must be 1..${PAGING.maxSize}`);
  const token = url.searchParams.get(PAGING.tokenParam);
  let offset = 0;
  if (token !== null) {
    const m = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
    if (!m) throw new FakeError(400, `invalid ${PAGING.tokenParam}`);
    offset = Number(m[1]);
  }
  const items = all.slice(offset, offset + size);
  const end = offset + items.length;
  return end < all.length ? { items, nextPageToken: Buffer.from(`o:${end}`).toString('base64url') } : { items };
}

function obj(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new FakeError(400, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function optString(b: Record<string, unknown>, k: string): string | null {
  const v = b[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new FakeError(400, `${k} must be a string`);
  return v;
}

function reqString(b: Record<string, unknown>, k: string): string {
  const v = b[k];
  if (typeof v !== 'string' || v === '') throw new FakeError(400, `${k} is required`);
  return v;
}

function reqInstant(b: Record<string, unknown>, k: string): string {
  const v = reqString(b, k);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v) || Number.isNaN(Date.parse(v)))
    throw new FakeError(400, `${k} must be an ISO 8601 instant`);
  return v;
}

export async function startFakeKeyless(opts: FakeKeylessOptions = {}): Promise<FakeKeyless> {
  const fake = new FakeKeyless(opts);
  await fake.listen();
  return fake;
}

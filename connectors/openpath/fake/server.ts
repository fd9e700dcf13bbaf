import { LoopbackServer, readBody } from '../../../src/drivers/loopback.js';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A fake Avigilon Alta (Openpath) API on 127.0.0.1, for tests and demos. It implements the part
 * of the vendor's Swagger 2.0 document ("Openpath API Documentation" 1.0.0) that the lockstep
 * driver uses, in the vendor's shapes:
 *
 * - `POST /auth/login` (email and password → a JWT in `data.token`), and the `jwt` security
 *   scheme: the token itself in the `Authorization` header; a token for another org gets 403.
 * - `/orgs/{orgId}/groups`, `/orgs/{orgId}/users` (list with limit/offset/sort/order/filter,
 *   create), `/orgs/{orgId}/users/{userId}` (describe, update, delete), `.../status` (PUT),
 *   `.../groupIds` (PATCH add/remove), `.../credentials` (list) and `.../credentials/{id}`
 *   (PATCH startDate/endDate/isLost, DELETE), `/orgs/{orgId}/reports/activity/events`
 *   (a `uiData.time:(from-<to)` query paged by `cursors.nextCursor` until `hasNextPage` is false).
 * - Lists answer `{ totalCount, filteredCount, data, meta }` (users and events also `cursors`),
 *   single resources `{ data, meta }`, writes without a body 204.
 * - Errors are hapi/Boom bodies `{ statusCode, error, message }`: the API is a hapi server
 *   (hapi-swagger's `x-alternatives`, `x-constraint`, `x-convert` in the document); bodies are
 *   validated as Joi does by default, unknown keys refused with 400.
 *
 * What the document leaves open, the fake decides and says so here: a list `filter` is
 * `field:(v1,v2) field2:(v)`, a term matching when the field contains any of the values
 * (case-insensitively; `null` matches an empty field), as the vendor's examples
 * (`identity.email:(@example.com)`, `externalId:(null)`) suggest. Dates are kept as sent
 * (Joi.date(), which the document renders as `format: date`, accepts ISO date-times).
 */

export interface FakeOpenpathOptions {
  orgId?: number;
  /** The JWT the fake accepts. Default: a random one. */
  token?: string;
  /** Credentials `POST /auth/login` accepts; it answers with `token`. */
  login?: { email: string; password: string };
  groups?: Array<{ id: number; name: string }>;
}

export interface FakeGroup {
  id: number;
  name: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface FakeUser {
  id: number;
  status: 'A' | 'S' | 'I';
  startDate: string | null;
  endDate: string | null;
  startAndEndDateTimeZoneId: string | null;
  externalId: string | null;
  email: string;
  firstName: string | null;
  middleName: string | null;
  lastName: string | null;
  groupIds: Set<number>;
  createdAt: string;
  updatedAt: string;
  statusLastUpdatedAt: string | null;
}

export type FakeCredentialKind = 'card' | 'cardOpenpathDesfireEv1' | 'mobile' | 'pincode';

export interface FakeCredential {
  id: number;
  userId: number;
  kind: FakeCredentialKind;
  number: string;
  startDate: string | null;
  endDate: string | null;
  isLost: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface FakeEvent {
  /** Epoch seconds, with milliseconds. */
  time: number;
  requestId: string;
  userId: number | null;
  credentialId: number | null;
  entryId: number;
  entryName: string;
  granted: boolean;
}

/** One exchange as the fake answered it, for spec-conformance checks. */
export interface FakeExchange {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The Swagger path template this route implements (`/orgs/{orgId}/users/{userId}`), or null. */
  specPath: string | null;
  status: number;
  requestBody: unknown;
  responseBody: unknown;
  /** True when the fault-injection lever produced the response. */
  injected: boolean;
}

interface Ctx {
  url: URL;
  params: Record<string, string>;
  body: unknown;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface Route {
  method: string;
  specPath: string;
  regex: RegExp;
  names: string[];
  handle(ctx: Ctx): Reply;
}

/** A Joi-style refusal, answered as Boom's 400. */
class FakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const BOOM_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const EMAIL = /^[!-~\xC0-\xFF]+$/;

export class FakeOpenpath {
  readonly orgId: number;
  token: string;
  readonly groups = new Map<number, FakeGroup>();
  readonly users = new Map<number, FakeUser>();
  readonly credentials = new Map<number, FakeCredential>();
  readonly events: FakeEvent[] = [];
  readonly exchanges: FakeExchange[] = [];
  /** Requests the fake received, in order ("GET /orgs/1/users?limit=2"). */
  readonly requests: string[] = [];
  url = '';
  private readonly http = new LoopbackServer((req, res) => void this.dispatch(req, res));
  private nextId = 1000;
  private eventCursorsExpired = false;
  private faults: Array<{ status: number; remaining: number; retryAfterSeconds?: number }> = [];
  private readonly routes: Route[] = [];
  private readonly login?: { email: string; password: string };

  constructor(opts: FakeOpenpathOptions = {}) {
    this.orgId = opts.orgId ?? 4242;
    this.token = opts.token ?? fakeJwt();
    this.login = opts.login;
    const now = iso();
    for (const g of opts.groups ?? [
      { id: 101, name: 'Main entrance' },
      { id: 102, name: 'Server room' },
      { id: 103, name: 'Loading dock' },
    ]) {
      this.groups.set(g.id, { id: g.id, name: g.name, description: null, createdAt: now, updatedAt: now });
    }
    this.defineRoutes();
  }

  // ---------------------------------------------------------------- levers

  /** The next `times` requests are answered with this status (and Retry-After, if given). */
  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.faults.push({ status, remaining: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds });
  }

  /** Invalidates the current JWT (as its expiry would); a new login gets the new one. */
  rotateToken(): string {
    this.token = fakeJwt();
    return this.token;
  }

  /** Events report cursors handed out so far are refused from now on (a query left half-read for long). */
  expireEventCursors(expired = true): void {
    this.eventCursorsExpired = expired;
  }

  clearFaults(): void {
    this.faults = [];
  }

  addUser(input: {
    email?: string;
    firstName?: string | null;
    lastName?: string | null;
    externalId?: string | null;
    status?: 'A' | 'S' | 'I';
    groupIds?: number[];
  }): FakeUser {
    const id = this.id();
    const now = iso();
    const u: FakeUser = {
      id,
      status: input.status ?? 'A',
      startDate: null,
      endDate: null,
      startAndEndDateTimeZoneId: null,
      externalId: input.externalId ?? null,
      email: input.email ?? `user${id}@example.com`,
      firstName: input.firstName ?? null,
      middleName: null,
      lastName: input.lastName ?? null,
      groupIds: new Set(input.groupIds ?? []),
      createdAt: now,
      updatedAt: now,
      statusLastUpdatedAt: null,
    };
    this.users.set(id, u);
    return u;
  }

  seedUsers(count: number, opts: { externalIdPrefix?: string } = {}): FakeUser[] {
    const out: FakeUser[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.nextId;
      out.push(this.addUser({ firstName: 'Seed', lastName: `User ${n}`, externalId: opts.externalIdPrefix ? `${opts.externalIdPrefix}${n}` : null }));
    }
    return out;
  }

  /** Issues a credential to a user, as the portal would. */
  issueCredential(userId: number, kind: FakeCredentialKind = 'cardOpenpathDesfireEv1'): FakeCredential {
    if (!this.users.has(userId)) throw new Error(`fake has no user ${userId}`);
    const id = this.id();
    const now = iso();
    const number = kind === 'cardOpenpathDesfireEv1' ? randomBytes(7).toString('hex').toUpperCase() : String(100000 + id);
    const c: FakeCredential = { id, userId, kind, number, startDate: null, endDate: null, isLost: false, createdAt: now, updatedAt: now };
    this.credentials.set(id, c);
    return c;
  }

  /** Records an entry request, as an ACU would report it. */
  recordAccess(input: { userId: number; credentialId?: number; granted?: boolean; entryId?: number; at?: Date }): FakeEvent {
    const cred =
      input.credentialId !== undefined ? this.credentials.get(input.credentialId) : [...this.credentials.values()].find((c) => c.userId === input.userId);
    const e: FakeEvent = {
      time: (input.at ?? new Date()).getTime() / 1000,
      requestId: randomBytes(12).toString('hex'),
      userId: input.userId,
      credentialId: cred?.id ?? null,
      entryId: input.entryId ?? 501,
      entryName: input.entryId === undefined ? 'Front door' : `Entry ${input.entryId}`,
      granted: input.granted ?? true,
    };
    this.events.push(e);
    return e;
  }

  // ---------------------------------------------------------------- server

  async listen(): Promise<string> {
    this.url = await this.http.listen();
    return this.url;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${url.pathname}${url.search}`);
    const raw = await readBody(req);
    let body: unknown;
    const record = (status: number, out: unknown, specPath: string | null, injected = false): void => {
      this.exchanges.push({ method, url: `${url.pathname}${url.search}`, specPath, status, requestBody: body, responseBody: out, injected });
    };
    const send = (r: Reply, specPath: string | null, injected = false): void => {
      record(r.status, r.body, specPath, injected);
      const text = r.body === undefined ? '' : JSON.stringify(r.body);
      res.writeHead(r.status, { ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}), ...(r.headers ?? {}) });
      res.end(text);
    };
    const route = this.routes.find((r) => r.method === method && r.regex.test(url.pathname));
    const specPath = route?.specPath ?? null;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as unknown;
      } catch {
        return send(boom(400, 'Invalid request payload JSON format'), specPath);
      }
    }
    const fault = this.faults[0];
    if (fault) {
      if (--fault.remaining <= 0) this.faults.shift();
      const headers = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : undefined;
      return send({ ...boom(fault.status, 'injected fault'), headers }, specPath, true);
    }
    if (!route) return send(boom(404, 'Not Found'), null);
    const m = route.regex.exec(url.pathname)!;
    const params: Record<string, string> = {};
    route.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
    if (route.specPath !== '/auth/login') {
      if (req.headers.authorization !== this.token) return send(boom(401, 'Missing authentication'), specPath);
      if (Number(params.orgId) !== this.orgId) return send(boom(403, 'Insufficient scope'), specPath);
    }
    try {
      send(route.handle({ url, params, body }), specPath);
    } catch (e) {
      if (e instanceof FakeError) return send(boom(e.status, e.message), specPath);
      send(boom(500, e instanceof Error ? e.message : String(e)), specPath);
    }
  }

  private route(method: string, specPath: string, handle: (ctx: Ctx) => Reply): void {
    const names: string[] = [];
    const regex = new RegExp(
      `^${specPath.replace(/\{(\w+)\}/g, (_, n: string) => {
        names.push(n);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, specPath, regex, names, handle });
  }

  private defineRoutes(): void {
    const org = '/orgs/{orgId}';
    this.route('POST', '/auth/login', ({ body }) => {
      const b = obj(body, ['email', 'password', 'namespaceId', 'namespaceNickname', 'mfa', 'forMobileLogin']);
      if (typeof b.email !== 'string' || typeof b.password !== 'string') throw new FakeError(400, '"email" and "password" are required');
      if (!this.login || b.email !== this.login.email || b.password !== this.login.password) throw new FakeError(401, 'Invalid email or password');
      const now = new Date();
      return {
        status: 201,
        body: {
          data: {
            identityId: 1,
            identity: { id: 1, namespace: { id: 1, nickname: 'default' } },
            token: this.token,
            tokenScopeList: [{ org: { id: this.orgId, name: 'Fake org' }, user: { id: 1 }, scope: ['o:w'] }],
            createdAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
          },
          meta: {},
        },
      };
    });

    this.route('GET', `${org}/groups`, ({ url }) => {
      const q = query(url, ['limit', 'offset', 'sort', 'order', 'q', 'filter', 'preFilter', 'options']);
      const all = sortBy([...this.groups.values()], q.sort ?? 'name', q.order ?? 'asc', (g, f) => (f === 'id' ? g.id : f === 'name' ? g.name : undefined));
      const filtered = applyFilter(all, q.filter, (g, f) => (f === 'id' ? String(g.id) : f === 'name' ? g.name : undefined));
      const page = slice(filtered, q);
      const data = page.map((g) => ({ ...g, userCount: [...this.users.values()].filter((u) => u.groupIds.has(g.id)).length }));
      return { status: 200, body: { totalCount: all.length, filteredCount: filtered.length, data, meta: {} } };
    });

    this.route('GET', `${org}/users`, ({ url }) => {
      const q = query(url, [
        'limit',
        'offset',
        'cursor',
        'ccursor',
        'sort',
        'order',
        'q',
        'filter',
        'preFilter',
        'withBuildings',
        'isAttachedToAtLeastOneIntercom',
        'options',
      ]);
      const all = sortBy([...this.users.values()], q.sort ?? 'identity.lastName', q.order ?? 'asc', userField);
      const filtered = applyFilter(all, q.filter, (u, f) => {
        const v = userField(u, f);
        return v === undefined ? undefined : v === null ? null : String(v);
      });
      const page = slice(filtered, q);
      const offset = Number(q.offset ?? 0);
      const more = offset + page.length < filtered.length;
      return {
        status: 200,
        body: {
          totalCount: this.users.size,
          filteredCount: filtered.length,
          cursors: { nextCursor: null, hasNextPage: more },
          data: page.map((u) => this.userJson(u)),
          meta: {},
        },
      };
    });

    this.route('POST', `${org}/users`, ({ body }) => {
      const b = obj(body, [
        'identity',
        'startDate',
        'endDate',
        'startAndEndDateTimeZoneId',
        'hasRemoteUnlock',
        'isOverrideAllowed',
        'externalId',
        'personId',
        'department',
        'title',
      ]);
      const identity = obj(b.identity ?? fail('"identity" is required'), [
        'email',
        'password',
        'firstName',
        'middleName',
        'lastName',
        'nicknames',
        'namespaceId',
        'namespaceNickname',
        'language',
        'mobilePhone',
      ]);
      const email = checkEmail(identity.email ?? fail('"identity.email" is required'));
      if ([...this.users.values()].some((u) => u.email.toLowerCase() === email.toLowerCase()))
        throw new FakeError(409, 'A user with this email already exists');
      const u = this.addUser({ email, firstName: name(identity.firstName, 'firstName'), lastName: name(identity.lastName, 'lastName') });
      u.middleName = name(identity.middleName, 'middleName');
      this.applyUserFields(u, b);
      return { status: 201, body: { data: this.userJson(u), meta: {} } };
    });

    this.route('GET', `${org}/users/{userId}`, ({ url, params }) => {
      query(url, ['options']);
      return { status: 200, body: { data: this.userJson(this.user(params.userId)), meta: {} } };
    });

    this.route('PATCH', `${org}/users/{userId}`, ({ params, body }) => {
      const u = this.user(params.userId);
      const b = obj(body, [
        'identity',
        'startDate',
        'endDate',
        'startAndEndDateTimeZoneId',
        'hasRemoteUnlock',
        'isOverrideAllowed',
        'externalId',
        'personId',
        'department',
        'title',
      ]);
      if (b.identity !== undefined) {
        const identity = obj(b.identity, ['email', 'password', 'firstName', 'middleName', 'lastName', 'nicknames', 'language', 'mobilePhone']);
        if (identity.email !== undefined) {
          const email = checkEmail(identity.email);
          if ([...this.users.values()].some((o) => o !== u && o.email.toLowerCase() === email.toLowerCase()))
            throw new FakeError(409, 'A user with this email already exists');
          u.email = email;
        }
        for (const f of ['firstName', 'middleName', 'lastName'] as const) if (identity[f] !== undefined) u[f] = name(identity[f], f);
      }
      this.applyUserFields(u, b);
      u.updatedAt = iso();
      return { status: 200, body: { data: this.userJson(u), meta: {} } };
    });

    this.route('DELETE', `${org}/users/{userId}`, ({ params }) => {
      const u = this.user(params.userId);
      this.users.delete(u.id);
      for (const [id, c] of this.credentials) if (c.userId === u.id) this.credentials.delete(id);
      return { status: 204 };
    });

    this.route('PUT', `${org}/users/{userId}/status`, ({ params, body }) => {
      const u = this.user(params.userId);
      const b = obj(body, ['status']);
      if (b.status !== 'A' && b.status !== 'S' && b.status !== 'I') throw new FakeError(400, '"status" must be one of [I, A, S]');
      if (u.status !== b.status) {
        u.status = b.status;
        u.statusLastUpdatedAt = iso();
      }
      return { status: 204 };
    });

    this.route('PATCH', `${org}/users/{userId}/groupIds`, ({ params, body }) => {
      const u = this.user(params.userId);
      const b = obj(body, ['add', 'remove']);
      const ids = (v: unknown, f: string): number[] => {
        if (v === undefined) return [];
        if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) throw new FakeError(400, `"${f}" must be an array of integers`);
        if (new Set(v).size !== v.length) throw new FakeError(400, `"${f}" contains a duplicate value`);
        return v as number[];
      };
      const add = ids(b.add, 'add');
      const remove = ids(b.remove, 'remove');
      for (const g of add) if (!this.groups.has(g)) throw new FakeError(404, `Group ${g} not found`);
      for (const g of add) u.groupIds.add(g);
      for (const g of remove) u.groupIds.delete(g);
      u.updatedAt = iso();
      return { status: 204 };
    });

    this.route('GET', `${org}/users/{userId}/credentials`, ({ url, params }) => {
      const q = query(url, ['limit', 'offset', 'sort', 'order', 'q', 'filter', 'preFilter']);
      const u = this.user(params.userId);
      const all = [...this.credentials.values()].filter((c) => c.userId === u.id).sort((a, b) => a.id - b.id);
      const page = slice(all, q);
      return { status: 200, body: { totalCount: all.length, filteredCount: all.length, data: page.map((c) => this.credentialJson(c)), meta: {} } };
    });

    this.route('PATCH', `${org}/users/{userId}/credentials/{credentialId}`, ({ params, body }) => {
      const c = this.credential(params.userId, params.credentialId);
      const b = obj(body, [
        'startDate',
        'endDate',
        'mobile',
        'eventAction',
        'allowReassign',
        'card',
        'pincode',
        'cardMifareCsn',
        'cardOpenpathDesfireEv1',
        'cloudKey',
        'fobAllegion',
        'badgeConfigId',
        'licensePlate',
        'wallet',
      ]);
      if (b.startDate !== undefined) c.startDate = date(b.startDate, 'startDate');
      if (b.endDate !== undefined) c.endDate = date(b.endDate, 'endDate');
      if (b.cardOpenpathDesfireEv1 !== undefined) {
        const d = obj(b.cardOpenpathDesfireEv1, ['number', 'isNoTour', 'isLost']);
        if (typeof d.number !== 'string' || !/^[0-9A-F]{14}$/.test(d.number))
          throw new FakeError(400, '"cardOpenpathDesfireEv1.number" is required and must be 14 hex digits');
        if (c.kind !== 'cardOpenpathDesfireEv1') throw new FakeError(400, 'credential is not an Openpath DESFire card');
        if (d.number !== c.number) throw new FakeError(400, 'the card number cannot be changed');
        if (d.isLost !== undefined) {
          if (typeof d.isLost !== 'boolean') throw new FakeError(400, '"isLost" must be a boolean');
          c.isLost = d.isLost;
        }
      }
      c.updatedAt = iso();
      return { status: 204 };
    });

    this.route('DELETE', `${org}/users/{userId}/credentials/{credentialId}`, ({ params }) => {
      const c = this.credential(params.userId, params.credentialId);
      this.credentials.delete(c.id);
      return { status: 204 };
    });

    this.route('GET', `${org}/reports/activity/events`, ({ url }) => {
      const q = query(url, ['limit', 'cursor', 'filter', 'options', 'customFieldIds']);
      const limit = q.limit === undefined ? 30000 : int(q.limit, 'limit', 1, 30000);
      let from = Date.now() / 1000 - 86400;
      let to = Date.now() / 1000;
      if (q.filter) {
        const m = /^uiData\.time:\((\d+(?:\.\d+)?)-<(\d+(?:\.\d+)?)\)$/.exec(q.filter.trim());
        if (!m) throw new FakeError(400, 'this fake understands only the filter uiData.time:(from-<to)');
        from = Number(m[1]);
        to = Number(m[2]);
      }
      if (q.cursor !== undefined && q.cursor !== '' && !/^[a-zA-Z0-9,@._~-]+$/.test(q.cursor))
        throw new FakeError(400, '"cursor" fails to match the required pattern');
      if (q.cursor && this.eventCursorsExpired) throw new FakeError(400, 'cursor expired');
      const start = q.cursor ? Number(q.cursor) : 0;
      if (!Number.isInteger(start) || start < 0) throw new FakeError(400, 'invalid cursor');
      // newest first, as the portal's activity report lists them
      const hits = this.events.filter((e) => e.time >= from && e.time < to).sort((a, b) => b.time - a.time);
      const page = hits.slice(start, start + limit);
      const more = start + page.length < hits.length;
      return {
        status: 200,
        body: {
          totalCount: hits.length,
          filteredCount: hits.length,
          cursors: { nextCursor: more ? String(start + page.length) : null, hasNextPage: more },
          data: page.map((e) => this.eventJson(e, q.options?.includes('uiDataOnly') ?? false)),
          meta: {},
        },
      };
    });
  }

  // ---------------------------------------------------------------- shapes

  private userJson(u: FakeUser): Record<string, unknown> {
    const fullName = [u.firstName, u.middleName, u.lastName].filter((x) => x).join(' ') || null;
    const initials = fullName
      ? fullName
          .split(/\s+/)
          .map((w) => w[0].toUpperCase())
          .join('')
          .slice(0, 3)
      : null;
    return {
      id: u.id,
      opal: `oprn:opal:user:${u.id}`,
      status: u.status,
      startDate: u.startDate,
      endDate: u.endDate,
      startAndEndDateTimeZoneId: u.startAndEndDateTimeZoneId,
      hasRemoteUnlock: false,
      isOverrideAllowed: false,
      externalId: u.externalId,
      identity: {
        id: u.id + 500_000,
        opal: `oprn:opal:identity:${u.id + 500_000}`,
        firstName: u.firstName,
        middleName: u.middleName,
        lastName: u.lastName,
        fullName,
        initials,
        isEmailVerified: false,
        email: u.email,
        mobilePhone: null,
        language: 'en',
        createdAt: u.createdAt,
        updatedAt: u.updatedAt,
      },
      groups: [...u.groupIds].sort((a, b) => a - b).map((id) => ({ id, name: this.groups.get(id)?.name ?? '' })),
      sites: [],
      roles: [],
      userCustomFields: [],
      createdAt: u.createdAt,
      updatedAt: u.updatedAt,
      manuallyInactivatedAt: null,
      lastActivityAt: null,
      title: null,
      department: null,
      personId: null,
      statusLastUpdatedAt: u.statusLastUpdatedAt,
    };
  }

  private credentialJson(c: FakeCredential): Record<string, unknown> {
    const types: Record<FakeCredentialKind, { id: number; name: string; modelName: string }> = {
      card: { id: 2, name: 'Card (Wiegand)', modelName: 'card' },
      cardOpenpathDesfireEv1: { id: 9, name: 'Openpath DESFire EV1 Card', modelName: 'cardOpenpathDesfireEv1' },
      mobile: { id: 1, name: 'Mobile', modelName: 'mobile' },
      pincode: { id: 3, name: 'PIN', modelName: 'pincode' },
    };
    const detail =
      c.kind === 'card'
        ? { card: { id: c.id + 1, number: c.number, numBits: 26, isOutputEnabled: true, facilityCode: null, cardId: null, fields: null } }
        : c.kind === 'cardOpenpathDesfireEv1'
          ? { cardOpenpathDesfireEv1: { id: c.id + 1, number: c.number, isLost: c.isLost } }
          : c.kind === 'pincode'
            ? { pincode: { id: c.id + 1, number: c.number } }
            : { mobile: { id: c.id + 1, name: 'Phone', provisionedAt: null, hasSetupMobileToken: false } };
    return {
      id: c.id,
      startDate: c.startDate,
      endDate: c.endDate,
      credentialType: types[c.kind],
      ...detail,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      user: { id: c.userId },
    };
  }

  private eventJson(e: FakeEvent, uiDataOnly: boolean): Record<string, unknown> {
    const u = e.userId !== null ? this.users.get(e.userId) : undefined;
    const c = e.credentialId !== null ? this.credentials.get(e.credentialId) : undefined;
    const uiData = {
      time: e.time,
      timeIsoString: new Date(e.time * 1000).toISOString(),
      userId: e.userId,
      userFirstName: u?.firstName ?? null,
      userLastName: u?.lastName ?? null,
      userName: u ? [u.firstName, u.lastName].filter(Boolean).join(' ') : null,
      userEmail: u?.email ?? '',
      userExternalId: u?.externalId ?? null,
      userOrgId: this.orgId,
      userGroups: u ? [...u.groupIds].map((id) => ({ id, name: this.groups.get(id)?.name ?? '' })) : [],
      sourceName: 'Fake ACU',
      category: 'Entry',
      subCategory: e.granted ? 'Unlock' : 'Denied',
      credentialSubtype: c?.kind ?? 'unknown',
      credentialTypeModelName: c?.kind ?? null,
      credentialTypeName: c ? c.kind : null,
      credentialDetail: c?.number ?? null,
      acuId: 301,
      acuName: 'Fake ACU',
      entryId: e.entryId,
      entryName: e.entryName,
      entryName2: e.entryName,
      entries: [{ id: e.entryId, name: e.entryName }],
      requestType: c?.kind === 'mobile' ? 'mobile' : 'card',
      requestId: e.requestId,
      result: e.granted ? 'S' : 'F',
      resultDescription: e.granted ? 'Granted' : 'Denied',
      deniedReason: e.granted ? null : 'No access',
    };
    return uiDataOnly ? { uiData } : { uiData, hookEvent: { timestamp: Math.round(e.time * 1000), event: 'entryRequest', data: {} } };
  }

  // ---------------------------------------------------------------- helpers

  private applyUserFields(u: FakeUser, b: Record<string, unknown>): void {
    if (b.startDate !== undefined) u.startDate = date(b.startDate, 'startDate');
    if (b.endDate !== undefined) u.endDate = date(b.endDate, 'endDate');
    if (b.startAndEndDateTimeZoneId !== undefined) {
      if (b.startAndEndDateTimeZoneId !== null && typeof b.startAndEndDateTimeZoneId !== 'string')
        throw new FakeError(400, '"startAndEndDateTimeZoneId" must be a string');
      u.startAndEndDateTimeZoneId = b.startAndEndDateTimeZoneId;
    }
    if (b.externalId !== undefined) {
      if (b.externalId !== null && typeof b.externalId !== 'string') throw new FakeError(400, '"externalId" must be a string');
      u.externalId = b.externalId;
    }
    if (u.startDate && u.endDate && Date.parse(u.endDate) < Date.parse(u.startDate)) throw new FakeError(400, '"endDate" must be later than "startDate"');
  }

  private user(id: string): FakeUser {
    if (!/^\d+$/.test(id)) throw new FakeError(400, '"userId" must be a number');
    const u = this.users.get(Number(id));
    if (!u) throw new FakeError(404, `User ${id} not found`);
    return u;
  }

  private credential(userId: string, credentialId: string): FakeCredential {
    const u = this.user(userId);
    if (!/^\d+$/.test(credentialId)) throw new FakeError(400, '"credentialId" must be a number');
    const c = this.credentials.get(Number(credentialId));
    if (!c || c.userId !== u.id) throw new FakeError(404, `Credential ${credentialId} not found`);
    return c;
  }

  private id(): number {
    return this.nextId++;
  }
}

export async function startFakeOpenpath(opts: FakeOpenpathOptions = {}): Promise<FakeOpenpath> {
  const fake = new FakeOpenpath(opts);
  await fake.listen();
  return fake;
}

function boom(status: number, message: string): Reply {
  return { status, body: { statusCode: status, error: BOOM_NAMES[status] ?? 'Error', message } };
}

function fail(message: string): never {
  throw new FakeError(400, message);
}

function obj(v: unknown, allowed: string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FakeError(400, 'value must be an object');
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new FakeError(400, `"${k}" is not allowed`);
  return v as Record<string, unknown>;
}

function query(url: URL, allowed: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of url.searchParams) {
    if (!allowed.includes(k)) throw new FakeError(400, `"${k}" is not allowed`);
    out[k] = v;
  }
  if (out.limit !== undefined) int(out.limit, 'limit', 1, k1(allowed));
  if (out.offset !== undefined) int(out.offset, 'offset', 0, Number.MAX_SAFE_INTEGER);
  if (out.order !== undefined && !/^(asc|desc)+(,\s*(asc|desc)+)*$/.test(out.order)) throw new FakeError(400, '"order" fails to match the required pattern');
  if (out.sort !== undefined && !/^[a-zA-Z0-9.]+(,\s*[a-zA-Z0-9.]+)*$/.test(out.sort)) throw new FakeError(400, '"sort" fails to match the required pattern');
  return out;
}

/** Lists cap limit at 1000; the events report at 30000. */
function k1(allowed: string[]): number {
  return allowed.includes('customFieldIds') ? 30000 : 1000;
}

function int(v: string, field: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new FakeError(400, `"${field}" must be an integer from ${min} to ${max}`);
  return n;
}

function slice<T>(items: T[], q: Record<string, string | undefined>): T[] {
  const offset = Number(q.offset ?? 0);
  // Without a limit the API answers a page of its own choosing; the fake: 1000.
  const limit = Number(q.limit ?? 1000);
  return items.slice(offset, offset + limit);
}

function sortBy<T>(items: T[], sort: string, order: string, field: (x: T, f: string) => unknown): T[] {
  const keys = sort.split(',').map((s) => s.trim());
  const orders = order.split(',').map((s) => s.trim());
  return [...items].sort((a, b) => {
    for (let i = 0; i < keys.length; i++) {
      const dir = (orders[i] ?? orders[0]) === 'desc' ? -1 : 1;
      const x = field(a, keys[i]);
      const y = field(b, keys[i]);
      if (x === undefined) throw new FakeError(400, `"sort" names an unknown field ${keys[i]}`);
      const c = cmp(x, y);
      if (c !== 0) return c * dir;
    }
    return cmp(field(a, 'id'), field(b, 'id'));
  });
}

function cmp(x: unknown, y: unknown): number {
  if (x === y) return 0;
  if (x === null || x === undefined) return -1;
  if (y === null || y === undefined) return 1;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  return String(x).localeCompare(String(y));
}

function userField(u: FakeUser, f: string): string | number | null | undefined {
  switch (f) {
    case 'id':
      return u.id;
    case 'status':
      return u.status;
    case 'externalId':
      return u.externalId;
    case 'identity.email':
      return u.email;
    case 'identity.firstName':
      return u.firstName;
    case 'identity.lastName':
      return u.lastName;
    case 'createdAt':
      return u.createdAt;
    default:
      return undefined;
  }
}

/** `field:(v1,v2) field2:(v3)`: every term must match; a term matches when the field contains one of its values. */
function applyFilter<T>(items: T[], filter: string | undefined, field: (x: T, f: string) => string | null | undefined): T[] {
  if (!filter || filter.trim() === '') return items;
  const terms: Array<{ f: string; values: string[] }> = [];
  const re = /([A-Za-z0-9.]+):\(([^)]*)\)\s*/y;
  const text = filter.trim();
  for (let pos = 0; pos < text.length;) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw new FakeError(400, `invalid filter ${filter}`);
    terms.push({ f: m[1], values: m[2].split(',') });
    pos = re.lastIndex;
  }
  return items.filter((x) =>
    terms.every(({ f, values }) => {
      const v = field(x, f);
      if (v === undefined) throw new FakeError(400, `filter names an unknown field ${f}`);
      return values.some((want) => (want === 'null' ? v === null || v === '' : v !== null && v.toLowerCase().includes(want.toLowerCase())));
    }),
  );
}

function checkEmail(v: unknown): string {
  if (typeof v !== 'string') throw new FakeError(400, '"email" must be a string');
  const t = v.trim();
  if (t.length < 1 || t.length > 254) throw new FakeError(400, '"email" length must be from 1 to 254 characters');
  if (!EMAIL.test(t) || !/^[^@]+@[^@]+\.[^@]+$/.test(t)) throw new FakeError(400, '"email" must be a valid email');
  return t;
}

function name(v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new FakeError(400, `"${field}" must be a string`);
  if (v.length < 1 || v.length > 100) throw new FakeError(400, `"${field}" length must be from 1 to 100 characters`);
  return v.trim();
}

function date(v: unknown, field: string): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v)) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw new FakeError(400, `"${field}" must be a valid date`);
  return new Date(Date.parse(v)).toISOString();
}

function iso(): string {
  return new Date().toISOString();
}

function fakeJwt(): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: 'fake', iat: Math.floor(Date.now() / 1000) })}.${randomBytes(24).toString('base64url')}`;
}

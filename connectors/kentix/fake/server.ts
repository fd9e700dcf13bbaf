import { LoopbackServer, readBody } from '../../../src/drivers/loopback.js';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACCOUNT_TYPES, KENTIX_DEFAULT_PAGE_SIZE, KENTIX_PATHS, credentialIds, laravelInstant, type KentixAccountType } from '../api.js';

/**
 * A fake KentixONE SmartAPI (8.x) on 127.0.0.1, for tests and demos. It serves the paths and
 * shapes of ../api.ts (what the vendor's reference shows, and what lockstep assumed where it
 * shows nothing) the way a Laravel application answers them:
 *
 * - every route under `/api/`; a request without `Accept: application/json` is redirected
 *   (302) to `/login`, as the vendor's reference warns;
 * - `Authorization: Bearer <api_token>` of an active user, else 401 `{ message: "Unauthenticated." }`;
 *   a resource the API user may not use (the `deny` lever) 403 `{ message: "This action is unauthorized." }`;
 * - collections in Laravel's paginator envelope `{ data, links, meta }` (`page`, `per_page`,
 *   25 a page by default), `/doorlocks/names` a plain list, single resources `{ data }`;
 * - POST 201, PUT 200 (partial bodies), DELETE 204; validation failures 422
 *   `{ message, errors: { field: [...] } }`, unknown fields refused; unknown ids 404;
 * - access events newest first; `/accessevents/export` as text/csv; access settings with
 *   `external_evaluation`, `pinlength` (4..10, the length every PIN must have) and `memorydepth`.
 *
 * Levers for tests: failNext (status, times, Retry-After), deny (a resource answers 403),
 * addUser / seedUsers, issueRfid / setPin, recordAccess (evaluates the user's state, dates,
 * profiles and the profile's doorlocks unless told the outcome), rotateToken.
 */

export interface FakeKentixOptions {
  /** The API user's api_token. Default: a random one. */
  token?: string;
  /** The API user's username. Default `lockstep-api`. */
  apiUsername?: string;
  accessProfiles?: Array<{ id: number; name: string; doorlocks: number[]; timeprofile_id?: number }>;
  doorlocks?: Array<{ id: number; name: string }>;
}

export interface FakeUser {
  id: number;
  username: string;
  name: string;
  description: string | null;
  email: string | null;
  phone: string | null;
  isActive: boolean;
  activeFrom: number | null;
  deactivateFrom: number | null;
  accountType: KentixAccountType;
  usergroupId: number;
  accessProfiles: number[];
  rfid: string | null;
  pin: string | null;
  apiToken: string;
  createdAt: number;
  updatedAt: number;
}

export interface FakeAccessProfile {
  id: number;
  name: string;
  isActive: boolean;
  timeprofileId: number;
  doorlocks: number[];
}

export interface FakeTimeProfile {
  id: number;
  name: string;
  /** Weekly intervals, `HH:MM` on 15-minute steps; `to` may be 24:00. */
  intervals: Array<{ day: Weekday; from: string; to: string }>;
}

export interface FakeEvent {
  id: number;
  at: number;
  userId: number | null;
  doorlockId: number;
  medium: 'rfid' | 'pin' | 'app' | 'remote';
  rfid: string | null;
  granted: boolean;
  message: string;
}

type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

type Resource = 'users' | 'accessprofiles' | 'timeprofiles' | 'doorlocks' | 'accessevents' | 'accesssettings';

interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

interface Ctx {
  url: URL;
  params: string[];
  body: unknown;
}

interface Route {
  method: string;
  regex: RegExp;
  resource: Resource;
  handle(ctx: Ctx): Reply;
}

/** A refusal rendered as Laravel renders it. */
class HttpFail extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string[]>,
  ) {
    super(message);
  }
}

function invalid(field: string, message: string): HttpFail {
  return new HttpFail(422, message, { [field]: [message] });
}

const USER_WRITABLE = new Set([
  'username',
  'name',
  'description',
  'email',
  'phone',
  'password',
  'is_active',
  'active_from',
  'deactivate_from',
  'account_type',
  'usergroup_id',
  'accessprofiles',
  'rfid',
  'pin',
]);

export class FakeKentix {
  token: string;
  readonly apiUserId: number;
  readonly users = new Map<number, FakeUser>();
  readonly usergroups = new Map<number, string>([
    [1, 'Administrators'],
    [2, 'Access only'],
  ]);
  readonly timeProfiles = new Map<number, FakeTimeProfile>();
  readonly accessProfiles = new Map<number, FakeAccessProfile>();
  readonly doorlocks = new Map<number, { id: number; name: string; isActive: boolean }>();
  readonly events: FakeEvent[] = [];
  readonly settings = { external_evaluation: false, pinlength: '6', memorydepth: '0' };
  /** Requests received, in order (`PUT /api/users/12`). */
  readonly requests: string[] = [];
  url = '';
  private readonly http = new LoopbackServer((req, res) => void this.dispatch(req, res));
  private nextUserId = 1;
  private nextEventId = 1;
  private faults: Array<{ status: number; remaining: number; retryAfterSeconds?: number }> = [];
  private readonly denied = new Set<Resource>();
  private readonly routes: Route[] = [];

  constructor(opts: FakeKentixOptions = {}) {
    this.token = opts.token ?? randomBytes(30).toString('base64url');
    this.timeProfiles.set(1, { id: 1, name: 'Always', intervals: WEEKDAYS.map((day) => ({ day, from: '00:00', to: '24:00' })) });
    this.timeProfiles.set(2, {
      id: 2,
      name: 'Office hours',
      intervals: WEEKDAYS.slice(0, 5).map((day) => ({ day, from: '07:00', to: '19:00' })),
    });
    for (const d of opts.doorlocks ?? [
      { id: 1, name: 'Main entrance' },
      { id: 2, name: 'Server room' },
      { id: 3, name: 'Loading dock' },
    ]) {
      this.doorlocks.set(d.id, { ...d, isActive: true });
    }
    for (const p of opts.accessProfiles ?? [
      { id: 1, name: 'Staff entrance', doorlocks: [1] },
      { id: 2, name: 'Server room', doorlocks: [1, 2] },
      { id: 3, name: 'Logistics', doorlocks: [1, 3], timeprofile_id: 2 },
    ]) {
      this.accessProfiles.set(p.id, { id: p.id, name: p.name, isActive: true, timeprofileId: p.timeprofile_id ?? 1, doorlocks: p.doorlocks });
    }
    const api = this.addUser({ username: opts.apiUsername ?? 'lockstep-api', name: 'lockstep SmartAPI user', accountType: 'standard', usergroupId: 1 });
    api.apiToken = this.token;
    this.apiUserId = api.id;
    this.defineRoutes();
  }

  // ---------------------------------------------------------------- levers

  /** The next `times` requests are answered with this status (and Retry-After seconds, if given). */
  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.faults.push({ status, remaining: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The API user's user group loses (or regains) the right to this resource: 403. */
  deny(resource: Resource, denied = true): void {
    if (denied) this.denied.add(resource);
    else this.denied.delete(resource);
  }

  /** A new api_token for the API user (as regenerating it in the profile does); the old one is refused. */
  rotateToken(): string {
    this.token = randomBytes(30).toString('base64url');
    this.users.get(this.apiUserId)!.apiToken = this.token;
    return this.token;
  }

  addUser(input: {
    username: string;
    name?: string;
    accountType?: KentixAccountType;
    usergroupId?: number;
    accessProfiles?: number[];
    isActive?: boolean;
    email?: string | null;
  }): FakeUser {
    if (this.userByName(input.username)) throw new Error(`fake: username ${input.username} is taken`);
    const now = Date.now();
    const u: FakeUser = {
      id: this.nextUserId++,
      username: input.username,
      name: input.name ?? input.username,
      description: null,
      email: input.email ?? null,
      phone: null,
      isActive: input.isActive ?? true,
      activeFrom: null,
      deactivateFrom: null,
      accountType: input.accountType ?? 'guest',
      usergroupId: input.usergroupId ?? 2,
      accessProfiles: [...(input.accessProfiles ?? [])],
      rfid: null,
      pin: null,
      apiToken: randomBytes(30).toString('base64url'),
      createdAt: now,
      updatedAt: now,
    };
    this.users.set(u.id, u);
    return u;
  }

  seedUsers(count: number, prefix = 'seed-'): FakeUser[] {
    const out: FakeUser[] = [];
    for (let i = 0; i < count; i++) out.push(this.addUser({ username: `${prefix}${this.nextUserId}`, name: `Seed User ${this.nextUserId}` }));
    return out;
  }

  /** Enrols an RFID token on the user (as the reader at the admin desk does); returns its UID. */
  issueRfid(userId: number, uid: string = randomBytes(7).toString('hex').toUpperCase()): string {
    const u = this.mustUser(userId);
    u.rfid = uid.toUpperCase();
    u.updatedAt = Date.now();
    return u.rfid;
  }

  setPin(userId: number, pin: string): void {
    const u = this.mustUser(userId);
    u.pin = pin;
    u.updatedAt = Date.now();
  }

  userByName(username: string): FakeUser | undefined {
    for (const u of this.users.values()) if (u.username === username) return u;
    return undefined;
  }

  /**
   * Records a booking at a doorlock. Unless `granted` is given, the fake decides as the
   * AccessManager would: an active user within its dates, whose active profile lists the door.
   */
  recordAccess(input: { userId: number; medium?: FakeEvent['medium']; doorlockId?: number; granted?: boolean; at?: Date }): FakeEvent {
    const u = this.mustUser(input.userId);
    const medium = input.medium ?? (u.rfid ? 'rfid' : u.pin ? 'pin' : 'app');
    const doorlockId = input.doorlockId ?? 1;
    const at = (input.at ?? new Date()).getTime();
    const granted = input.granted ?? this.mayOpen(u, doorlockId, at);
    const e: FakeEvent = {
      id: this.nextEventId++,
      at,
      userId: u.id,
      doorlockId,
      medium,
      rfid: medium === 'rfid' ? u.rfid : null,
      granted,
      message: granted ? 'Access granted' : 'Access denied',
    };
    this.events.push(e);
    return e;
  }

  /** Whether the user may open the doorlock at that instant (profiles' time profiles: weekday and time of day, UTC). */
  mayOpen(u: FakeUser, doorlockId: number, at: number = Date.now()): boolean {
    if (!u.isActive) return false;
    if (u.activeFrom !== null && at < u.activeFrom) return false;
    if (u.deactivateFrom !== null && at >= u.deactivateFrom) return false;
    const d = new Date(at);
    const day = WEEKDAYS[(d.getUTCDay() + 6) % 7];
    const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
    return u.accessProfiles.some((pid) => {
      const p = this.accessProfiles.get(pid);
      if (!p || !p.isActive || !p.doorlocks.includes(doorlockId)) return false;
      const tp = this.timeProfiles.get(p.timeprofileId);
      return (tp?.intervals ?? []).some((i) => i.day === day && minutes(i.from) <= minute && minute < minutes(i.to));
    });
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
    const send = (r: Reply): void => {
      const text = r.text ?? (r.body === undefined ? '' : JSON.stringify(r.body));
      const type = r.text !== undefined ? {} : text ? { 'content-type': 'application/json' } : {};
      res.writeHead(r.status, { 'cache-control': 'no-cache, private', ...type, ...(r.headers ?? {}) });
      res.end(text);
    };
    const fault = this.faults[0];
    if (fault) {
      if (--fault.remaining <= 0) this.faults.shift();
      const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
      const message = fault.status === 429 ? 'Too Many Attempts.' : fault.status === 503 ? 'Service Unavailable' : 'Server Error';
      return send({ status: fault.status, body: { message }, headers });
    }
    if (url.pathname === '/login')
      return send({ status: 200, text: '<!DOCTYPE html><title>KentixONE</title><form>login</form>', headers: { 'content-type': 'text/html; charset=UTF-8' } });
    // Laravel answers guests who do not ask for JSON with a redirect to its login page.
    if (!/application\/json/i.test(req.headers.accept ?? '')) {
      return send({
        status: 302,
        text: `<!DOCTYPE html><meta http-equiv="refresh" content="0;url='${this.url}/login'" /><title>Redirecting to ${this.url}/login</title>`,
        headers: { location: `${this.url}/login`, 'content-type': 'text/html; charset=UTF-8' },
      });
    }
    if (!url.pathname.startsWith('/api/')) return send({ status: 404, body: { message: 'Not Found' } });
    const caller = this.caller(req.headers.authorization);
    if (!caller) return send({ status: 401, body: { message: 'Unauthenticated.' } });
    const path = url.pathname.slice('/api/'.length);
    const candidates = this.routes.filter((r) => r.regex.test(path));
    const route = candidates.find((r) => r.method === method);
    if (!route) {
      if (candidates.length > 0) return send({ status: 405, body: { message: `The ${method} method is not supported for route api/${path}.` } });
      return send({ status: 404, body: { message: `The route api/${path} could not be found.` } });
    }
    if (this.denied.has(route.resource)) return send({ status: 403, body: { message: 'This action is unauthorized.' } });
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as unknown;
      } catch {
        return send({ status: 400, body: { message: 'Malformed JSON' } });
      }
    }
    try {
      send(route.handle({ url, params: route.regex.exec(path)!.slice(1), body }));
    } catch (e) {
      if (e instanceof HttpFail) return send({ status: e.status, body: { message: e.message, ...(e.errors ? { errors: e.errors } : {}) } });
      send({ status: 500, body: { message: 'Server Error' } });
    }
  }

  /** The active user whose api_token the bearer header carries. */
  private caller(authorization: string | undefined): FakeUser | null {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return null;
    for (const u of this.users.values()) if (u.apiToken === m[1] && u.isActive) return u;
    return null;
  }

  private route(method: string, resource: Resource, pattern: string, handle: (ctx: Ctx) => Reply): void {
    this.routes.push({ method, resource, regex: new RegExp(`^${pattern}$`), handle });
  }

  private defineRoutes(): void {
    const P = KENTIX_PATHS;
    const id = '(\\d+)';

    this.route('GET', 'users', P.users, ({ url }) => ({
      status: 200,
      body: this.paginate(
        url,
        [...this.users.values()].sort((a, b) => a.id - b.id),
        (u) => this.userJson(u, false),
      ),
    }));
    this.route('GET', 'users', P.user(id), ({ params }) => ({ status: 200, body: { data: this.userJson(this.mustUser(params[0]), true) } }));
    this.route('POST', 'users', P.users, ({ body }) => {
      const b = fields(body, USER_WRITABLE);
      for (const f of ['username', 'name', 'usergroup_id'] as const)
        if (b[f] === undefined || b[f] === null || b[f] === '') throw invalid(f, `The ${f.replace('_', ' ')} field is required.`);
      const u = this.addUser({ username: `__creating-${randomBytes(4).toString('hex')}`, usergroupId: 2 });
      try {
        this.applyUser(u, b);
      } catch (e) {
        this.users.delete(u.id);
        throw e;
      }
      return { status: 201, body: { data: this.userJson(u, true) } };
    });
    this.route('PUT', 'users', P.user(id), ({ params, body }) => {
      const u = this.mustUser(params[0]);
      const before = { ...u, accessProfiles: [...u.accessProfiles] };
      try {
        this.applyUser(u, fields(body, USER_WRITABLE));
      } catch (e) {
        Object.assign(u, before);
        throw e;
      }
      return { status: 200, body: { data: this.userJson(u, true) } };
    });
    this.route('DELETE', 'users', P.user(id), ({ params }) => {
      const u = this.mustUser(params[0]);
      this.users.delete(u.id);
      return { status: 204 };
    });

    this.route('GET', 'accessprofiles', P.accessProfiles, ({ url }) => ({
      status: 200,
      body: this.paginate(
        url,
        [...this.accessProfiles.values()].sort((a, b) => a.id - b.id),
        (p) => this.profileJson(p),
      ),
    }));
    this.route('GET', 'accessprofiles', P.accessProfile(id), ({ params }) => {
      const p = this.accessProfiles.get(Number(params[0]));
      if (!p) throw new HttpFail(404, 'No query results for model [AccessProfile].');
      return { status: 200, body: { data: this.profileJson(p) } };
    });

    this.route('GET', 'timeprofiles', P.timeProfiles, ({ url }) => ({
      status: 200,
      body: this.paginate(url, [...this.timeProfiles.values()], (t) => ({ ...t })),
    }));
    this.route('POST', 'timeprofiles', P.timeProfiles, ({ body }) => {
      const b = fields(body, new Set(['name', 'intervals']));
      if (typeof b.name !== 'string' || b.name === '') throw invalid('name', 'The name field is required.');
      if (!Array.isArray(b.intervals)) throw invalid('intervals', 'The intervals field must be an array.');
      const intervals = b.intervals.map((i: unknown, n: number) => interval(i, n));
      const tp: FakeTimeProfile = { id: Math.max(0, ...this.timeProfiles.keys()) + 1, name: b.name, intervals };
      this.timeProfiles.set(tp.id, tp);
      return { status: 201, body: { data: tp } };
    });

    this.route('GET', 'doorlocks', P.doorlocks, ({ url }) => ({
      status: 200,
      body: this.paginate(url, [...this.doorlocks.values()], (d) => ({
        id: d.id,
        name: d.name,
        is_active: d.isActive,
        reed_assignment: 'off',
        battery: 'full',
      })),
    }));
    this.route('GET', 'doorlocks', P.doorlockNames, () => ({ status: 200, body: [...this.doorlocks.values()].map((d) => ({ id: d.id, name: d.name })) }));

    this.route('GET', 'accessevents', P.accessEvents, ({ url }) => ({
      status: 200,
      body: this.paginate(
        url,
        [...this.events].sort((a, b) => b.id - a.id),
        (e) => this.eventJson(e),
      ),
    }));
    this.route('GET', 'accessevents', P.accessEventsExport, () => {
      const rows = [...this.events]
        .sort((a, b) => b.id - a.id)
        .map((e) => {
          const j = this.eventJson(e);
          return [j.id, j.created_at, j.user_name ?? '', j.doorlock_name, j.medium, j.rfid ?? '', j.granted ? 1 : 0].map(csvCell).join(',');
        });
      return {
        status: 200,
        text: ['id,created_at,user,doorlock,medium,rfid,granted', ...rows].join('\r\n') + '\r\n',
        headers: { 'content-type': 'text/csv; charset=UTF-8', 'content-disposition': 'attachment; filename="accessevents.csv"' },
      };
    });
    this.route('GET', 'accessevents', P.accessEventImages(id), ({ params }) => {
      if (!this.events.some((e) => e.id === Number(params[0]))) throw new HttpFail(404, 'No query results for model [AccessEvent].');
      return { status: 200, body: [] };
    });

    this.route('GET', 'accesssettings', P.accessSettings, () => ({ status: 200, body: { ...this.settings } }));
    this.route('PUT', 'accesssettings', P.accessSettings, ({ body }) => {
      const b = fields(body, new Set(['external_evaluation', 'pinlength', 'memorydepth']));
      if (b.external_evaluation !== undefined) {
        if (typeof b.external_evaluation !== 'boolean') throw invalid('external_evaluation', 'The external evaluation field must be true or false.');
        this.settings.external_evaluation = b.external_evaluation;
      }
      if (b.pinlength !== undefined) this.settings.pinlength = String(between(b.pinlength, 'pinlength', 4, 10));
      if (b.memorydepth !== undefined) this.settings.memorydepth = String(between(b.memorydepth, 'memorydepth', 0, 720));
      return { status: 200, body: { ...this.settings } };
    });
  }

  // ---------------------------------------------------------------- shapes

  private paginate<T>(url: URL, all: T[], json: (x: T) => unknown): Record<string, unknown> {
    const page = url.searchParams.has('page') ? intParam(url.searchParams.get('page')!, 'page', 1, Number.MAX_SAFE_INTEGER) : 1;
    const perPage = url.searchParams.has('per_page') ? intParam(url.searchParams.get('per_page')!, 'per_page', 1, 1000) : KENTIX_DEFAULT_PAGE_SIZE;
    const lastPage = Math.max(1, Math.ceil(all.length / perPage));
    const items = all.slice((page - 1) * perPage, page * perPage);
    const path = `${this.url}${url.pathname}`;
    const link = (p: number) => `${path}?page=${p}${url.searchParams.has('per_page') ? `&per_page=${perPage}` : ''}`;
    const from = items.length ? (page - 1) * perPage + 1 : null;
    return {
      data: items.map(json),
      links: { first: link(1), last: link(lastPage), prev: page > 1 ? link(page - 1) : null, next: page < lastPage ? link(page + 1) : null },
      meta: { current_page: page, from, last_page: lastPage, path, per_page: perPage, to: from === null ? null : from + items.length - 1, total: all.length },
    };
  }

  private userJson(u: FakeUser, detail: boolean): Record<string, unknown> {
    return {
      id: u.id,
      username: u.username,
      name: u.name,
      description: u.description,
      email: u.email,
      phone: u.phone,
      is_active: u.isActive,
      active_from: u.activeFrom === null ? null : laravelInstant(u.activeFrom),
      deactivate_from: u.deactivateFrom === null ? null : laravelInstant(u.deactivateFrom),
      account_type: u.accountType,
      usergroup_id: u.usergroupId,
      accessprofiles: [...u.accessProfiles],
      rfid: u.rfid,
      pin: u.pin,
      ...(detail ? { api_token: u.apiToken } : {}),
      created_at: laravelInstant(u.createdAt),
      updated_at: laravelInstant(u.updatedAt),
    };
  }

  private profileJson(p: FakeAccessProfile): Record<string, unknown> {
    return { id: p.id, name: p.name, is_active: p.isActive, timeprofile_id: p.timeprofileId, exceptiondays_id: null, doorlocks: [...p.doorlocks] };
  }

  private eventJson(e: FakeEvent): {
    id: number;
    created_at: string;
    user_id: number | null;
    user_name: string | null;
    doorlock_id: number;
    doorlock_name: string;
    medium: string;
    rfid: string | null;
    granted: boolean;
    message: string;
  } {
    const u = e.userId !== null ? this.users.get(e.userId) : undefined;
    return {
      id: e.id,
      created_at: laravelInstant(e.at),
      user_id: e.userId,
      user_name: u?.name ?? null,
      doorlock_id: e.doorlockId,
      doorlock_name: this.doorlocks.get(e.doorlockId)?.name ?? `DoorLock ${e.doorlockId}`,
      medium: e.medium,
      rfid: e.rfid,
      granted: e.granted,
      message: e.message,
    };
  }

  // ---------------------------------------------------------------- validation

  private applyUser(u: FakeUser, b: Record<string, unknown>): void {
    if (b.username !== undefined) {
      if (typeof b.username !== 'string' || b.username.trim() === '') throw invalid('username', 'The username field is required.');
      const other = this.userByName(b.username);
      if (other && other.id !== u.id) throw invalid('username', 'The username has already been taken.');
      u.username = b.username;
    }
    if (b.name !== undefined) {
      if (typeof b.name !== 'string' || b.name.trim() === '') throw invalid('name', 'The name field is required.');
      u.name = b.name;
    }
    for (const f of ['description', 'email', 'phone'] as const) {
      const v = b[f];
      if (v === undefined) continue;
      if (v !== null && typeof v !== 'string') throw invalid(f, `The ${f} field must be a string.`);
      if (f === 'email' && typeof v === 'string' && v !== '' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v))
        throw invalid('email', 'The email field must be a valid email address.');
      u[f] = v === '' ? null : v;
    }
    if (b.password !== undefined && (typeof b.password !== 'string' || b.password.length < 8))
      throw invalid('password', 'The password field must be at least 8 characters.');
    if (b.is_active !== undefined) {
      if (typeof b.is_active !== 'boolean') throw invalid('is_active', 'The is active field must be true or false.');
      u.isActive = b.is_active;
    }
    if (b.active_from !== undefined) u.activeFrom = instant(b.active_from, 'active_from');
    if (b.deactivate_from !== undefined) u.deactivateFrom = instant(b.deactivate_from, 'deactivate_from');
    if (u.activeFrom !== null && u.deactivateFrom !== null && u.deactivateFrom <= u.activeFrom) {
      throw invalid('deactivate_from', 'The deactivate from field must be a date after active from.');
    }
    if (b.account_type !== undefined) {
      if (!ACCOUNT_TYPES.includes(b.account_type as KentixAccountType)) throw invalid('account_type', 'The selected account type is invalid.');
      u.accountType = b.account_type as KentixAccountType;
    }
    if (b.usergroup_id !== undefined) {
      if (typeof b.usergroup_id !== 'number' || !this.usergroups.has(b.usergroup_id)) throw invalid('usergroup_id', 'The selected usergroup id is invalid.');
      u.usergroupId = b.usergroup_id;
    }
    if (b.accessprofiles !== undefined) {
      if (!Array.isArray(b.accessprofiles)) throw invalid('accessprofiles', 'The accessprofiles field must be an array.');
      b.accessprofiles.forEach((p: unknown, i: number) => {
        if (typeof p !== 'number' || !this.accessProfiles.has(p)) throw invalid(`accessprofiles.${i}`, `The selected accessprofiles.${i} is invalid.`);
      });
      if (new Set(b.accessprofiles).size !== b.accessprofiles.length) throw invalid('accessprofiles', 'The accessprofiles field has a duplicate value.');
      u.accessProfiles = [...(b.accessprofiles as number[])];
    }
    if (b.rfid !== undefined) {
      if (b.rfid !== null && (typeof b.rfid !== 'string' || !/^[0-9A-Fa-f]{8,20}$/.test(b.rfid))) throw invalid('rfid', 'The rfid field format is invalid.');
      const uid = b.rfid === null ? null : b.rfid.toUpperCase();
      if (uid !== null && [...this.users.values()].some((o) => o.id !== u.id && o.rfid === uid)) throw invalid('rfid', 'The rfid has already been taken.');
      u.rfid = uid;
    }
    if (b.pin !== undefined) {
      const len = Number(this.settings.pinlength);
      if (b.pin !== null && (typeof b.pin !== 'string' || !new RegExp(`^\\d{${len}}$`).test(b.pin)))
        throw invalid('pin', `The pin field must be ${len} digits.`);
      u.pin = b.pin;
    }
    u.updatedAt = Date.now();
  }

  private mustUser(id: number | string): FakeUser {
    const u = this.users.get(Number(id));
    if (!u) throw new HttpFail(404, 'No query results for model [App\\Models\\User].');
    return u;
  }
}

export async function startFakeKentix(opts: FakeKentixOptions = {}): Promise<FakeKentix> {
  const fake = new FakeKentix(opts);
  await fake.listen();
  return fake;
}

/** The fake's credential id for a user's token, as the driver names it. */
export function fakeRfidCredentialId(uid: string): string {
  return credentialIds.rfid(uid);
}

function fields(body: unknown, allowed: ReadonlySet<string>): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpFail(422, 'The given data was invalid.');
  for (const k of Object.keys(body)) if (!allowed.has(k)) throw invalid(k, `The ${k} field is prohibited.`);
  return body as Record<string, unknown>;
}

function instant(v: unknown, field: string): number | null {
  if (v === null) return null;
  const label = field.replace('_', ' ');
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v))
    throw invalid(field, `The ${label} field must be a valid date.`);
  const ms = Date.parse(v.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw invalid(field, `The ${label} field must be a valid date.`);
  return ms;
}

function intParam(v: string, field: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw invalid(field, `The ${field.replace('_', ' ')} field must be between ${min} and ${max}.`);
  return n;
}

function between(v: unknown, field: string, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(field, `The ${field} field must be between ${min} and ${max}.`);
  return n;
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** A time-profile interval: a weekday and two times of day on the 15-minute grid KentixONE works in. */
function interval(v: unknown, n: number): { day: Weekday; from: string; to: string } {
  const o = (v ?? {}) as Record<string, unknown>;
  if (!WEEKDAYS.includes(o.day as Weekday)) throw invalid(`intervals.${n}.day`, `The selected intervals.${n}.day is invalid.`);
  for (const f of ['from', 'to'] as const) {
    const t = o[f];
    if (typeof t !== 'string' || !/^([01]\d|2[0-4]):(00|15|30|45)$/.test(t) || minutes(t) > 24 * 60) {
      throw invalid(`intervals.${n}.${f}`, `The intervals.${n}.${f} field must be a time of day in 15-minute steps (HH:MM).`);
    }
  }
  if (minutes(o.from as string) >= minutes(o.to as string))
    throw invalid(`intervals.${n}.to`, `The intervals.${n}.to field must be after intervals.${n}.from.`);
  return { day: o.day as Weekday, from: o.from as string, to: o.to as string };
}

function csvCell(v: unknown): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

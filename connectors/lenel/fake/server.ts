import { LoopbackServer, readBody } from '../../../src/drivers/loopback.js';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A fake LenelS2 OnGuard OpenAccess 7.5 on 127.0.0.1, for tests and demos. It implements the part
 * of the vendor's Swagger 2.0 document (OpenAccess 7.5) that the lockstep driver uses, in its
 * shapes, under the document's basePath `/api/access/onguard/openaccess`:
 *
 * - `POST /authentication` (user_name, password, directory_id → session_token and
 *   token_expiration_time; needs the `Application-Id` header only), `DELETE /authentication`.
 *   Every other call needs `Application-Id` and `Session-Token`; a missing, unknown or expired
 *   token is answered 401.
 * - `GET /instances` (type_name, filter, page_number, page_size, order_by) answering
 *   PagedInstances; `POST /instances` (add), `PUT /instances` (modify), `DELETE /instances`
 *   (with the key properties) for Lnl_Cardholder, Lnl_Badge, Lnl_AccessLevelAssignment; read-only
 *   Lnl_AccessLevel and Lnl_BadgeStatus.
 * - `GET /logged_events` (filter required, page_number, page_size, order_by) answering
 *   GetLoggedEvents; `GET /settings/cardholder` (CardholderOptions); `GET /version`.
 * - Every request needs the `version` query parameter (required in the document); errors are
 *   the document's Error shape `{ error: { code, message }, version }`.
 *
 * What the document leaves open (it types `property_value_map` as a bare object and `filter` as a
 * string), the fake decides as OnGuard's DataConduIT classes do, and says so here:
 * - properties are the upper-case DataConduIT names (ID, FIRSTNAME, LASTNAME, SSNO, EMAIL;
 *   BADGEKEY, ID, PERSONID, STATUS, TYPE, ACTIVATE, DEACTIVATE; ACCESSLEVELID, BADGEKEY), matched
 *   case-insensitively on input;
 * - a filter is `PROP op value` terms joined by ` and `, op one of = != > >= < <=, value a number
 *   or a double-quoted string (`\"` and `\\` escaped); logged events filter on their own
 *   lower-case fields (`timestamp >= "2030-01-01T00:00:00Z"`);
 * - order_by is `PROP` or `PROP desc`;
 * - a badge added without ID gets the next free badge ID (OnGuard's automatic badge ID allocation),
 *   unless `autoBadgeIds: false`;
 * - a missing instance in PUT/DELETE is a 400 `openaccess.general.invalidrequestitem`, as OnGuard
 *   answers for a key that names nothing; an assignment that exists already, a 400 too.
 */

export const FAKE_BASE_PATH = '/api/access/onguard/openaccess';

export interface FakeLenelOptions {
  applicationId?: string;
  user?: { user_name: string; password: string; directory_id: string };
  /** Session lifetime; default an hour. */
  sessionMs?: number;
  accessLevels?: Array<{ ID: number; NAME: string }>;
  badgeStatuses?: Array<{ ID: number; NAME: string }>;
  autoBadgeIds?: boolean;
  /** CardholderOptions.activate_deactivate_dates_use_time. Default true. */
  datesUseTime?: boolean;
  /** How property names are spelled in answers (input is case-insensitive either way). Default upper. */
  responseKeyCase?: 'upper' | 'lower';
}

export type Props = Record<string, string | number | boolean | null>;

export interface FakeLoggedEvent {
  serial_number: number;
  timestamp: string;
  controller_id: number;
  device_id: number;
  device_name: string;
  event_type: number;
  event_subtype: number;
  event_text: string;
  description: string;
  /** Absent on events that involve no badge (the document types them as plain integers). */
  badge_id?: number;
  cardholder_key?: number;
  access_result: number;
}

/** One exchange as the fake answered it, for spec-conformance checks. */
export interface FakeExchange {
  method: string;
  /** Path (below the basePath) and query as received. */
  url: string;
  /** The Swagger path this route implements (`/instances`), or null. */
  specPath: string | null;
  status: number;
  requestHeaders: Record<string, string | undefined>;
  requestBody: unknown;
  responseBody: unknown;
  injected: boolean;
}

interface TypeDef {
  key: string[];
  /** Upper-case property names the type has, with the longest string it stores (0: not a string). */
  props: Record<string, { kind: 'int' | 'string' | 'date'; max?: number; required?: boolean }>;
  writable: boolean;
}

const TYPES: Record<string, TypeDef> = {
  Lnl_Cardholder: {
    key: ['ID'],
    writable: true,
    props: {
      ID: { kind: 'int' },
      FIRSTNAME: { kind: 'string', max: 32 },
      MIDNAME: { kind: 'string', max: 32 },
      LASTNAME: { kind: 'string', max: 64, required: true },
      SSNO: { kind: 'string', max: 64 },
      EMAIL: { kind: 'string', max: 128 },
      LASTCHANGED: { kind: 'date' },
    },
  },
  Lnl_Badge: {
    key: ['BADGEKEY'],
    writable: true,
    props: {
      BADGEKEY: { kind: 'int' },
      ID: { kind: 'int' },
      PERSONID: { kind: 'int', required: true },
      TYPE: { kind: 'int', required: true },
      STATUS: { kind: 'int' },
      ACTIVATE: { kind: 'date' },
      DEACTIVATE: { kind: 'date' },
      ISSUECODE: { kind: 'int' },
      LASTCHANGED: { kind: 'date' },
    },
  },
  Lnl_AccessLevel: { key: ['ID'], writable: false, props: { ID: { kind: 'int' }, NAME: { kind: 'string', max: 64 }, SEGMENTID: { kind: 'int' } } },
  Lnl_BadgeStatus: { key: ['ID'], writable: false, props: { ID: { kind: 'int' }, NAME: { kind: 'string', max: 64 } } },
  Lnl_AccessLevelAssignment: {
    key: ['ACCESSLEVELID', 'BADGEKEY'],
    writable: true,
    props: {
      ACCESSLEVELID: { kind: 'int', required: true },
      BADGEKEY: { kind: 'int', required: true },
      ACTIVATE: { kind: 'date' },
      DEACTIVATE: { kind: 'date' },
    },
  },
};

class FakeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const invalid = (message: string): FakeError => new FakeError(400, 'openaccess.general.invalidrequestitem', message);

export class FakeLenel {
  readonly applicationId: string;
  readonly user: { user_name: string; password: string; directory_id: string };
  /** type name → key string → properties */
  readonly store = new Map<string, Map<string, Props>>();
  readonly events: FakeLoggedEvent[] = [];
  readonly exchanges: FakeExchange[] = [];
  readonly sessions = new Map<string, number>();
  datesUseTime: boolean;
  url = '';
  private readonly sessionMs: number;
  private readonly autoBadgeIds: boolean;
  private readonly lowerKeys: boolean;
  private readonly http = new LoopbackServer((req, res) => void this.dispatch(req, res));
  private nextId = 1000;
  private nextSerial = 1;
  private faults: Array<{ status: number; remaining: number; retryAfterSeconds?: number }> = [];

  constructor(opts: FakeLenelOptions = {}) {
    this.applicationId = opts.applicationId ?? 'LOCKSTEP-FAKE-APP';
    this.user = opts.user ?? { user_name: 'lockstep', password: 'secret', directory_id: 'id-1' };
    this.sessionMs = opts.sessionMs ?? 3_600_000;
    this.autoBadgeIds = opts.autoBadgeIds ?? true;
    this.datesUseTime = opts.datesUseTime ?? true;
    this.lowerKeys = opts.responseKeyCase === 'lower';
    for (const t of Object.keys(TYPES)) this.store.set(t, new Map());
    for (const l of opts.accessLevels ?? [
      { ID: 1, NAME: 'Main entrance' },
      { ID: 2, NAME: 'Server room' },
      { ID: 3, NAME: 'Loading dock' },
    ]) {
      this.table('Lnl_AccessLevel').set(String(l.ID), { ID: l.ID, NAME: l.NAME, SEGMENTID: 0 });
    }
    for (const s of opts.badgeStatuses ?? [
      { ID: 1, NAME: 'Active' },
      { ID: 2, NAME: 'Lost' },
      { ID: 3, NAME: 'Returned' },
      { ID: 4, NAME: 'Suspended' },
    ]) {
      this.table('Lnl_BadgeStatus').set(String(s.ID), { ...s });
    }
  }

  // ---------------------------------------------------------------- levers

  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.faults.push({ status, remaining: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Ends every session, as the idle timeout would. */
  expireSessions(): void {
    this.sessions.clear();
  }

  cardholders(): Props[] {
    return [...this.table('Lnl_Cardholder').values()];
  }

  badgesOf(personId: number): Props[] {
    return [...this.table('Lnl_Badge').values()].filter((b) => b.PERSONID === personId);
  }

  assignmentsOf(badgeKey: number): Props[] {
    return [...this.table('Lnl_AccessLevelAssignment').values()].filter((a) => a.BADGEKEY === badgeKey);
  }

  addCardholder(p: { FIRSTNAME?: string; LASTNAME: string; SSNO?: string | null; EMAIL?: string }): Props {
    const ID = this.nextId++;
    const row: Props = {
      ID,
      FIRSTNAME: p.FIRSTNAME ?? null,
      MIDNAME: null,
      LASTNAME: p.LASTNAME,
      SSNO: p.SSNO ?? null,
      EMAIL: p.EMAIL ?? null,
      LASTCHANGED: now(),
    };
    this.table('Lnl_Cardholder').set(String(ID), row);
    return row;
  }

  seedCardholders(count: number, opts: { ssnoPrefix?: string } = {}): void {
    for (let i = 0; i < count; i++) {
      const n = this.nextId;
      this.addCardholder({ FIRSTNAME: 'Seed', LASTNAME: `Holder ${n}`, SSNO: opts.ssnoPrefix ? `${opts.ssnoPrefix}${n}` : null });
    }
  }

  /** Issues a badge to a cardholder, as the badging office would. */
  issueBadge(personId: number, p: { STATUS?: number; TYPE?: number; ID?: number } = {}): Props {
    if (!this.table('Lnl_Cardholder').has(String(personId))) throw new Error(`fake has no cardholder ${personId}`);
    const BADGEKEY = this.nextId++;
    const row: Props = {
      BADGEKEY,
      ID: p.ID ?? this.freeBadgeId(),
      PERSONID: personId,
      TYPE: p.TYPE ?? 1,
      STATUS: p.STATUS ?? 1,
      ACTIVATE: null,
      DEACTIVATE: null,
      ISSUECODE: 0,
      LASTCHANGED: now(),
    };
    this.table('Lnl_Badge').set(String(BADGEKEY), row);
    return row;
  }

  /** Logs an access event at a reader, as the panel would report it. */
  recordAccess(input: { badgeKey: number; granted?: boolean; at?: Date; deviceId?: number }): FakeLoggedEvent {
    const b = this.table('Lnl_Badge').get(String(input.badgeKey));
    if (!b) throw new Error(`fake has no badge ${input.badgeKey}`);
    const granted = input.granted ?? true;
    const e: FakeLoggedEvent = {
      serial_number: this.nextSerial++,
      timestamp: isoSeconds(input.at ?? new Date()),
      controller_id: 7,
      device_id: input.deviceId ?? 3,
      device_name: input.deviceId === undefined ? 'Front door reader' : `Reader ${input.deviceId}`,
      event_type: 0,
      event_subtype: granted ? 0 : 1,
      event_text: '',
      description: granted ? 'Access Granted' : 'Access Denied',
      badge_id: b.ID as number,
      cardholder_key: b.PERSONID as number,
      access_result: granted ? 2 : 3,
    };
    this.events.push(e);
    return e;
  }

  /** A non-access event (a door held open), which the driver must skip. */
  recordAlarm(at: Date = new Date()): FakeLoggedEvent {
    const e: FakeLoggedEvent = {
      serial_number: this.nextSerial++,
      timestamp: isoSeconds(at),
      controller_id: 7,
      device_id: 3,
      device_name: 'Front door reader',
      event_type: 4,
      event_subtype: 5,
      event_text: '',
      description: 'Door Held Open',
      access_result: 0,
    };
    this.events.push(e);
    return e;
  }

  // ---------------------------------------------------------------- server

  async listen(): Promise<string> {
    this.url = `${await this.http.listen()}${FAKE_BASE_PATH}`;
    return this.url;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const full = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const path = full.pathname.startsWith(FAKE_BASE_PATH) ? full.pathname.slice(FAKE_BASE_PATH.length) || '/' : null;
    const raw = await readBody(req);
    let body: unknown;
    const headers = {
      'application-id': header(req, 'application-id'),
      'session-token': header(req, 'session-token') === undefined ? undefined : '(set)',
    };
    const specPath = path !== null && ROUTES.has(`${method} ${path}`) ? path : null;
    const send = (r: Reply, injected = false): void => {
      this.exchanges.push({
        method,
        url: `${path ?? full.pathname}${full.search}`,
        specPath,
        status: r.status,
        requestHeaders: headers,
        requestBody: body,
        responseBody: r.body,
        injected,
      });
      const text = r.body === undefined ? '' : JSON.stringify(r.body);
      res.writeHead(r.status, { ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}), ...(r.headers ?? {}) });
      res.end(text);
    };
    const error = (e: FakeError): Reply => ({ status: e.status, body: { error: { code: e.code, message: e.message }, version: '1.0' } });
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw) as unknown;
      } catch {
        return send(error(invalid('The request body is not valid JSON.')));
      }
    }
    const fault = this.faults[0];
    if (fault) {
      if (--fault.remaining <= 0) this.faults.shift();
      const h = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : undefined;
      return send({ ...error(new FakeError(fault.status, 'openaccess.general.injected', 'injected fault')), headers: h }, true);
    }
    try {
      if (specPath === null) throw new FakeError(404, 'openaccess.general.notfound', `No operation ${method} ${full.pathname}.`);
      const q = full.searchParams;
      if (q.get('version') !== '1.0') throw new FakeError(400, 'openaccess.general.invalidversion', 'The version parameter is missing or not supported.');
      if (headers['application-id'] !== this.applicationId)
        throw new FakeError(401, 'openaccess.general.invalidapplicationid', 'The application ID is missing or not licensed.');
      // Logging in and GET /version ("an unauthenticated operation") need no session.
      if (`${method} ${specPath}` !== 'POST /authentication' && `${method} ${specPath}` !== 'GET /version') {
        const token = header(req, 'session-token');
        const until = token ? this.sessions.get(token) : undefined;
        if (until === undefined || until <= Date.now()) {
          if (token) this.sessions.delete(token);
          throw new FakeError(401, 'openaccess.general.invalidsessiontoken', 'The session token is missing, invalid or expired.');
        }
        this.sessions.set(token!, Date.now() + this.sessionMs);
      }
      send(this.handle(method, specPath, q, body, header(req, 'session-token')));
    } catch (e) {
      if (e instanceof FakeError) return send(error(e));
      send(error(new FakeError(500, 'openaccess.general.internal', e instanceof Error ? e.message : String(e))));
    }
  }

  private handle(method: string, path: string, q: URLSearchParams, body: unknown, token: string | undefined): Reply {
    const ok = (b: Record<string, unknown>): Reply => ({ status: 200, body: { ...b, version: '1.0' } });
    switch (`${method} ${path}`) {
      case 'GET /version':
        return ok({ product_name: 'OnGuard 7.5 (fake)', product_version: '7.5.0' });
      case 'POST /authentication': {
        const b = object(body);
        if (b.user_name !== this.user.user_name || b.password !== this.user.password || (b.directory_id ?? this.user.directory_id) !== this.user.directory_id) {
          throw new FakeError(401, 'openaccess.general.invalidcredentials', 'The user name, password or directory is not valid.');
        }
        const session_token = randomBytes(16).toString('hex');
        const until = Date.now() + this.sessionMs;
        this.sessions.set(session_token, until);
        return ok({ session_token, token_expiration_time: new Date(until).toISOString() });
      }
      case 'DELETE /authentication':
        if (token) this.sessions.delete(token);
        return ok({});
      case 'GET /settings/cardholder':
        return ok({ activate_deactivate_dates_use_time: this.datesUseTime, max_active_badges: 2, max_badge_id_length: 10 });
      case 'GET /instances':
        return ok(this.list(typeOf(q, body, false), q));
      case 'POST /instances':
        return ok({ type_name: typeOf(q, body, true), property_value_map: this.add(typeOf(q, body, true), propsOf(body)) });
      case 'PUT /instances':
        return ok({ type_name: typeOf(q, body, true), property_value_map: this.modify(typeOf(q, body, true), propsOf(body)) });
      case 'DELETE /instances':
        this.remove(typeOf(q, body, true), propsOf(body));
        return ok({});
      case 'GET /logged_events':
        return ok(this.loggedEvents(q));
      default:
        throw new FakeError(404, 'openaccess.general.notfound', `No operation ${method} ${path}.`);
    }
  }

  // ---------------------------------------------------------------- instances

  private list(type: string, q: URLSearchParams): Record<string, unknown> {
    const def = TYPES[type];
    const filter = q.get('filter');
    const terms = filter ? parseFilter(filter, (p) => canonical(def, p)) : [];
    let rows = [...this.table(type).values()].filter((r) => terms.every((t) => t.test(r[t.prop] ?? null)));
    rows = orderBy(rows, q.get('order_by'), (p) => canonical(def, p), def.key[0]);
    return paged(
      rows.map((r) => ({ property_value_map: this.out(type, r) })),
      q,
    );
  }

  private add(type: string, input: Props): Props {
    const def = TYPES[type];
    if (!def.writable) throw invalid(`Instances of ${type} cannot be added through OpenAccess.`);
    const p = this.normalise(def, input);
    if (type === 'Lnl_Cardholder') {
      if ('ID' in p) throw invalid('The property ID is assigned by OnGuard.');
      const row: Props = { ID: this.nextId++, FIRSTNAME: null, MIDNAME: null, LASTNAME: null, SSNO: null, EMAIL: null, ...p, LASTCHANGED: now() };
      this.required(def, row);
      this.table(type).set(String(row.ID), row);
      return this.out(type, row);
    }
    if (type === 'Lnl_Badge') {
      if ('BADGEKEY' in p) throw invalid('The property BADGEKEY is assigned by OnGuard.');
      if (!this.table('Lnl_Cardholder').has(String(p.PERSONID))) throw invalid('The property PERSONID did not exist or contained an invalid value.');
      if (p.ID === undefined || p.ID === null) {
        if (!this.autoBadgeIds) throw invalid('The property ID did not exist or contained an invalid value.');
        p.ID = this.freeBadgeId();
      }
      if ([...this.table(type).values()].some((b) => b.ID === p.ID)) throw invalid(`A badge with ID ${p.ID} exists already.`);
      this.status(p.STATUS);
      const row: Props = { BADGEKEY: this.nextId++, STATUS: 1, ACTIVATE: null, DEACTIVATE: null, ISSUECODE: 0, ...p, LASTCHANGED: now() };
      this.required(def, row);
      this.table(type).set(String(row.BADGEKEY), row);
      return this.out(type, row);
    }
    // Lnl_AccessLevelAssignment
    this.required(def, p);
    if (!this.table('Lnl_AccessLevel').has(String(p.ACCESSLEVELID))) throw invalid('The property ACCESSLEVELID did not exist or contained an invalid value.');
    if (!this.table('Lnl_Badge').has(String(p.BADGEKEY))) throw invalid('The property BADGEKEY did not exist or contained an invalid value.');
    const key = keyOf(def, p);
    if (this.table(type).has(key)) throw invalid(`Access level ${p.ACCESSLEVELID} is already assigned to badge ${p.BADGEKEY}.`);
    this.dates(p);
    const row: Props = { ACTIVATE: null, DEACTIVATE: null, ...p };
    this.table(type).set(key, row);
    return this.out(type, row);
  }

  private modify(type: string, input: Props): Props {
    const def = TYPES[type];
    if (!def.writable) throw invalid(`Instances of ${type} cannot be modified through OpenAccess.`);
    const p = this.normalise(def, input);
    const row = this.mustRow(type, p);
    if (type === 'Lnl_Badge') {
      if ('PERSONID' in p && p.PERSONID !== row.PERSONID) throw invalid('A badge cannot move to another cardholder.');
      this.status(p.STATUS);
    }
    const next = { ...row, ...p };
    this.required(def, next);
    if (type === 'Lnl_AccessLevelAssignment') this.dates(next);
    if ('LASTCHANGED' in row) next.LASTCHANGED = now();
    Object.assign(row, next);
    return this.out(type, row);
  }

  private remove(type: string, input: Props): void {
    const def = TYPES[type];
    if (!def.writable) throw invalid(`Instances of ${type} cannot be deleted through OpenAccess.`);
    const p = this.normalise(def, input);
    const row = this.mustRow(type, p);
    this.table(type).delete(keyOf(def, row));
    // OnGuard removes what hangs off the instance with it: a cardholder's badges, a badge's access levels.
    if (type === 'Lnl_Cardholder') for (const b of this.badgesOf(row.ID as number)) this.remove('Lnl_Badge', { BADGEKEY: b.BADGEKEY! });
    if (type === 'Lnl_Badge')
      for (const a of this.assignmentsOf(row.BADGEKEY as number)) this.table('Lnl_AccessLevelAssignment').delete(keyOf(TYPES.Lnl_AccessLevelAssignment, a));
  }

  private mustRow(type: string, p: Props): Props {
    const def = TYPES[type];
    for (const k of def.key) if (p[k] === undefined || p[k] === null) throw invalid(`The key property ${k} is required.`);
    const row = this.table(type).get(keyOf(def, p));
    if (!row) throw invalid(`The ${type} instance with ${def.key.map((k) => `${k}=${p[k]}`).join(', ')} does not exist.`);
    return row;
  }

  /** Upper-case names, known properties only, values of the property's kind; dates kept as epoch-ISO. */
  private normalise(def: TypeDef, input: Props): Props {
    const out: Props = {};
    for (const [k, v] of Object.entries(input)) {
      const name = canonical(def, k);
      const spec = def.props[name];
      if (name === 'LASTCHANGED') throw invalid('The property LASTCHANGED is read-only.');
      if (v === null || v === '') {
        if (spec.required || def.key.includes(name)) throw invalid(`The property ${name} did not exist or contained an invalid value.`);
        out[name] = null;
      } else if (spec.kind === 'int') {
        const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isSafeInteger(n) || n < 0) throw invalid(`The property ${name} did not exist or contained an invalid value.`);
        out[name] = n;
      } else if (spec.kind === 'date') {
        if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) || Number.isNaN(Date.parse(v))) {
          throw invalid(`The property ${name} did not exist or contained an invalid value.`);
        }
        const at = new Date(Date.parse(v));
        // Without "use time" OnGuard keeps the date only.
        if (!this.datesUseTime) at.setUTCHours(0, 0, 0, 0);
        out[name] = isoSeconds(at);
      } else {
        if (typeof v !== 'string') throw invalid(`The property ${name} did not exist or contained an invalid value.`);
        if (spec.max !== undefined && v.length > spec.max) throw invalid(`The property ${name} is longer than ${spec.max} characters.`);
        out[name] = v;
      }
    }
    return out;
  }

  private required(def: TypeDef, row: Props): void {
    for (const [k, s] of Object.entries(def.props))
      if (s.required && (row[k] === undefined || row[k] === null)) throw invalid(`The property ${k} is required.`);
  }

  private dates(p: Props): void {
    if (typeof p.ACTIVATE === 'string' && typeof p.DEACTIVATE === 'string' && Date.parse(p.DEACTIVATE) < Date.parse(p.ACTIVATE)) {
      throw invalid('The deactivate date must be later than the activate date.');
    }
  }

  private status(v: Props[string] | undefined): void {
    if (v !== undefined && v !== null && !this.table('Lnl_BadgeStatus').has(String(v)))
      throw invalid('The property STATUS did not exist or contained an invalid value.');
  }

  private out(type: string, row: Props): Props {
    void type;
    return this.lowerKeys ? Object.fromEntries(Object.entries(row).map(([k, v]) => [k.toLowerCase(), v])) : { ...row };
  }

  private freeBadgeId(): number {
    const used = new Set([...this.table('Lnl_Badge').values()].map((b) => b.ID));
    let id = 100_001 + this.table('Lnl_Badge').size;
    while (used.has(id)) id++;
    return id;
  }

  private table(type: string): Map<string, Props> {
    return this.store.get(type)!;
  }

  // ---------------------------------------------------------------- logged events

  private loggedEvents(q: URLSearchParams): Record<string, unknown> {
    const filter = q.get('filter');
    if (filter === null) throw invalid('The filter parameter is required.');
    const fields = new Set(Object.keys(EMPTY_EVENT));
    const terms =
      filter.trim() === ''
        ? []
        : parseFilter(filter, (p) => {
            if (!fields.has(p)) throw invalid(`The logged event property ${p} does not exist.`);
            return p;
          });
    let rows = this.events.filter((e) => terms.every((t) => t.test((e as unknown as Props)[t.prop] ?? null)));
    rows = orderBy(
      rows as unknown as Props[],
      q.get('order_by') ?? 'timestamp',
      (p) => {
        if (!fields.has(p)) throw invalid(`The logged event property ${p} does not exist.`);
        return p;
      },
      'serial_number',
    ) as unknown as FakeLoggedEvent[];
    return paged(
      rows.map((e) => ({ ...e })),
      q,
    );
  }
}

const EMPTY_EVENT: FakeLoggedEvent = {
  serial_number: 0,
  timestamp: '',
  controller_id: 0,
  device_id: 0,
  device_name: '',
  event_type: 0,
  event_subtype: 0,
  event_text: '',
  description: '',
  badge_id: 0,
  cardholder_key: 0,
  access_result: 0,
};

const ROUTES = new Set([
  'GET /version',
  'POST /authentication',
  'DELETE /authentication',
  'GET /settings/cardholder',
  'GET /instances',
  'POST /instances',
  'PUT /instances',
  'DELETE /instances',
  'GET /logged_events',
]);

export async function startFakeLenel(opts: FakeLenelOptions = {}): Promise<FakeLenel> {
  const fake = new FakeLenel(opts);
  await fake.listen();
  return fake;
}

// ---------------------------------------------------------------- helpers

function typeOf(q: URLSearchParams, body: unknown, write: boolean): string {
  // The document: a parameter may be in the query or in the body, the API makes no distinction.
  const fromBody = body && typeof body === 'object' ? (body as Record<string, unknown>).type_name : undefined;
  const t = q.get('type_name') ?? (typeof fromBody === 'string' ? fromBody : null);
  if (!t) throw invalid('The type_name parameter is required.');
  if (!TYPES[t]) throw new FakeError(400, 'openaccess.general.invalidtype', `The type ${t} is not supported.`);
  void write;
  return t;
}

function object(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('The request body must be an object.');
  return body as Record<string, unknown>;
}

function propsOf(body: unknown): Props {
  const b = object(body);
  const m = b.property_value_map;
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw invalid('The property_value_map is required.');
  for (const v of Object.values(m)) {
    if (v !== null && typeof v === 'object') throw invalid('Property values must be scalars.');
  }
  return m as Props;
}

function canonical(def: TypeDef, name: string): string {
  const up = name.toUpperCase();
  if (!def.props[up]) throw invalid(`The property ${name} did not exist or contained an invalid value.`);
  return up;
}

function keyOf(def: TypeDef, p: Props): string {
  return def.key.map((k) => String(p[k])).join('/');
}

interface Term {
  prop: string;
  test(v: Props[string]): boolean;
}

/** `PROP op value [and PROP op value]...`; values are numbers or double-quoted strings. */
export function parseFilter(filter: string, prop: (name: string) => string): Term[] {
  const terms: Term[] = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|!=|>=|<=|>|<)\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)\s*/y;
  let pos = 0;
  for (;;) {
    re.lastIndex = pos;
    const m = re.exec(filter);
    if (!m) throw new FakeError(400, 'openaccess.general.invalidfilter', `The filter ${filter} is not valid.`);
    const name = prop(m[1]);
    const op = m[2];
    const literal = m[3];
    const want: string | number = literal.startsWith('"') ? literal.slice(1, -1).replace(/\\(.)/g, '$1') : Number(literal);
    terms.push({ prop: name, test: (v) => compare(v, op, want) });
    pos = re.lastIndex;
    if (pos >= filter.length) return terms;
    const and = /and\s+/iy;
    and.lastIndex = pos;
    if (!and.exec(filter)) throw new FakeError(400, 'openaccess.general.invalidfilter', `The filter ${filter} is not valid.`);
    pos = and.lastIndex;
  }
}

function compare(v: Props[string], op: string, want: string | number): boolean {
  if (v === null || v === undefined) return op === '!=' ? true : false;
  let c: number;
  if (typeof want === 'number') c = Number(v) - want;
  else if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) && !Number.isNaN(Date.parse(want))) c = Date.parse(v) - Date.parse(want);
  else c = String(v) === want ? 0 : String(v) < want ? -1 : 1;
  switch (op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '<':
      return c < 0;
    default:
      return c <= 0;
  }
}

function orderBy(rows: Props[], spec: string | null, prop: (name: string) => string, tiebreak: string): Props[] {
  if (!spec) return [...rows].sort((a, b) => cmp(a[tiebreak], b[tiebreak]));
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$/i.exec(spec);
  if (!m) throw invalid(`The order_by ${spec} is not valid.`);
  const field = prop(m[1]);
  const dir = m[2]?.toLowerCase() === 'desc' ? -1 : 1;
  return [...rows].sort((a, b) => (cmp(a[field], b[field]) || cmp(a[tiebreak], b[tiebreak])) * dir);
}

function cmp(x: unknown, y: unknown): number {
  if (x === y) return 0;
  if (x === null || x === undefined) return -1;
  if (y === null || y === undefined) return 1;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'string' && typeof y === 'string' && /^\d{4}-/.test(x) && /^\d{4}-/.test(y)) return Date.parse(x) - Date.parse(y);
  return String(x).localeCompare(String(y));
}

function paged<T>(items: T[], q: URLSearchParams): Record<string, unknown> {
  const pn = q.get('page_number');
  const ps = q.get('page_size');
  const page_number = pn === null ? 1 : Number(pn);
  const page_size = ps === null ? 20 : Number(ps);
  if (!Number.isInteger(page_number) || page_number < 1) throw invalid('The page_number parameter must be 1 or more.');
  if (!Number.isInteger(page_size) || page_size < 1 || page_size > 100) throw invalid('The page_size parameter must be from 1 to 100.');
  const slice = items.slice((page_number - 1) * page_size, page_number * page_size);
  return { count: slice.length, item_list: slice, page_number, page_size, total_items: items.length, total_pages: Math.ceil(items.length / page_size) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function now(): string {
  return isoSeconds(new Date());
}

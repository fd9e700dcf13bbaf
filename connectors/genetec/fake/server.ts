import { LoopbackServer } from '../../../src/drivers/loopback.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SYSTEM_CONFIGURATION, isNoDate } from '../assumptions.js';
import { parseQ, type Segment } from '../q.js';

/**
 * A fake Genetec Security Center Web SDK on 127.0.0.1, for tests and demos. It answers the part
 * of the Web SDK that the lockstep driver uses, in the shapes of the vendor's Postman collection
 * ("Security Center Web SDK", ../shared/reference/genetec/):
 *
 * - `{base}/` (keep-alive), `GET {base}/entity/{guid}` (all properties), `GET {base}/entity/exists/{guid}`,
 *   `DELETE {base}/entity/{guid}`, `GET|POST {base}/entity?q=...` (the q= syntax: `entity=<guid>` or
 *   `entity=NewEntity(Type)`, property reads and writes, `Prop@x` / `Prop-x` collection changes,
 *   method calls such as `Status.Activate(a,b)`, `AddCardholders(x)`, `AddCardholderIntoGroup(x)`);
 * - `GET {base}/report/CardholderConfiguration|AccessRuleConfiguration|EntityConfiguration|CredentialConfiguration`
 *   paged with `Page` / `PageSize` (rows `{ Guid }`, `TooManyResults` while more remain), cardholders
 *   searchable by `CustomFields@CustomField(guid,value)`;
 * - `GET {base}/report/CardholderActivity` (time range, event filter, sort order, maximum count);
 * - custom fields: `GET|POST|PUT|DELETE {base}/customField/...`;
 * - every answer the `{ Rsp: { Status, Result } }` envelope; a failure HTTP 200 with `Status: "Fail"`
 *   and `Result: { SdkErrorCode, Message }`; HTTP Basic auth with `user;ApplicationId` and password
 *   (401 without), POST without Content-Length refused with 411 as the Web SDK does.
 *
 * Where the collection is silent the fake does what connectors/genetec/assumptions.ts says.
 */

export interface FakeGenetecOptions {
  username?: string;
  applicationId?: string;
  password?: string;
  /** The Web SDK role's base URI (default WebSdk). */
  basePath?: string;
  /** Access rules to create: name, and optionally a temporary window. */
  accessRules?: Array<{ name: string; guid?: string; start?: string; end?: string }>;
  cardholderGroups?: Array<{ name: string; guid?: string }>;
  /** Cardholder custom fields (Text) to define up front. */
  customFields?: string[];
}

export interface FakeCardholder {
  guid: string;
  name: string;
  firstName: string;
  lastName: string;
  email: string;
  mobile: string;
  description: string;
  activation: string | null;
  expiration: string | null;
  deactivated: boolean;
  groups: Set<string>;
  credentials: string[];
  customFields: Map<string, string>;
  createdOn: string;
  lastAccess: { accessPoint: string; at: string; granted: boolean } | null;
}

export interface FakeCredential {
  guid: string;
  name: string;
  cardholder: string | null;
  facility: number;
  cardId: number;
  activation: string | null;
  expiration: string | null;
  deactivated: boolean;
  lost: boolean;
  stolen: boolean;
  createdOn: string;
}

export interface FakeAccessRule {
  guid: string;
  name: string;
  type: 'Permanent' | 'Temporary';
  start: string | null;
  end: string | null;
  deny: boolean;
  system: boolean;
  cardholders: Set<string>;
  createdOn: string;
}

export interface FakeCardholderGroup {
  guid: string;
  name: string;
  members: Set<string>;
  createdOn: string;
}

export interface FakeCustomField {
  guid: string;
  name: string;
  entityType: string;
  valueType: string;
  defaultValue: string;
}

export interface FakeEvent {
  at: string;
  cardholder: string;
  credential: string;
  accessPoint: string;
  door: string;
  /** Numeric event type in the report rows (the collection's rows show 35). */
  eventType: number;
  name: 'AccessGranted' | 'AccessRefused';
}

/** One exchange as the fake answered it, for the spec test. */
export interface FakeExchange {
  method: string;
  /** Path after the base URI, e.g. `/entity`, `/report/CardholderConfiguration`, `/entity/{guid}`. */
  path: string;
  q: string | null;
  status: number;
  /** Rsp.Status, when the answer was an envelope. */
  rspStatus: string | null;
  body: unknown;
  injected: boolean;
}

class SdkFail extends Error {
  constructor(
    readonly sdkErrorCode: string,
    message: string,
  ) {
    super(message);
  }
}

const ZERO = '00000000-0000-0000-0000-000000000000';
const MIN_DATE = '0001-01-01T00:00:00';
const EVENT_TYPES: Record<string, number> = { AccessGranted: 35, AccessRefused: 36 };

export class FakeGenetec {
  readonly username: string;
  readonly applicationId: string;
  readonly password: string;
  readonly basePath: string;
  readonly cardholders = new Map<string, FakeCardholder>();
  readonly credentials = new Map<string, FakeCredential>();
  readonly accessRules = new Map<string, FakeAccessRule>();
  readonly cardholderGroups = new Map<string, FakeCardholderGroup>();
  readonly customFields: FakeCustomField[] = [];
  readonly events: FakeEvent[] = [];
  readonly exchanges: FakeExchange[] = [];
  url = '';
  private readonly http = new LoopbackServer((req, res) => void this.dispatch(req, res));
  private port = 0;
  private faults: Array<{ status: number; remaining: number; retryAfterSeconds?: number }> = [];
  private sdkFaults: Array<{ code: string; message: string }> = [];
  private sessionRevoked = false;
  private sessionOpen = false;

  constructor(opts: FakeGenetecOptions = {}) {
    this.username = opts.username ?? 'lockstep';
    this.applicationId = opts.applicationId ?? 'KxsD11z743Hf5Gq9mv3+5ekxzemlCiUXkTFY5ba1NOGcLCmGstt2n0zYE9NsNimv';
    this.password = opts.password ?? 'fake-password';
    this.basePath = `/${(opts.basePath ?? 'WebSdk').replace(/^\/+|\/+$/g, '')}`;
    const now = iso();
    // the system rules every Security Center has (the collection's "Lockdown rule", GUID ...09)
    this.accessRules.set('00000000-0000-0000-0000-000000000009', rule('00000000-0000-0000-0000-000000000009', 'Lockdown rule', { deny: true, system: true }));
    this.accessRules.set('00000000-0000-0000-0000-00000000000a', rule('00000000-0000-0000-0000-00000000000a', 'All open rule', { system: true }));
    for (const r of opts.accessRules ?? [
      { name: 'Perimeter', guid: '3c6a1e58-2b0d-4c1e-9a51-0d1b8f1e0001' },
      { name: 'Server room', guid: '3c6a1e58-2b0d-4c1e-9a51-0d1b8f1e0002' },
    ]) {
      const g = r.guid ?? randomUUID();
      this.accessRules.set(g, rule(g, r.name, { start: r.start, end: r.end }));
    }
    for (const cg of opts.cardholderGroups ?? [
      { name: 'Staff', guid: '5d0c2b7a-9e41-4f0b-8c7e-1a2b3c4d0001' },
      { name: 'Contractors', guid: '5d0c2b7a-9e41-4f0b-8c7e-1a2b3c4d0002' },
    ]) {
      const g = cg.guid ?? randomUUID();
      this.cardholderGroups.set(g, { guid: g, name: cg.name, members: new Set(), createdOn: now });
    }
    for (const f of opts.customFields ?? []) this.defineCustomField(f);
  }

  // ---------------------------------------------------------------- levers

  /** The next `times` requests are answered with this HTTP status (and Retry-After, if given). */
  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.faults.push({ status, remaining: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds });
  }

  /** The next request is answered `Status: "Fail"` with this SdkErrorCode and message. */
  failNextSdk(code: string, message: string): void {
    this.sdkFaults.push({ code, message });
  }

  clearFaults(): void {
    this.faults = [];
    this.sdkFaults = [];
  }

  /** Ends the API user's session (an administrator logged it off, the role restarted): the next request is refused once. */
  revokeSession(): void {
    this.sessionRevoked = true;
  }

  defineCustomField(name: string, entityType = 'Cardholder', valueType = 'Text'): FakeCustomField {
    const f: FakeCustomField = { guid: randomUUID(), name, entityType, valueType, defaultValue: '' };
    this.customFields.push(f);
    return f;
  }

  addCardholder(input: { firstName?: string; lastName?: string; name?: string; custom?: Record<string, string> } = {}): FakeCardholder {
    const guid = randomUUID();
    const c: FakeCardholder = {
      guid,
      name: input.name ?? [input.firstName, input.lastName].filter(Boolean).join(' ') ?? guid,
      firstName: input.firstName ?? '',
      lastName: input.lastName ?? '',
      email: '',
      mobile: '',
      description: '',
      activation: iso(),
      expiration: null,
      deactivated: false,
      groups: new Set(),
      credentials: [],
      customFields: new Map(Object.entries(input.custom ?? {})),
      createdOn: iso(),
      lastAccess: null,
    };
    this.cardholders.set(guid, c);
    return c;
  }

  seedCardholders(count: number, opts: { customField?: string; prefix?: string } = {}): FakeCardholder[] {
    const out: FakeCardholder[] = [];
    for (let i = 0; i < count; i++) {
      const custom = opts.customField ? { [opts.customField]: `${opts.prefix ?? 'seed-'}${this.cardholders.size + 1}-${i}` } : {};
      out.push(this.addCardholder({ firstName: 'Seed', lastName: `Cardholder ${i}`, custom }));
    }
    return out;
  }

  /** Enrols a card (standard 26 bits) and assigns it to the cardholder, as an operator at a badge desk would. */
  issueCredential(cardholder: string, opts: { expiration?: string } = {}): FakeCredential {
    const ch = this.cardholders.get(cardholder);
    if (!ch) throw new Error(`fake has no cardholder ${cardholder}`);
    const guid = randomUUID();
    const cardId = 1000 + this.credentials.size;
    const c: FakeCredential = {
      guid,
      name: `${ch.name} card ${cardId}`,
      cardholder,
      facility: 118,
      cardId,
      activation: iso(),
      expiration: opts.expiration ?? null,
      deactivated: false,
      lost: false,
      stolen: false,
      createdOn: iso(),
    };
    this.credentials.set(guid, c);
    ch.credentials.push(guid);
    return c;
  }

  /** Records an access at a door, as a unit (or, later, an offline lock's audit trail) would report it. */
  recordAccess(input: { cardholder: string; credential: string; door?: string; granted?: boolean; at?: Date }): FakeEvent {
    const ch = this.cardholders.get(input.cardholder);
    const e: FakeEvent = {
      at: (input.at ?? new Date()).toISOString(),
      cardholder: input.cardholder,
      credential: input.credential,
      accessPoint: 'b094d71c-b2d5-4a18-8fc9-d551b69eabd5',
      door: input.door ?? '3799c057-5ccd-418d-b127-2cdd008c8b3c',
      eventType: EVENT_TYPES[input.granted === false ? 'AccessRefused' : 'AccessGranted'],
      name: input.granted === false ? 'AccessRefused' : 'AccessGranted',
    };
    this.events.push(e);
    if (ch) ch.lastAccess = { accessPoint: e.accessPoint, at: e.at, granted: e.name === 'AccessGranted' };
    return e;
  }

  customFieldValue(cardholder: string, name: string): string | undefined {
    return this.cardholders.get(cardholder)?.customFields.get(name);
  }

  // ---------------------------------------------------------------- server

  async listen(port = 0): Promise<string> {
    this.port = Number(new URL(await this.http.listen(port || this.port)).port);
    this.url = `http://127.0.0.1:${this.port}${this.basePath}`;
    return this.url;
  }

  /** Stops listening (the Web SDK role is down): requests are refused at the TCP level. */
  async close(): Promise<void> {
    await this.http.close();
  }

  /** Listens again on the same port after close(). */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await drain(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const q = url.searchParams.get('q');
    const path = url.pathname.startsWith(this.basePath) ? url.pathname.slice(this.basePath.length) || '/' : null;
    const send = (status: number, body: unknown, opts: { headers?: Record<string, string>; injected?: boolean } = {}): void => {
      const rspStatus = body && typeof body === 'object' && 'Rsp' in body ? String((body as { Rsp: { Status: unknown } }).Rsp.Status) : null;
      this.exchanges.push({ method, path: path ?? url.pathname, q, status, rspStatus, body, injected: opts.injected ?? false });
      const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, {
        ...(text ? { 'content-type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'text/json; charset=utf-8' } : {}),
        ...(opts.headers ?? {}),
      });
      res.end(text);
    };
    const fault = this.faults[0];
    if (fault) {
      if (--fault.remaining <= 0) this.faults.shift();
      const headers = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : undefined;
      return send(fault.status, `<html><body>${fault.status}</body></html>`, { headers, injected: true });
    }
    if (path === null) return send(404, '<html><body>Not Found</body></html>');
    if (!this.authorised(req.headers.authorization)) {
      return send(401, undefined, { headers: { 'www-authenticate': 'Basic realm="WebSdk"' } });
    }
    if (this.sessionRevoked) {
      // the old session is gone; this request is refused, the next one opens a new session
      this.sessionRevoked = false;
      this.sessionOpen = false;
      return send(401, undefined, { headers: { 'www-authenticate': 'Basic realm="WebSdk"' } });
    }
    this.sessionOpen = true;
    if (method === 'POST' && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      return send(411, '<html><body>Length Required</body></html>');
    }
    const sdkFault = this.sdkFaults.shift();
    if (sdkFault) return send(200, fail(sdkFault.code, sdkFault.message), { injected: true });
    try {
      const out = this.route(method, path, q);
      send(200, out);
    } catch (e) {
      if (e instanceof SdkFail) return send(200, fail(e.sdkErrorCode, e.message));
      send(500, `<html><body>${e instanceof Error ? e.message : String(e)}</body></html>`);
    }
  }

  private authorised(header: string | undefined): boolean {
    const m = /^Basic (.+)$/.exec(header ?? '');
    if (!m) return false;
    const text = Buffer.from(m[1], 'base64').toString('utf8');
    const i = text.indexOf(':');
    return i > 0 && text.slice(0, i) === `${this.username};${this.applicationId}` && text.slice(i + 1) === this.password;
  }

  private route(method: string, path: string, q: string | null): unknown {
    if (path === '/' && method === 'GET') return ok();
    let m: RegExpExecArray | null;
    if ((m = /^\/entity\/exists\/([^/]+)$/.exec(path)) && method === 'GET') {
      const id = decodeURIComponent(m[1]);
      if (!this.exists(id)) throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${id}`);
      return ok({ Value: true });
    }
    if ((m = /^\/entity\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]);
      if (method === 'GET') return this.entityJson(id);
      if (method === 'DELETE') {
        this.deleteEntity(id);
        return ok();
      }
    }
    if (path === '/entity' && (method === 'GET' || method === 'POST')) {
      if (!q) throw new SdkFail('InvalidOperation', 'the q parameter is required');
      return this.entityQuery(method, q);
    }
    if ((m = /^\/report\/(\w+)$/.exec(path)) && method === 'GET') return this.report(m[1], q ?? '');
    if ((m = /^\/customField\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]*)$/.exec(path)) && method === 'POST') {
      const [entityType, name, dataType] = [m[1], decodeURIComponent(m[2]), m[3]];
      if (this.customFields.some((f) => f.entityType === entityType && f.name === name))
        throw new SdkFail('InvalidOperation', `custom field ${name} already exists`);
      this.defineCustomField(name, entityType, dataType);
      return ok();
    }
    if ((m = /^\/customField\/([^/]+)\/([^/]+)\/([^/]*)$/.exec(path)) && method === 'PUT') {
      const ch = this.mustCardholder(decodeURIComponent(m[1]));
      const name = decodeURIComponent(m[2]);
      this.mustField(name);
      ch.customFields.set(name, decodeURIComponent(m[3]));
      return ok();
    }
    if ((m = /^\/customField\/([^/]+)\/([^/]+)$/.exec(path)) && method === 'GET') {
      const ch = this.mustCardholder(decodeURIComponent(m[1]));
      const f = this.mustField(decodeURIComponent(m[2]));
      return ok({ Value: ch.customFields.get(f.name) ?? f.defaultValue });
    }
    throw new SdkFail('InvalidOperation', `${method} ${path} is not a Web SDK request this fake knows`);
  }

  // ---------------------------------------------------------------- /entity?q=

  private entityQuery(method: string, q: string): unknown {
    const segs = parseQ(q);
    if (segs[0]?.kind !== 'entity') throw new SdkFail('InvalidOperation', 'q must start with entity=');
    const result: Record<string, unknown> = {};
    let target: string | null = null;
    for (const seg of segs) {
      if (seg.kind === 'entity') {
        target = this.resolveTarget(seg.target, method);
        continue;
      }
      if (seg.kind !== 'read' && method !== 'POST')
        throw new SdkFail('InvalidOperation', `${seg.kind === 'call' ? seg.name : ''} changes the entity: use POST`);
      Object.assign(result, this.apply(target!, seg));
    }
    return Object.keys(result).length > 0 ? ok(result) : ok();
  }

  private resolveTarget(target: string, method: string): string {
    const m = /^NewEntity\(([^)]*)\)$/i.exec(target);
    if (!m) {
      const id = target.trim();
      if (!this.exists(id)) throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${id}`);
      return id;
    }
    if (method !== 'POST') throw new SdkFail('InvalidOperation', 'NewEntity needs POST');
    const [type, sub] = m[1].split(',').map((s) => s.trim());
    const guid = randomUUID();
    const now = iso();
    if (type === 'Cardholder') {
      this.cardholders.set(guid, {
        guid,
        name: '',
        firstName: '',
        lastName: '',
        email: '',
        mobile: '',
        description: '',
        activation: now,
        expiration: null,
        deactivated: false,
        groups: new Set(),
        credentials: [],
        customFields: new Map(),
        createdOn: now,
        lastAccess: null,
      });
    } else if (type === 'AccessRule') {
      this.accessRules.set(guid, { ...rule(guid, ''), type: sub === 'Temporary' ? 'Temporary' : 'Permanent' });
    } else if (type === 'CardholderGroup') {
      this.cardholderGroups.set(guid, { guid, name: '', members: new Set(), createdOn: now });
    } else {
      throw new SdkFail('InvalidOperation', `this fake does not create ${type} entities`);
    }
    return guid;
  }

  private apply(id: string, seg: Segment): Record<string, unknown> {
    const ch = this.cardholders.get(id);
    const cred = this.credentials.get(id);
    const ar = this.accessRules.get(id);
    const cg = this.cardholderGroups.get(id);
    if (seg.kind === 'read') {
      if (seg.name === 'Guid') return { Guid: id };
      if (id === SYSTEM_CONFIGURATION && seg.name === 'CustomFields') return { CustomFields: this.customFields.map(fieldJson) };
      const full = (this.entityJson(id) as { Rsp: { Result: Record<string, unknown> } }).Rsp.Result;
      const key = Object.keys(full).find((k) => k.toLowerCase() === seg.name.toLowerCase());
      if (!key) throw new SdkFail('InvalidOperation', `${seg.name} is not a property of this entity`);
      return { [key]: full[key] };
    }
    if (seg.kind === 'set') {
      const v = seg.value;
      if (seg.name === 'Name') {
        if (ch) ch.name = v;
        else if (ar) ar.name = v;
        else if (cg) cg.name = v;
        else if (cred) cred.name = v;
        return {};
      }
      if (ch && seg.name === 'FirstName') return (void (ch.firstName = v), {});
      if (ch && seg.name === 'LastName') return (void (ch.lastName = v), {});
      if (ch && seg.name === 'EmailAddress') return (void (ch.email = v), {});
      if (ch && seg.name === 'MobilePhoneNumber') return (void (ch.mobile = v), {});
      if (ar && (seg.name === 'StartTime' || seg.name === 'EndTime')) {
        const d = date(v, seg.name);
        if (seg.name === 'StartTime') ar.start = d;
        else ar.end = d;
        return {};
      }
      throw new SdkFail('InvalidOperation', `${seg.name} cannot be set on this entity`);
    }
    if (seg.kind === 'call') {
      const [a, b] = seg.args;
      if ((ch || cred) && seg.name === 'Status.Activate') {
        const e = (ch ?? cred)!;
        e.deactivated = false;
        if (cred) {
          cred.lost = false;
          cred.stolen = false;
        }
        e.activation = a !== undefined ? date(a, 'activationDate') : iso();
        e.expiration = b !== undefined ? date(b, 'expirationDate') : null;
        if (e.activation && e.expiration && Date.parse(e.expiration) < Date.parse(e.activation))
          throw new SdkFail('InvalidOperation', 'the expiration date is before the activation date');
        return {};
      }
      if ((ch || cred) && seg.name === 'Status.Deactivate') {
        const e = (ch ?? cred)!;
        if (a !== undefined) e.expiration = date(a, 'deactivationDate');
        else e.deactivated = true;
        return {};
      }
      if (cred && seg.name === 'Status.Lost') return (void (cred.lost = true), {});
      if (cred && seg.name === 'Status.Stolen') return (void (cred.stolen = true), {});
      if (ar && (seg.name === 'AddCardholders' || seg.name === 'RemoveCardholders')) {
        if (seg.args.length !== 1) throw new SdkFail('InvalidOperation', `${seg.name} takes one cardholder or cardholder group`);
        const who = this.mustMember(a);
        if (seg.name === 'AddCardholders') ar.cardholders.add(who);
        else ar.cardholders.delete(who);
        return {};
      }
      if (ar && seg.name === 'IsMember') return { IsMember: ar.cardholders.has(a ?? '') };
      if (cg && (seg.name === 'AddCardholderIntoGroup' || seg.name === 'RemoveCardholderFromGroup')) {
        const who = this.mustCardholder(a ?? '');
        if (seg.name === 'AddCardholderIntoGroup') {
          cg.members.add(who.guid);
          who.groups.add(cg.guid);
        } else {
          cg.members.delete(who.guid);
          who.groups.delete(cg.guid);
        }
        return {};
      }
      throw new SdkFail('InvalidOperation', `${seg.name} is not a method of this entity`);
    }
    if (ch && (seg.kind === 'add' || seg.kind === 'remove') && seg.name === 'Credentials') {
      const c = this.credentials.get(seg.value);
      if (!c) throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${seg.value}`);
      if (seg.kind === 'add') {
        if (c.cardholder && c.cardholder !== ch.guid)
          this.cardholders.get(c.cardholder)?.credentials.splice(this.cardholders.get(c.cardholder)!.credentials.indexOf(c.guid), 1);
        c.cardholder = ch.guid;
        if (!ch.credentials.includes(c.guid)) ch.credentials.push(c.guid);
      } else if (c.cardholder === ch.guid) {
        c.cardholder = null;
        ch.credentials.splice(ch.credentials.indexOf(c.guid), 1);
      }
      return {};
    }
    throw new SdkFail('InvalidOperation', `unsupported operation on ${id}`);
  }

  // ---------------------------------------------------------------- /report

  private report(type: string, q: string): unknown {
    const segs = parseQ(q);
    const opts = new Map<string, string>();
    const adds = new Map<string, string[]>();
    const calls = new Map<string, string[]>();
    for (const s of segs) {
      if (s.kind === 'set') opts.set(s.name, s.value);
      else if (s.kind === 'add') adds.set(s.name, [...(adds.get(s.name) ?? []), s.value]);
      else if (s.kind === 'call') calls.set(s.name, s.args);
      else if (s.kind === 'clear') adds.set(s.name, []);
      else throw new SdkFail('InvalidOperation', `unexpected ${s.kind} in a report query`);
    }
    const allowed: Record<string, string[]> = {
      CardholderConfiguration: ['Page', 'PageSize', 'CustomFields', 'FirstName', 'LastName', 'AccessStatus', 'CardholderGroupIds'],
      AccessRuleConfiguration: ['Page', 'PageSize', 'AccessRuleType'],
      EntityConfiguration: ['Page', 'PageSize', 'EntityTypes', 'Name', 'NameSearchMode'],
      CredentialConfiguration: ['Page', 'PageSize', 'UnassignedOnly'],
      CardholderActivity: ['Cardholders', 'Events', 'TimeRange.SetTimeRange', 'SortOrder', 'MaximumResultCount'],
    };
    const known = allowed[type];
    if (!known) throw new SdkFail('InvalidOperation', `report ${type} is not one this fake answers`);
    for (const k of [...opts.keys(), ...adds.keys(), ...calls.keys()]) {
      if (!known.includes(k)) throw new SdkFail('InvalidOperation', `${k} is not a filter of ${type}`);
    }
    if (type === 'CardholderActivity') return this.activity(opts, adds, calls);

    let guids: string[];
    if (type === 'CardholderConfiguration') {
      let all = [...this.cardholders.values()];
      for (const cf of adds.get('CustomFields') ?? []) {
        const m = /^CustomField\((.*)\)$/s.exec(cf);
        const args = m ? parseQ(`x(${m[1]})`)[0] : undefined;
        if (!args || args.kind !== 'call' || args.args.length !== 2) throw new SdkFail('InvalidOperation', 'CustomFields@CustomField(guid,value)');
        const field = this.customFields.find((f) => f.guid === args.args[0]);
        if (!field) throw new SdkFail('UnableToRetrieveEntity', `no custom field ${args.args[0]}`);
        all = all.filter((c) => (c.customFields.get(field.name) ?? field.defaultValue) === args.args[1]);
      }
      guids = all.map((c) => c.guid);
    } else if (type === 'AccessRuleConfiguration') {
      guids = [...this.accessRules.values()].filter((r) => !opts.get('AccessRuleType') || r.type === opts.get('AccessRuleType')).map((r) => r.guid);
    } else if (type === 'CredentialConfiguration') {
      guids = [...this.credentials.values()].filter((c) => opts.get('UnassignedOnly') !== 'true' || c.cardholder === null).map((c) => c.guid);
    } else {
      const types = adds.get('EntityTypes') ?? [];
      guids = [];
      if (types.includes('CardholderGroup')) guids.push(...this.cardholderGroups.keys());
      if (types.includes('Cardholder')) guids.push(...this.cardholders.keys());
      if (types.includes('AccessRule')) guids.push(...this.accessRules.keys());
      if (types.includes('Credential')) guids.push(...this.credentials.keys());
    }
    const pageSize = opts.has('PageSize') ? int(opts.get('PageSize')!, 'PageSize', 1) : guids.length || 1;
    const page = opts.has('Page') ? int(opts.get('Page')!, 'Page', 1) : 1;
    const rows = guids.slice((page - 1) * pageSize, page * pageSize);
    const more = page * pageSize < guids.length;
    return { Rsp: { Status: more ? 'TooManyResults' : 'Ok', Result: rows.map((g) => ({ Guid: g })) } };
  }

  private activity(opts: Map<string, string>, adds: Map<string, string[]>, calls: Map<string, string[]>): unknown {
    const range = calls.get('TimeRange.SetTimeRange');
    const from = range?.[0] !== undefined ? Date.parse(date(range[0], 'startTime')!) : Number.NEGATIVE_INFINITY;
    const to = range?.[1] !== undefined ? Date.parse(date(range[1], 'endTime')!) : Number.POSITIVE_INFINITY;
    const names = adds.get('Events');
    const who = adds.get('Cardholders');
    const max = opts.has('MaximumResultCount') ? int(opts.get('MaximumResultCount')!, 'MaximumResultCount', 1) : 10_000;
    const sort = opts.get('SortOrder') ?? 'Descending';
    if (sort !== 'Ascending' && sort !== 'Descending') throw new SdkFail('InvalidOperation', 'SortOrder is Ascending or Descending');
    const hits = this.events
      .filter((e) => Date.parse(e.at) >= from && Date.parse(e.at) < to)
      .filter((e) => !names || names.length === 0 || names.includes(e.name))
      .filter((e) => !who || who.includes(e.cardholder))
      .sort((a, b) => (Date.parse(a.at) - Date.parse(b.at)) * (sort === 'Ascending' ? 1 : -1));
    const rows = hits.slice(0, max).map((e) => ({
      Timestamp: e.at,
      EventType: e.eventType,
      UnitGuid: 'ddce33d4-4114-469c-ba8d-b03aa8a387dc',
      DeviceGuid: 'b094d71c-b2d5-4a18-8fc9-d551b69eabd5',
      APGuid: e.accessPoint,
      SourceGuid: e.accessPoint,
      CredentialGuid: e.credential,
      CardholderGuid: e.cardholder,
      Credential2Guid: ZERO,
      TimeZone: 'UTC',
      OccurrencePeriod: 0,
      AccessPointGroupGuid: e.door,
      CustomEventMessage: '',
    }));
    return { Rsp: { Status: hits.length > max ? 'TooManyResults' : 'Ok', Result: rows } };
  }

  // ---------------------------------------------------------------- entities as the Web SDK shows them

  private exists(id: string): boolean {
    return id === SYSTEM_CONFIGURATION || this.cardholders.has(id) || this.credentials.has(id) || this.accessRules.has(id) || this.cardholderGroups.has(id);
  }

  private deleteEntity(id: string): void {
    const ch = this.cardholders.get(id);
    if (ch) {
      for (const c of ch.credentials) {
        const cred = this.credentials.get(c);
        if (cred) cred.cardholder = null;
      }
      for (const r of this.accessRules.values()) r.cardholders.delete(id);
      for (const g of this.cardholderGroups.values()) g.members.delete(id);
      this.cardholders.delete(id);
      return;
    }
    if (this.credentials.delete(id) || this.accessRules.delete(id) || this.cardholderGroups.delete(id)) return;
    throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${id}`);
  }

  private entityJson(id: string): unknown {
    const ch = this.cardholders.get(id);
    if (ch) return { Rsp: { Status: 'Ok', Result: this.cardholderJson(ch), ObsoletedMembers: OBSOLETE_CARDHOLDER } };
    const cred = this.credentials.get(id);
    if (cred) return { Rsp: { Status: 'Ok', Result: this.credentialJson(cred) } };
    const ar = this.accessRules.get(id);
    if (ar) {
      const cardholders = [...ar.cardholders];
      return {
        Rsp: {
          Status: 'Ok',
          Result: {
            AccessRuleType: ar.type,
            Cardholders: cardholders,
            EndTime: ar.end ?? '9999-12-31T23:59:59.9999999',
            IsDenyingRule: ar.deny,
            IsSystemRule: ar.system,
            Members: cardholders,
            RelatedAccessPoints: [],
            ScheduleGuid: '00000000-0000-0000-0000-000000000006',
            StartTime: ar.start ?? MIN_DATE,
            ...common(ar.guid, ar.name, 'AccessRule', ar.createdOn),
          },
        },
      };
    }
    const cg = this.cardholderGroups.get(id);
    if (cg) return { Rsp: { Status: 'Ok', Result: { Members: [...cg.members], ...common(cg.guid, cg.name, 'CardholderGroup', cg.createdOn) } } };
    if (id === SYSTEM_CONFIGURATION)
      return { Rsp: { Status: 'Ok', Result: { CustomFields: this.customFields.map(fieldJson), ...common(id, 'System', 'SystemConfiguration', iso()) } } };
    throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${id}`);
  }

  private cardholderJson(ch: FakeCardholder): Record<string, unknown> {
    const now = Date.now();
    const state =
      ch.deactivated || (ch.activation && Date.parse(ch.activation) > now)
        ? 'Inactive'
        : ch.expiration && Date.parse(ch.expiration) <= now
          ? 'Expired'
          : 'Active';
    const rules = [...this.accessRules.values()].filter((r) => r.cardholders.has(ch.guid)).map((r) => r.guid);
    return {
      ActiveDirectoryOverride: false,
      ActivationDate: ch.activation ?? MIN_DATE,
      ActivationMode: {},
      ActiveDirectoryDomainName: null,
      CanEscort: false,
      AntipassbackExemption: false,
      Credentials: [...ch.credentials],
      EmailAddress: ch.email,
      MobilePhoneNumber: ch.mobile,
      ExpirationDate: ch.expiration ?? MIN_DATE,
      ExpirationDuration: 0,
      FirstName: ch.firstName,
      Groups: [...ch.groups],
      AccessPermissionLevel: 7,
      AccessRules: rules,
      InheritAccessPermissionLevel: true,
      IsActiveDirectoryEntity: false,
      LastAccessPoint: ch.lastAccess
        ? { AccessPointGuid: ch.lastAccess.accessPoint, AccessPointDate: ch.lastAccess.at, AccessGranted: ch.lastAccess.granted }
        : { AccessPointGuid: ZERO, AccessPointDate: MIN_DATE, AccessGranted: false },
      LastName: ch.lastName,
      Parents: [],
      Picture: null,
      PictureFileName: null,
      State: state,
      Status: statusJson(ch, state),
      UseExtendedGrantTime: false,
      ...common(ch.guid, ch.name, 'Cardholder', ch.createdOn),
      CustomFields: this.customFields
        .filter((f) => f.entityType === 'Cardholder')
        .map((f) => ({ CustomField: fieldJson(f), Name: f.name, ValueType: f.valueType, Value: ch.customFields.get(f.name) ?? f.defaultValue })),
    };
  }

  private credentialJson(c: FakeCredential): Record<string, unknown> {
    const now = Date.now();
    const state = c.lost
      ? 'Lost'
      : c.stolen
        ? 'Stolen'
        : c.deactivated || (c.activation && Date.parse(c.activation) > now)
          ? 'Inactive'
          : c.expiration && Date.parse(c.expiration) <= now
            ? 'Expired'
            : 'Active';
    const raw = ((c.facility << 17) | (c.cardId << 1)).toString(16).toUpperCase().padStart(32, '0');
    return {
      ActivationDate: c.activation ?? MIN_DATE,
      ActivationMode: {},
      Cardholder: c.cardholder,
      CardholderGuid: c.cardholder ?? ZERO,
      BadgeTemplate: ZERO,
      ExpirationDate: c.expiration ?? MIN_DATE,
      ExpirationDuration: 0,
      ActiveDirectoryOverride: false,
      Format: {
        FormatName: 'Standard 26 bits',
        BitLength: 26,
        Facility: c.facility,
        FormatId: '00000000-0000-0000-0000-000000000200',
        Name: '26 bit Wiegand',
        CardId: c.cardId,
        RawData: raw,
        Type: 'UndecodedWiegand',
        UniqueId: `${raw}|26`,
        IsMobile: false,
        IsCustomFormat: false,
      },
      IsActiveDirectoryEntity: false,
      State: state,
      Status: statusJson(c, state),
      Type: 'UndecodedWiegand',
      ...common(c.guid, c.name, 'Credential', c.createdOn),
    };
  }

  private mustCardholder(id: string): FakeCardholder {
    const ch = this.cardholders.get(id);
    if (!ch) throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${id}`);
    return ch;
  }

  private mustMember(id: string): string {
    if (this.cardholders.has(id) || this.cardholderGroups.has(id)) return id;
    throw new SdkFail('UnableToRetrieveEntity', `Could not get the entity, does it exists? Guid: ${id}`);
  }

  private mustField(name: string): FakeCustomField {
    const f = this.customFields.find((x) => x.name === name && x.entityType === 'Cardholder');
    if (!f) throw new SdkFail('InvalidOperation', `no custom field named ${name}`);
    return f;
  }
}

export async function startFakeGenetec(opts: FakeGenetecOptions = {}): Promise<FakeGenetec> {
  const fake = new FakeGenetec(opts);
  await fake.listen();
  return fake;
}

const OBSOLETE_CARDHOLDER = [
  { Member: 'Genetec.Sdk.Entities.Cardholder.ActivationDate', Message: 'Use Status.ActivationDate instead.' },
  { Member: 'Genetec.Sdk.Entities.Cardholder.ExpirationDate', Message: 'Use Status.ExpirationDate instead.' },
  { Member: 'Genetec.Sdk.Entities.Cardholder.State', Message: 'Use Status property instead.' },
];

function rule(guid: string, name: string, o: { deny?: boolean; system?: boolean; start?: string; end?: string } = {}): FakeAccessRule {
  return {
    guid,
    name,
    type: o.start || o.end ? 'Temporary' : 'Permanent',
    start: o.start ?? null,
    end: o.end ?? null,
    deny: o.deny ?? false,
    system: o.system ?? false,
    cardholders: new Set(),
    createdOn: iso(),
  };
}

function common(guid: string, name: string, type: string, createdOn: string): Record<string, unknown> {
  return {
    Application: ZERO,
    Behaviors: [],
    EventToActions: [],
    CreatedOn: createdOn,
    CustomFields: [],
    Description: '',
    EntitySubType: 0,
    EntityType: type,
    Guid: guid,
    HiddenFromUI: false,
    HierarchicalChildren: [],
    HierarchicalParents: [],
    IsDisposed: false,
    IsInMaintenance: false,
    IsMaintenanceSupported: false,
    IsOnline: true,
    LinkedMaps: [],
    LogicalId: null,
    ModifiedOn: new Date().toISOString(),
    MaintenanceEndTime: null,
    MaintenanceReason: null,
    Name: name,
    OwnerRole: ZERO,
    OwnerRoleType: 'None',
    RunningState: 'Running',
    SupportedCustomEvents: [],
    SupportedEvents: ['EntityWarning', 'FusionRecordUpdatedEvent'],
    Synchronised: false,
  };
}

function statusJson(e: { activation: string | null; expiration: string | null }, state: string): Record<string, unknown> {
  return {
    ActivationDate: e.activation,
    ActivationType: e.activation ? 'SpecificDate' : 'Never',
    ExpirationDate: e.expiration,
    ExpirationType: e.expiration ? 'SpecificDate' : 'Never',
    ExpirationDuration: null,
    State: state,
  };
}

function fieldJson(f: FakeCustomField): Record<string, unknown> {
  return {
    DefaultValue: f.defaultValue,
    CustomEntityTypeId: ZERO,
    EntityType: f.entityType,
    GroupName: '',
    GroupPriority: 1,
    Guid: f.guid,
    Mandatory: false,
    Name: f.name,
    Owner: ZERO,
    ShowInReports: true,
    Unique: false,
    ValueType: f.valueType,
    CustomDataType: null,
  };
}

function ok(result?: unknown): unknown {
  return result === undefined ? { Rsp: { Status: 'Ok' } } : { Rsp: { Status: 'Ok', Result: result } };
}

function fail(code: string, message: string): unknown {
  return { Rsp: { Status: 'Fail', Result: { SdkErrorCode: code, Message: message } } };
}

function date(v: string, field: string): string | null {
  if (isNoDate(v)) return null;
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t)) throw new SdkFail('InvalidOperation', `${field}: ${v} is not a date`);
  return new Date(t).toISOString();
}

function int(v: string, field: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min) throw new SdkFail('InvalidOperation', `${field} must be an integer of at least ${min}`);
  return n;
}

function iso(): string {
  return new Date().toISOString();
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    req.on('data', () => undefined);
    req.on('end', resolve);
    req.on('error', reject);
  });
}

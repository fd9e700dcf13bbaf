import { readBody } from '../../../src/drivers/loopback.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  EVENT_TYPES,
  FakeError,
  FakeModel,
  ccTime,
  opaqueKey,
  parseCcTime,
  type FakeCard,
  type FakeCardholder,
  type FakeEvent,
  type FakeMembership,
  type SeedData,
} from './model.js';

/**
 * A fake Gallagher Command Centre REST API on 127.0.0.1, for tests and demos. It implements
 * the part of cc_rest.yaml the lockstep driver uses, with the vendor's shapes: `GET /api`
 * discovery, cardholder search/detail/create/update/delete, access group memberships with
 * from/until (several per group, hrefs that change on update), cards with the card state
 * model, `authorised`, access groups, PDF definitions, card types, items, divisions, and
 * events with `next`/`previous`/`updates` links and a long-polling updates call.
 *
 * Every resource path except `/api` comes from a layout, so tests can move them all and
 * prove that a client follows the discovered hrefs instead of building URLs.
 */

export interface FakeLayout {
  cardholders: string;
  accessGroups: string;
  accessZones: string;
  events: string;
  eventUpdates: string;
  eventGroups: string;
  personalDataFields: string;
  cardTypes: string;
  cardTypesAssign: string;
  items: string;
  divisions: string;
  doors: string;
  /** Path segment under a cardholder for its memberships (`access_groups` in CC). */
  membershipSegment: string;
  /** Path segment under a cardholder for its cards (`cards` in CC). */
  cardSegment: string;
}

/** The paths a real Command Centre uses. */
export const CC_LAYOUT: FakeLayout = {
  cardholders: '/api/cardholders',
  accessGroups: '/api/access_groups',
  accessZones: '/api/access_zones',
  events: '/api/events',
  eventUpdates: '/api/events/updates',
  eventGroups: '/api/events/groups',
  personalDataFields: '/api/personal_data_fields',
  cardTypes: '/api/card_types',
  cardTypesAssign: '/api/card_types/assign',
  items: '/api/items',
  divisions: '/api/divisions',
  doors: '/api/doors',
  membershipSegment: 'access_groups',
  cardSegment: 'cards',
};

/** Nothing where CC keeps it: a client that builds URLs instead of following hrefs gets 404s. */
export const SCRAMBLED_LAYOUT: FakeLayout = {
  cardholders: '/gw/v9/people',
  accessGroups: '/gw/v9/ag',
  accessZones: '/gw/v9/zones',
  events: '/gw/v9/ev',
  eventUpdates: '/gw/v9/ev-poll',
  eventGroups: '/gw/v9/ev-groups',
  personalDataFields: '/gw/v9/pdf-defs',
  cardTypes: '/gw/v9/credential-types',
  cardTypesAssign: '/gw/v9/credential-types-assignable',
  items: '/gw/v9/things',
  divisions: '/gw/v9/divs',
  doors: '/gw/v9/doorways',
  membershipSegment: 'groupships',
  cardSegment: 'credentials',
};

export interface FakeCommandCentreOptions {
  /** Default: a random key in CC's XXXX-XXXX-... format. */
  apiKey?: string;
  layout?: 'cc' | 'scrambled' | Partial<FakeLayout>;
  seed?: SeedData;
  /** Reported in `GET /api`. */
  version?: string;
  /** Top-level feature names to leave out of `GET /api`, as an unlicensed server would. */
  omitFeatures?: string[];
  /** Seconds an events/updates long poll waits when the client sends no `deadline`. CC: about a minute. */
  defaultDeadlineSeconds?: number;
  /**
   * Serve HTTPS (PEM strings). With `clientCertThumbprint` the fake behaves like a REST Client
   * item with a pinned certificate: requests without a client certificate whose SHA-1
   * thumbprint matches get a 401, as CC answers them.
   */
  tls?: { key: string; cert: string; clientCertThumbprint?: string };
}

/** Called before the fake handles an authorised request; tests use it to race the client. */
export type FakeRequestHook = (r: { method: string; path: string; specPath: string | null; body: unknown }) => void;

/** One request as the fake answered it (for tests that assert on traffic). */
export interface FakeRequestRecord {
  method: string;
  /** Path and query as received. */
  url: string;
  status: number;
}

/** One exchange with the spec operation it belongs to, for spec-conformance checks. */
export interface FakeExchange extends FakeRequestRecord {
  /** The cc_rest.yaml path template this route implements (`/api/cardholders/{id}`), or null. */
  specPath: string | null;
  requestBody: unknown;
  responseBody: unknown;
  responseHeaders: Record<string, string>;
  /** True when the fault-injection lever produced the response. */
  injected: boolean;
}

export interface AddCardholderInput {
  firstName?: string;
  lastName?: string;
  authorised?: boolean;
  divisionId?: string;
  /** PDF name → value, e.g. `{ 'lockstep id': 'E1001' }`. */
  pdfs?: Record<string, string>;
  memberships?: Array<{ groupId: string; from?: string; until?: string }>;
}

export interface RecordAccessInput {
  cardholderId: string;
  /** The card's key (last segment of its href); default: the cardholder's first card. */
  cardKey?: string;
  granted?: boolean;
  doorId?: string;
  /** ISO time the event occurred; default now. */
  at?: string;
}

interface Fault {
  status: number;
  remaining: number;
  retryAfterSeconds?: number;
  message: string;
}

interface Ctx {
  req: IncomingMessage;
  url: URL;
  base: string;
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
  specPath: string | null;
  match(pathname: string): Record<string, string> | null;
  handle(ctx: Ctx): Reply | Promise<Reply>;
}

const ITEM_TYPES = {
  cardholder: { id: '1', name: 'Cardholder', canonicalTypeName: 'cardholder' },
  accessGroup: { id: '2', name: 'Access Group', canonicalTypeName: 'accessgroup' },
  door: { id: '11', name: 'Door', canonicalTypeName: 'door' },
  division: { id: '15', name: 'Division', canonicalTypeName: 'division' },
  cardType: { id: '22', name: 'Card Type', canonicalTypeName: 'cardtype' },
  pdf: { id: '33', name: 'Personal Data Field', canonicalTypeName: 'pdf' },
} as const;

const CARDHOLDER_SEARCH_DEFAULTS = ['href', 'id', 'firstName', 'lastName', 'shortName', 'description', 'authorised'];
const EVENT_DEFAULTS = [
  'href',
  'id',
  'time',
  'message',
  'occurrences',
  'priority',
  'alarm',
  'operator',
  'source',
  'group',
  'type',
  'eventType',
  'division',
  'cardholder',
  'entryAccessZone',
  'exitAccessZone',
  'door',
  'accessGroup',
  'card',
  'modifiedItem',
];

export class FakeCommandCentre {
  readonly model: FakeModel;
  readonly layout: FakeLayout;
  readonly apiKey: string;
  readonly requests: FakeRequestRecord[] = [];
  readonly exchanges: FakeExchange[] = [];
  private readonly server: Server;
  private readonly routes: Route[];
  private readonly faults: Fault[] = [];
  /** Cardholder id → writes still refused before the operator saves and the lock goes. */
  private readonly lockRefusals = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly version: string;
  private readonly omitFeatures: Set<string>;
  private readonly defaultDeadlineSeconds: number;
  private port = 0;
  private closed = false;
  private seeded = 0;
  private readonly protocol: 'http' | 'https';
  private readonly thumbprint?: string;
  /** See FakeRequestHook. */
  onRequest?: FakeRequestHook;

  constructor(opts: FakeCommandCentreOptions = {}) {
    this.model = new FakeModel(opts.seed);
    this.layout =
      opts.layout === 'scrambled' ? SCRAMBLED_LAYOUT : opts.layout === 'cc' || opts.layout === undefined ? CC_LAYOUT : { ...CC_LAYOUT, ...opts.layout };
    this.apiKey = opts.apiKey ?? randomApiKey();
    this.version = opts.version ?? '9.50.2110.0';
    this.omitFeatures = new Set(opts.omitFeatures ?? []);
    this.defaultDeadlineSeconds = opts.defaultDeadlineSeconds ?? 60;
    this.routes = this.buildRoutes();
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.dispatch(req, res).catch((e: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: e instanceof Error ? e.message : String(e) }));
        }
      });
    };
    this.protocol = opts.tls ? 'https' : 'http';
    this.thumbprint = opts.tls?.clientCertThumbprint?.replace(/[^0-9a-f]/gi, '').toUpperCase();
    this.server = opts.tls
      ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert, requestCert: true, rejectUnauthorized: false }, handler)
      : createServer(handler);
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Origin of the fake, e.g. `http://127.0.0.1:41234`; the driver's `url`. */
  get url(): string {
    return `${this.protocol}://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.waiters]) w();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---------------------------------------------------------------- levers

  /** The next `times` requests (any route) get this status, with Retry-After if given. */
  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number; message?: string } = {}): void {
    this.faults.push({
      status,
      remaining: opts.times ?? 1,
      retryAfterSeconds: opts.retryAfterSeconds,
      message: opts.message ?? (status === 429 ? 'Too many requests' : `Injected failure ${status}`),
    });
  }

  /**
   * Another operator "has unsaved changes": PATCH and DELETE on this cardholder get 409. With
   * `refusals`, the operator saves after that many refused writes and the lock goes.
   */
  lockCardholder(id: string, by = 'Operator Jane Smith at workstation WS-07', opts: { refusals?: number } = {}): void {
    const ch = this.mustCardholder(id);
    ch.lockedBy = by;
    if (opts.refusals !== undefined) this.lockRefusals.set(ch.id, opts.refusals);
    else this.lockRefusals.delete(ch.id);
  }

  unlockCardholder(id: string): void {
    const ch = this.mustCardholder(id);
    delete ch.lockedBy;
    this.lockRefusals.delete(ch.id);
  }

  /** The 409 CC answers a write to a cardholder another operator holds open. */
  private refuseIfLocked(ch: FakeCardholder): void {
    if (!ch.lockedBy) return;
    const by = ch.lockedBy;
    const left = this.lockRefusals.get(ch.id);
    if (left !== undefined && left <= 1) this.unlockCardholder(ch.id);
    else if (left !== undefined) this.lockRefusals.set(ch.id, left - 1);
    throw new FakeError(409, `The cardholder is being edited by ${by}`);
  }

  /** Creates a cardholder directly in the fake, as an operator would in the CC client. */
  addCardholder(input: AddCardholderInput = {}): FakeCardholder {
    const ch: FakeCardholder = {
      id: this.model.newItemId(),
      firstName: input.firstName,
      lastName: input.lastName ?? (input.firstName ? undefined : 'Cardholder'),
      divisionId: input.divisionId ?? this.model.divisions.keys().next().value ?? '2',
      authorised: input.authorised ?? true,
      pdfValues: new Map(),
      memberships: [],
      cards: [],
    };
    for (const m of input.memberships ?? []) this.model.addMembership(ch, m.groupId, m.from, m.until);
    for (const [name, value] of Object.entries(input.pdfs ?? {})) {
      const pdf = this.model.pdfByName(name);
      if (!pdf) throw new Error(`fake: no PDF named ${name}`);
      this.model.setPdfValue(ch, pdf, value);
    }
    this.model.cardholders.set(ch.id, ch);
    return ch;
  }

  /**
   * Creates `count` cardholders. With `linkPdf`/`linkGroupId` each gets a link value
   * (`${prefix}${n}`) and the membership that lets it hold the PDF.
   */
  seedCardholders(count: number, opts: { prefix?: string; linkPdf?: string; linkGroupId?: string } = {}): FakeCardholder[] {
    const out: FakeCardholder[] = [];
    const prefix = opts.prefix ?? 'seed-';
    for (let i = 0; i < count; i++) {
      const n = ++this.seeded;
      out.push(
        this.addCardholder({
          firstName: 'Seeded',
          lastName: `Person ${n}`,
          memberships: opts.linkGroupId ? [{ groupId: opts.linkGroupId }] : [],
          pdfs: opts.linkPdf ? { [opts.linkPdf]: `${prefix}${n}` } : {},
        }),
      );
    }
    return out;
  }

  /** Issues a card (default: the first card type, next free number, factory 'Active' state). */
  issueCard(
    cardholderId: string,
    opts: { typeId?: string; number?: string; state?: string; from?: string; until?: string } = {},
  ): { card: FakeCard; href: string } {
    const ch = this.mustCardholder(cardholderId);
    const typeId = opts.typeId ?? this.model.cardTypes.keys().next().value;
    if (!typeId) throw new Error('fake: no card types');
    const card = this.model.addCard(ch, { ...opts, typeId });
    return { card, href: this.href(this.cardPath(ch.id, card.key)) };
  }

  /** Records a card event at a door, as a controller would report a badge. */
  recordAccess(input: RecordAccessInput): FakeEvent {
    const ch = this.mustCardholder(input.cardholderId);
    const card = input.cardKey ? ch.cards.find((c) => c.key === input.cardKey) : ch.cards[0];
    if (input.cardKey && !card) throw new Error(`fake: cardholder ${ch.id} has no card ${input.cardKey}`);
    const door = input.doorId ? this.model.doors.get(input.doorId) : this.model.doors.values().next().value;
    if (!door) throw new Error('fake: no such door');
    const granted = input.granted ?? true;
    const at = input.at ? Date.parse(input.at) : Date.now();
    const kind = granted ? EVENT_TYPES.granted : EVENT_TYPES.denied;
    if (granted) {
      ch.lastSuccessfulAccessTime = ccTime(at);
      if (card) card.lastUsedTime = ccTime(at);
    }
    const type = card ? this.model.cardTypes.get(card.typeId) : undefined;
    return this.model.recordEvent({
      time: ccTime(at),
      message: `${granted ? 'Card access granted' : 'Card access denied'}: ${this.model.displayName(ch)} at ${door.name}`,
      ...kind,
      source: { id: door.id, name: door.name, kind: 'door' },
      cardholder: { id: ch.id, name: this.model.displayName(ch) },
      card: card ? { number: card.number, issueLevel: card.issueLevel, facilityCode: type?.facilityCode } : undefined,
      door,
      location: granted ? 'moved' : 'denied',
    });
  }

  /** An event that is not an access event (an operator edit), for filter tests. */
  recordOperatorEvent(cardholderId: string): FakeEvent {
    const ch = this.mustCardholder(cardholderId);
    return this.model.recordEvent({
      time: ccTime(Date.now()),
      message: `Cardholder ${this.model.displayName(ch)} modified`,
      ...EVENT_TYPES.operator,
      source: { id: '1', name: 'Command Centre server', kind: 'server' },
      cardholder: { id: ch.id, name: this.model.displayName(ch) },
    });
  }

  /** Gives every membership of the cardholder a new href, as an update by another client would. */
  rotateMembershipHrefs(cardholderId: string): void {
    for (const m of this.mustCardholder(cardholderId).memberships) m.key = nextKey(m.key);
  }

  /** Absolute href for a path on this server. */
  href(path: string): string {
    return `${this.url}${path}`;
  }

  cardholderPath(id: string): string {
    return `${this.layout.cardholders}/${id}`;
  }

  cardPath(cardholderId: string, key: string): string {
    return `${this.cardholderPath(cardholderId)}/${this.layout.cardSegment}/${key}`;
  }

  membershipPath(cardholderId: string, key: string): string {
    return `${this.cardholderPath(cardholderId)}/${this.layout.membershipSegment}/${key}`;
  }

  /** The cardholder an href (absolute or path) points at. */
  resolveCardholder(hrefOrPath: string): FakeCardholder | undefined {
    const id = this.idUnder(hrefOrPath, this.layout.cardholders);
    return id ? this.model.cardholders.get(id) : undefined;
  }

  /** The card a card href (absolute or path) points at. */
  resolveCard(hrefOrPath: string): { cardholder: FakeCardholder; card: FakeCard } | undefined {
    const m = this.subPath(hrefOrPath, this.layout.cardSegment);
    const ch = m && this.model.cardholders.get(m.id);
    const card = ch?.cards.find((c) => c.key === m?.key);
    return ch && card ? { cardholder: ch, card } : undefined;
  }

  clearLog(): void {
    this.requests.length = 0;
    this.exchanges.length = 0;
  }

  private mustCardholder(id: string): FakeCardholder {
    const ch = this.model.cardholders.get(id) ?? this.resolveCardholder(id);
    if (!ch) throw new Error(`fake: no cardholder ${id}`);
    return ch;
  }

  // ---------------------------------------------------------------- HTTP plumbing

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const base = `${this.protocol}://${req.headers.host ?? `127.0.0.1:${this.port}`}`;
    const url = new URL(req.url ?? '/', base);
    const method = (req.method ?? 'GET').toUpperCase();
    const raw = await readBody(req);
    let route: Route | undefined;
    let params: Record<string, string> = {};
    let pathKnown = false;
    for (const r of this.routes) {
      const p = r.match(url.pathname);
      if (!p) continue;
      pathKnown = true;
      if (r.method === method) {
        route = r;
        params = p;
        break;
      }
    }
    let reply: Reply;
    let requestBody: unknown = raw === '' ? undefined : raw;
    let injected = false;
    const fault = this.faults[0];
    if (fault) {
      injected = true;
      fault.remaining--;
      if (fault.remaining <= 0) this.faults.shift();
      reply = {
        status: fault.status,
        body: { message: fault.message },
        headers: fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {},
      };
    } else if (!this.authorised(req.headers.authorization) || !this.certificateAccepted(req)) {
      reply = { status: 401, body: { message: 'A REST connection was attempted with an invalid API key' } };
    } else if (!route) {
      reply = pathKnown ? { status: 405, body: { message: `${method} is not supported here` } } : { status: 404, body: { message: 'Not found' } };
    } else {
      try {
        let body: unknown;
        if (method === 'POST' || method === 'PATCH') {
          try {
            body = raw === '' ? undefined : (JSON.parse(raw) as unknown);
          } catch {
            throw new FakeError(400, 'Invalid JSON in the body of the request');
          }
          requestBody = body;
        }
        this.onRequest?.({ method, path: url.pathname + url.search, specPath: route.specPath, body });
        reply = await route.handle({ req, url, base, params, body });
      } catch (e) {
        if (!(e instanceof FakeError)) throw e;
        reply = { status: e.status, body: { message: e.message } };
      }
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let text = '';
    if (reply.body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      text = JSON.stringify(reply.body);
    }
    const record: FakeRequestRecord = { method, url: url.pathname + url.search, status: reply.status };
    this.requests.push(record);
    this.exchanges.push({
      ...record,
      specPath: route?.specPath ?? null,
      requestBody,
      responseBody: reply.body,
      responseHeaders: headers,
      injected,
    });
    if (res.destroyed) return;
    res.writeHead(reply.status, headers);
    res.end(text);
  }

  private authorised(header: string | undefined): boolean {
    if (!header) return false;
    const m = /^(\S+)\s+(.+)$/.exec(header.trim());
    if (!m) return false;
    // The API gateway is fussy about case; so is the fake.
    if (m[1] === 'GGL-API-KEY') return m[2] === this.apiKey;
    if (m[1] === 'Basic') {
      const decoded = Buffer.from(m[2], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon >= 0 && decoded.slice(colon + 1) === this.apiKey;
    }
    return false;
  }

  private certificateAccepted(req: IncomingMessage): boolean {
    if (!this.thumbprint) return true;
    const cert = (req.socket as TLSSocket).getPeerCertificate?.();
    const got = cert?.fingerprint?.replace(/[^0-9a-f]/gi, '').toUpperCase();
    return got === this.thumbprint;
  }

  /** The id in `<prefix>/<id>` for an absolute href or a path; undefined otherwise. */
  private idUnder(hrefOrPath: string, prefix: string): string | undefined {
    let path: string;
    try {
      path = new URL(hrefOrPath, this.url).pathname;
    } catch {
      return undefined;
    }
    if (!path.startsWith(`${prefix}/`)) return undefined;
    const rest = path.slice(prefix.length + 1);
    return rest && !rest.includes('/') ? decodeURIComponent(rest) : undefined;
  }

  private subPath(hrefOrPath: string, segment: string): { id: string; key: string } | undefined {
    let path: string;
    try {
      path = new URL(hrefOrPath, this.url).pathname;
    } catch {
      return undefined;
    }
    const prefix = `${this.layout.cardholders}/`;
    if (!path.startsWith(prefix)) return undefined;
    const parts = path.slice(prefix.length).split('/');
    if (parts.length !== 3 || parts[1] !== segment) return undefined;
    return { id: parts[0], key: parts[2] };
  }

  private buildRoutes(): Route[] {
    const L = this.layout;
    const exact = (p: string) => (path: string) => (path === p || path === `${p}/` ? {} : null);
    const withId = (p: string) => (path: string) => {
      if (!path.startsWith(`${p}/`)) return null;
      const rest = path.slice(p.length + 1);
      return rest && !rest.includes('/') ? { id: decodeURIComponent(rest) } : null;
    };
    const sub = (segment: string) => (path: string) => {
      if (!path.startsWith(`${L.cardholders}/`)) return null;
      const parts = path.slice(L.cardholders.length + 1).split('/');
      return parts.length === 3 && parts[1] === segment && parts[0] && parts[2] ? { id: parts[0], key: parts[2] } : null;
    };
    const groupMembers = (path: string) => {
      if (!path.startsWith(`${L.accessGroups}/`)) return null;
      const parts = path.slice(L.accessGroups.length + 1).split('/');
      return parts.length === 2 && parts[1] === 'cardholders' && parts[0] ? { id: parts[0] } : null;
    };
    const route = (method: string, specPath: string | null, match: Route['match'], handle: Route['handle']): Route => ({
      method,
      specPath,
      match,
      handle,
    });
    // Exact collection paths first: some layouts nest one under another (/api/events/updates).
    return [
      route('GET', null, exact('/api'), (c) => this.discovery(c)),
      route('GET', '/api/cardholders', exact(L.cardholders), (c) => this.searchCardholders(c)),
      route('POST', '/api/cardholders', exact(L.cardholders), (c) => this.createCardholder(c)),
      route('GET', '/api/events/updates', exact(L.eventUpdates), (c) => this.eventUpdates(c)),
      route('GET', '/api/events/groups', exact(L.eventGroups), () => this.eventGroups()),
      route('GET', '/api/events', exact(L.events), (c) => this.searchEvents(c)),
      route('GET', '/api/card_types/assign', exact(L.cardTypesAssign), (c) => this.cardTypes(c, true)),
      route('GET', '/api/card_types', exact(L.cardTypes), (c) => this.cardTypes(c, false)),
      route('GET', '/api/access_groups', exact(L.accessGroups), (c) => this.searchAccessGroups(c)),
      route('GET', '/api/personal_data_fields', exact(L.personalDataFields), (c) => this.searchPdfs(c)),
      route('GET', '/api/items', exact(L.items), (c) => this.searchItems(c)),
      route('GET', '/api/cardholders/{id}', withId(L.cardholders), (c) => this.getCardholder(c)),
      route('PATCH', '/api/cardholders/{id}', withId(L.cardholders), (c) => this.patchCardholder(c)),
      route('DELETE', '/api/cardholders/{id}', withId(L.cardholders), (c) => this.deleteCardholder(c)),
      route('DELETE', '/api/cardholders/{id}/access_groups/{secondary_id}', sub(L.membershipSegment), (c) => this.deleteMembership(c)),
      route('DELETE', '/api/cardholders/{id}/cards/{secondary_id}', sub(L.cardSegment), (c) => this.deleteCard(c)),
      route('GET', '/api/access_groups/{id}/cardholders', groupMembers, (c) => this.groupMembers(c)),
      route('GET', '/api/access_groups/{id}', withId(L.accessGroups), (c) => this.getAccessGroup(c)),
      route('GET', '/api/personal_data_fields/{id}', withId(L.personalDataFields), (c) => this.getPdf(c)),
      route('GET', '/api/divisions/{id}', withId(L.divisions), (c) => this.getDivision(c)),
      route('GET', '/api/events/{id}', withId(L.events), (c) => this.getEvent(c)),
    ];
  }

  // ---------------------------------------------------------------- discovery

  private discovery({ base }: Ctx): Reply {
    const L = this.layout;
    const h = (p: string) => ({ href: `${base}${p}` });
    const features: Record<string, Record<string, { href: string }>> = {
      accessGroups: { accessGroups: h(L.accessGroups) },
      accessZones: { accessZones: h(L.accessZones) },
      cardholders: { cardholders: h(L.cardholders) },
      cardTypes: { assign: h(L.cardTypesAssign), cardTypes: h(L.cardTypes) },
      divisions: { divisions: h(L.divisions) },
      doors: { doors: h(L.doors) },
      events: { events: h(L.events), updates: h(L.eventUpdates), eventGroups: h(L.eventGroups) },
      items: { items: h(L.items) },
      personalDataFields: { personalDataFields: h(L.personalDataFields) },
    };
    for (const f of this.omitFeatures) delete features[f];
    return { status: 200, body: { version: this.version, features } };
  }

  // ---------------------------------------------------------------- cardholders

  private cardholderJson(base: string, ch: FakeCardholder): Record<string, unknown> {
    const L = this.layout;
    const href = `${base}${this.cardholderPath(ch.id)}`;
    const pdfs = this.model.visiblePdfValues(ch);
    const out: Record<string, unknown> = { href, id: ch.id };
    if (ch.firstName !== undefined) out.firstName = ch.firstName;
    if (ch.lastName !== undefined) out.lastName = ch.lastName;
    if (ch.shortName !== undefined) out.shortName = ch.shortName;
    if (ch.description !== undefined) out.description = ch.description;
    out.authorised = ch.authorised;
    if (ch.lastSuccessfulAccessTime) out.lastSuccessfulAccessTime = ch.lastSuccessfulAccessTime;
    out.division = { href: `${base}${L.divisions}/${ch.divisionId}` };
    for (const { pdf, value } of pdfs) out[`@${pdf.name}`] = value;
    out.personalDataDefinitions = pdfs.map(({ pdf, value }) => ({
      [`@${pdf.name}`]: {
        href: `${href}/personal_data/${pdf.id}`,
        definition: { href: `${base}${L.personalDataFields}/${pdf.id}`, name: pdf.name, id: pdf.id, type: pdf.type },
        value,
        ...(pdf.type === 'email' || pdf.type === 'mobile' ? { notifications: false } : {}),
      },
    }));
    out.cards = ch.cards.map((c) => this.cardJson(base, ch, c));
    out.accessGroups = ch.memberships.map((m) => this.membershipJson(base, ch, m));
    out.operatorGroups = [];
    out.competencies = [];
    out.edit = { href: `${href}/edit` };
    out.updateLocation = { href: `${href}/update_location` };
    out.relationships = [];
    out.lockers = [];
    out.elevatorGroups = [];
    out.updates = { href: `${href}/updates` };
    return out;
  }

  private cardJson(base: string, ch: FakeCardholder, c: FakeCard): Record<string, unknown> {
    const type = this.model.cardTypes.get(c.typeId);
    return {
      href: `${base}${this.cardPath(ch.id, c.key)}`,
      number: c.number,
      ...(type?.credentialClass === 'card' ? { issueLevel: c.issueLevel } : {}),
      status: this.model.cardStatus(c),
      type: { href: `${base}${this.layout.cardTypes}/${c.typeId}`, name: type?.name ?? '' },
      ...(c.from ? { from: c.from } : {}),
      ...(c.until ? { until: c.until } : {}),
      credentialClass: type?.credentialClass ?? 'card',
      ...(c.lastUsedTime ? { lastUsedTime: c.lastUsedTime } : {}),
    };
  }

  private membershipJson(base: string, ch: FakeCardholder, m: FakeMembership): Record<string, unknown> {
    const group = this.model.accessGroups.get(m.groupId);
    return {
      href: `${base}${this.membershipPath(ch.id, m.key)}`,
      accessGroup: { name: group?.name ?? '', href: `${base}${this.layout.accessGroups}/${m.groupId}` },
      status: this.model.membershipStatus(m),
      ...(m.from ? { from: m.from } : {}),
      ...(m.until ? { until: m.until } : {}),
    };
  }

  /** Applies a `fields` list to a full cardholder, with CC's special values. */
  private projectCardholder(full: Record<string, unknown>, fields: string[] | null, defaults: string[]): Record<string, unknown> {
    const list = expandDefaults(fields ?? defaults, defaults);
    const plain: string[] = [];
    const out: Record<string, unknown> = {};
    for (const f of list) {
      if (f === 'personalDataFields') {
        out.personalDataDefinitions = full.personalDataDefinitions;
        for (const [k, v] of Object.entries(full)) if (k.startsWith('@')) out[k] = v;
      } else if (/^pdf_.+/.test(f)) {
        const pdf = this.model.pdfs.get(f.slice(4));
        const key = pdf ? `@${pdf.name}` : undefined;
        if (key && key in full) out[key] = full[key];
      } else {
        plain.push(f);
      }
    }
    return { ...pick(full, plain), ...out };
  }

  private searchCardholders({ url, base }: Ctx): Reply {
    const q = url.searchParams;
    const top = positiveInt(q.get('top'), 1000, 'top');
    const fields = fieldList(q);
    let list = [...this.model.cardholders.values()];
    const name = q.get('name');
    if (name !== null) {
      list = list.filter(
        (ch) =>
          ccMatch(name, ch.firstName) ||
          ccMatch(name, ch.lastName) ||
          ccMatch(name, ch.lastName !== undefined && ch.firstName !== undefined ? `${ch.lastName}, ${ch.firstName}` : undefined),
      );
    }
    const description = q.get('description');
    if (description !== null) list = list.filter((ch) => ccMatch(description, ch.description));
    const division = q.get('division');
    if (division !== null) {
      const ids = division.split(',');
      list = list.filter((ch) => ids.includes(ch.divisionId));
    }
    for (const key of new Set([...q.keys()].filter((k) => k.startsWith('pdf_')))) {
      const pdfId = key.slice(4);
      const pdf = this.model.pdfs.get(pdfId);
      for (const term of q.getAll(key)) {
        list = list.filter((ch) => pdf !== undefined && this.model.holdsPdf(ch, pdf) && ccMatch(term, ch.pdfValues.get(pdfId)));
      }
    }
    const sort = q.get('sort') ?? 'id';
    const byId = (a: FakeCardholder, b: FakeCardholder) => Number(a.id) - Number(b.id);
    const byName = (a: FakeCardholder, b: FakeCardholder) => this.model.displayName(a).localeCompare(this.model.displayName(b));
    list.sort(sort.replace('-', '') === 'name' ? byName : byId);
    if (sort.startsWith('-')) list.reverse();
    // Keyset paging when sorted by id (stable while others edit); offset paging otherwise.
    const pos = q.get('pos');
    const skip = Number(q.get('skip') ?? '0');
    if (pos !== null && (sort === 'id' || sort === '-id')) {
      const p = Number(pos);
      list = list.filter((ch) => (sort === 'id' ? Number(ch.id) > p : Number(ch.id) < p));
    } else if (skip > 0) {
      list = list.slice(skip);
    }
    const page = list.slice(0, top);
    const body: Record<string, unknown> = {
      results: page.map((ch) => this.projectCardholder(this.cardholderJson(base, ch), fields, CARDHOLDER_SEARCH_DEFAULTS)),
    };
    if (list.length > top) {
      const next = new URL(url.href);
      next.host = new URL(base).host;
      next.searchParams.delete('skip');
      next.searchParams.delete('pos');
      if (sort === 'id' || sort === '-id') next.searchParams.set('pos', page[page.length - 1].id);
      else next.searchParams.set('skip', String(skip + top));
      body.next = { href: `${base}${next.pathname}${next.search}` };
    }
    return { status: 200, body };
  }

  private getCardholder({ url, base, params }: Ctx): Reply {
    const ch = this.model.cardholders.get(params.id);
    if (!ch) throw new FakeError(404, 'That is not the URL of a cardholder');
    const full = this.cardholderJson(base, ch);
    return { status: 200, body: this.projectCardholder(full, fieldList(url.searchParams), Object.keys(full)) };
  }

  private createCardholder({ base, body }: Ctx): Reply {
    if (!isObject(body)) throw new FakeError(400, 'Invalid cardholder');
    const divisionId = this.hrefId(body.division, this.layout.divisions, 'division');
    if (!divisionId || !this.model.divisions.has(divisionId)) {
      throw new FakeError(400, 'You must supply a valid division when creating a cardholder');
    }
    const firstName = optString(body.firstName, 'firstName', 50);
    const lastName = optString(body.lastName, 'lastName', 50);
    if (!firstName && !lastName) throw new FakeError(400, 'A cardholder needs a first name or a last name');
    const ch: FakeCardholder = {
      id: this.model.newItemId(),
      firstName,
      lastName,
      shortName: optString(body.shortName, 'shortName')?.slice(0, 16),
      description: optString(body.description, 'description'),
      divisionId,
      authorised: optBool(body.authorised, 'authorised') ?? false,
      pdfValues: new Map(),
      memberships: [],
      cards: [],
    };
    this.applyPdfs(ch, body);
    if (body.accessGroups !== undefined) {
      if (!Array.isArray(body.accessGroups)) throw new FakeError(400, 'accessGroups must be an array');
      for (const m of body.accessGroups) this.addMembershipFrom(ch, m);
    }
    if (body.cards !== undefined) {
      if (!Array.isArray(body.cards)) throw new FakeError(400, 'cards must be an array');
      for (const c of body.cards) this.addCardFrom(ch, c);
    }
    this.model.cardholders.set(ch.id, ch);
    return { status: 201, headers: { location: `${base}${this.cardholderPath(ch.id)}` } };
  }

  private patchCardholder({ params, body }: Ctx): Reply {
    const current = this.model.cardholders.get(params.id);
    if (!current) throw new FakeError(404, 'That is not the URL of a cardholder');
    this.refuseIfLocked(current);
    if (!isObject(body) || Object.keys(body).length === 0) throw new FakeError(400, 'No fields have been defined for update');
    // Work on a copy so a PATCH that fails half way changes nothing.
    const ch = structuredClone(current);
    delete ch.lockedBy;
    if ('firstName' in body) ch.firstName = optString(body.firstName, 'firstName', 50);
    if ('lastName' in body) ch.lastName = optString(body.lastName, 'lastName', 50);
    if (!ch.firstName && !ch.lastName) throw new FakeError(400, 'A cardholder needs a first name or a last name');
    if ('shortName' in body) ch.shortName = optString(body.shortName, 'shortName')?.slice(0, 16);
    if ('description' in body) ch.description = optString(body.description, 'description');
    if ('authorised' in body) {
      const a = optBool(body.authorised, 'authorised');
      if (a !== undefined) ch.authorised = a;
    }
    if ('division' in body) {
      const d = this.hrefId(body.division, this.layout.divisions, 'division');
      if (!d || !this.model.divisions.has(d)) throw new FakeError(400, 'Invalid division');
      ch.divisionId = d;
    }
    if (body.accessGroups !== undefined) {
      const ops = addUpdateRemove(body.accessGroups, 'accessGroups');
      assertDisjoint(ops, 'accessGroups');
      for (const r of ops.remove) {
        const i = ch.memberships.findIndex((m) => m.key === this.subKey(r, ch.id, this.layout.membershipSegment));
        if (i < 0) throw new FakeError(400, 'Invalid access group membership href in remove');
        ch.memberships.splice(i, 1);
      }
      for (const u of ops.update) {
        const m = ch.memberships.find((x) => x.key === this.subKey(u, ch.id, this.layout.membershipSegment));
        if (!m) throw new FakeError(400, 'Invalid access group membership href in update');
        if (!isObject(u)) throw new FakeError(400, 'Invalid membership update');
        if ('accessGroup' in u && this.hrefId(u.accessGroup, this.layout.accessGroups, 'accessGroup') !== m.groupId) {
          throw new FakeError(400, "You cannot change a group membership's group");
        }
        if ('from' in u) m.from = parseCcTime(u.from, 'from');
        if ('until' in u) m.until = parseCcTime(u.until, 'until');
        if (m.from && m.until && Date.parse(m.from) > Date.parse(m.until)) {
          throw new FakeError(400, "The membership's 'from' time must not be after its 'until' time");
        }
        m.key = nextKey(m.key);
      }
      for (const a of ops.add) this.addMembershipFrom(ch, a);
    }
    if (body.cards !== undefined) {
      const ops = addUpdateRemove(body.cards, 'cards');
      assertDisjoint(ops, 'cards');
      for (const r of ops.remove) {
        const i = ch.cards.findIndex((c) => c.key === this.subKey(r, ch.id, this.layout.cardSegment));
        if (i < 0) throw new FakeError(400, 'Invalid card href in remove');
        ch.cards.splice(i, 1);
      }
      for (const u of ops.update) {
        const card = ch.cards.find((c) => c.key === this.subKey(u, ch.id, this.layout.cardSegment));
        if (!card || !isObject(u)) throw new FakeError(400, 'Invalid card href in update');
        this.updateCardFrom(card, u);
      }
      for (const a of ops.add) this.addCardFrom(ch, a);
    }
    // PDFs last: a PATCH that adds the PDF's group and sets the value in one go is valid.
    this.applyPdfs(ch, body);
    this.model.cardholders.set(ch.id, ch);
    return { status: 204 };
  }

  private deleteCardholder({ params }: Ctx): Reply {
    const ch = this.model.cardholders.get(params.id);
    if (!ch) throw new FakeError(404, 'There is no such cardholder');
    this.refuseIfLocked(ch);
    this.model.cardholders.delete(ch.id);
    return { status: 204 };
  }

  private deleteMembership({ params }: Ctx): Reply {
    const ch = this.model.cardholders.get(params.id);
    const i = ch ? ch.memberships.findIndex((m) => m.key === params.key) : -1;
    if (!ch || i < 0) throw new FakeError(404, 'That is not the href of an access group membership');
    this.refuseIfLocked(ch);
    ch.memberships.splice(i, 1);
    return { status: 204 };
  }

  private deleteCard({ params }: Ctx): Reply {
    const ch = this.model.cardholders.get(params.id);
    const i = ch ? ch.cards.findIndex((c) => c.key === params.key) : -1;
    if (!ch || i < 0) throw new FakeError(404, 'That card is not on that cardholder');
    this.refuseIfLocked(ch);
    ch.cards.splice(i, 1);
    return { status: 204 };
  }

  private applyPdfs(ch: FakeCardholder, body: Record<string, unknown>): void {
    for (const [k, v] of Object.entries(body)) {
      if (!k.startsWith('@')) continue;
      const pdf = this.model.pdfByName(k.slice(1));
      if (!pdf) throw new FakeError(400, `There is no personal data field called '${k.slice(1)}'`);
      this.model.setPdfValue(ch, pdf, v);
    }
  }

  private addMembershipFrom(ch: FakeCardholder, m: unknown): void {
    if (!isObject(m)) throw new FakeError(400, 'Invalid access group membership');
    const groupId = this.hrefId(m.accessGroup, this.layout.accessGroups, 'accessGroup');
    if (!groupId || !this.model.accessGroups.has(groupId)) throw new FakeError(400, 'Invalid access group href');
    this.model.addMembership(ch, groupId, parseCcTime(m.from, 'from'), parseCcTime(m.until, 'until'));
  }

  private addCardFrom(ch: FakeCardholder, c: unknown): void {
    if (!isObject(c)) throw new FakeError(400, 'Invalid card');
    const typeId = this.hrefId(c.type, this.layout.cardTypes, 'type');
    if (!typeId) throw new FakeError(400, 'A new card needs a type');
    const status = isObject(c.status) ? c.status.value : undefined;
    this.model.addCard(ch, {
      typeId,
      number: optString(c.number, 'number'),
      state: status === undefined ? undefined : String(status),
      from: parseCcTime(c.from, 'from'),
      until: parseCcTime(c.until, 'until'),
      issueLevel: typeof c.issueLevel === 'number' ? c.issueLevel : undefined,
    });
  }

  private updateCardFrom(card: FakeCard, u: Record<string, unknown>): void {
    const type = this.model.cardTypes.get(card.typeId);
    if ('type' in u && this.hrefId(u.type, this.layout.cardTypes, 'type') !== card.typeId) {
      throw new FakeError(400, "You cannot change a card's type");
    }
    if ('number' in u && u.number !== card.number) throw new FakeError(400, 'You cannot change the number of an existing card');
    if (isObject(u.status) && u.status.value !== undefined && type) card.state = this.model.canonicalState(type, u.status.value);
    if ('from' in u) card.from = parseCcTime(u.from, 'from');
    if ('until' in u) card.until = parseCcTime(u.until, 'until');
    if (card.from && card.until && Date.parse(card.from) > Date.parse(card.until)) {
      throw new FakeError(400, "A card's 'from' time must not be after its 'until' time");
    }
    if (typeof u.issueLevel === 'number') {
      if (u.issueLevel < 0 || u.issueLevel > 15) throw new FakeError(400, 'Invalid issue level');
      card.issueLevel = u.issueLevel;
    }
  }

  /** Id of the item an `{ href }` block points at, if it is under `prefix`. */
  private hrefId(block: unknown, prefix: string, field: string): string | undefined {
    if (block === undefined) return undefined;
    if (!isObject(block) || typeof block.href !== 'string') throw new FakeError(400, `${field} must be an object with an href`);
    return this.idUnder(block.href, prefix);
  }

  private subKey(entry: unknown, cardholderId: string, segment: string): string | undefined {
    if (!isObject(entry) || typeof entry.href !== 'string') throw new FakeError(400, 'Each entry needs an href');
    const m = this.subPath(entry.href, segment);
    return m && m.id === cardholderId ? m.key : undefined;
  }

  // ---------------------------------------------------------------- access groups

  private accessGroupJson(base: string, id: string): Record<string, unknown> {
    const g = this.model.accessGroups.get(id)!;
    const href = `${base}${this.layout.accessGroups}/${g.id}`;
    const parent = g.parentId ? this.model.accessGroups.get(g.parentId) : undefined;
    return {
      href,
      id: g.id,
      name: g.name,
      ...(g.description ? { description: g.description } : {}),
      ...(parent ? { parent: { href: `${base}${this.layout.accessGroups}/${parent.id}`, name: parent.name } } : {}),
      division: { href: `${base}${this.layout.divisions}/${g.divisionId}` },
      cardholders: { href: `${href}/cardholders` },
    };
  }

  private searchAccessGroups({ url, base }: Ctx): Reply {
    const q = url.searchParams;
    let list = [...this.model.accessGroups.values()].sort((a, b) => Number(a.id) - Number(b.id));
    const name = q.get('name');
    if (name !== null) list = list.filter((g) => ccMatch(name, g.name));
    return this.page(url, base, list, (g) => pick(this.accessGroupJson(base, g.id), expandDefaults(fieldList(q) ?? ['defaults'], AG_DEFAULTS)));
  }

  private getAccessGroup({ url, base, params }: Ctx): Reply {
    if (!this.model.accessGroups.has(params.id)) throw new FakeError(404, 'That is not an access group');
    const pdfs = [...this.model.pdfs.values()].filter((p) => p.accessGroupIds?.includes(params.id));
    const full = {
      ...this.accessGroupJson(base, params.id),
      children: [...this.model.accessGroups.values()]
        .filter((g) => g.parentId === params.id)
        .map((g) => ({ href: `${base}${this.layout.accessGroups}/${g.id}`, name: g.name })),
      personalDataDefinitions: pdfs.map((p) => ({ name: `@${p.name}`, href: `${base}${this.layout.personalDataFields}/${p.id}` })),
      access: [],
      alarmZones: [],
    };
    return { status: 200, body: pick(full, expandDefaults(fieldList(url.searchParams) ?? ['defaults'], Object.keys(full))) };
  }

  private groupMembers({ base, params }: Ctx): Reply {
    if (!this.model.accessGroups.has(params.id)) throw new FakeError(404, 'That is not an access group');
    const cardholders: unknown[] = [];
    for (const ch of this.model.cardholders.values()) {
      for (const m of ch.memberships) {
        if (m.groupId !== params.id) continue;
        cardholders.push({
          href: `${base}${this.membershipPath(ch.id, m.key)}`,
          cardholder: { name: this.model.displayName(ch), href: `${base}${this.cardholderPath(ch.id)}` },
          ...(m.from ? { from: m.from } : {}),
          ...(m.until ? { until: m.until } : {}),
        });
      }
    }
    return { status: 200, body: { cardholders } };
  }

  // ---------------------------------------------------------------- PDFs, card types, items, divisions

  private pdfJson(base: string, id: string): Record<string, unknown> {
    const p = this.model.pdfs.get(id)!;
    return {
      href: `${base}${this.layout.personalDataFields}/${p.id}`,
      id: p.id,
      name: p.name,
      division: { id: '2', href: `${base}${this.layout.divisions}/2` },
      type: p.type,
      required: false,
      unique: p.unique ?? false,
      defaultAccess: 'fullAccess',
      sortPriority: 50,
      accessGroups: (p.accessGroupIds ?? []).map((g) => ({
        name: this.model.accessGroups.get(g)?.name ?? '',
        href: `${base}${this.layout.accessGroups}/${g}`,
      })),
    };
  }

  private searchPdfs({ url, base }: Ctx): Reply {
    const q = url.searchParams;
    let list = [...this.model.pdfs.values()].sort((a, b) => Number(a.id) - Number(b.id));
    const name = q.get('name');
    if (name !== null) list = list.filter((p) => ccMatch(name, p.name));
    return this.page(url, base, list, (p) => pick(this.pdfJson(base, p.id), expandDefaults(fieldList(q) ?? ['defaults'], ['href', 'id', 'name'])));
  }

  private getPdf({ url, base, params }: Ctx): Reply {
    if (!this.model.pdfs.has(params.id)) throw new FakeError(404, 'That is not a personal data field');
    const full = this.pdfJson(base, params.id);
    return { status: 200, body: pick(full, expandDefaults(fieldList(url.searchParams) ?? ['defaults'], Object.keys(full))) };
  }

  private cardTypes({ url, base }: Ctx, assignable: boolean): Reply {
    const q = url.searchParams;
    let list = [...this.model.cardTypes.values()].filter((t) => !assignable || !t.notAssignable);
    const name = q.get('name');
    if (name !== null) list = list.filter((t) => ccMatch(name, t.name));
    return this.page(url, base, list, (t) =>
      pick(
        {
          href: `${base}${this.layout.cardTypes}/${t.id}`,
          id: t.id,
          name: t.name,
          division: { href: `${base}${this.layout.divisions}/2` },
          ...(t.facilityCode ? { facilityCode: t.facilityCode } : {}),
          availableCardStates: t.states,
          credentialClass: t.credentialClass,
          minimumNumber: String(t.minimumNumber),
          maximumNumber: String(t.maximumNumber),
        },
        fieldList(q) ?? ['href', 'id', 'name', 'division', 'facilityCode', 'availableCardStates', 'credentialClass', 'minimumNumber', 'maximumNumber'],
      ),
    );
  }

  private searchItems({ url, base }: Ctx): Reply {
    const q = url.searchParams;
    const all: Array<{ id: string; name: string; type: (typeof ITEM_TYPES)[keyof typeof ITEM_TYPES] }> = [
      ...[...this.model.cardholders.values()].map((c) => ({ id: c.id, name: this.model.displayName(c), type: ITEM_TYPES.cardholder })),
      ...[...this.model.accessGroups.values()].map((g) => ({ id: g.id, name: g.name, type: ITEM_TYPES.accessGroup })),
      ...[...this.model.doors.values()].map((d) => ({ id: d.id, name: d.name, type: ITEM_TYPES.door })),
      ...[...this.model.divisions.values()].map((d) => ({ id: d.id, name: d.name, type: ITEM_TYPES.division })),
      ...[...this.model.cardTypes.values()].map((t) => ({ id: t.id, name: t.name, type: ITEM_TYPES.cardType })),
      ...[...this.model.pdfs.values()].map((p) => ({ id: p.id, name: p.name, type: ITEM_TYPES.pdf })),
    ];
    let list = all.sort((a, b) => Number(a.id) - Number(b.id));
    const name = q.get('name');
    if (name !== null) list = list.filter((i) => ccMatch(name, i.name));
    const type = q.get('type');
    if (type !== null) {
      const ids = type.split(',');
      // CC ignores invalid type ids, and with none valid it returns everything (a documented bug).
      if (Object.values(ITEM_TYPES).some((t) => ids.includes(t.id))) list = list.filter((i) => ids.includes(i.type.id));
    }
    return this.page(url, base, list, (i) => ({ id: i.id, name: i.name, type: i.type, href: `${base}${this.layout.items}/${i.id}` }));
  }

  private getDivision({ base, params }: Ctx): Reply {
    const d = this.model.divisions.get(params.id);
    if (!d) throw new FakeError(404, 'That is not a division');
    const isRoot = d.id === this.model.divisions.keys().next().value;
    return {
      status: 200,
      body: {
        href: `${base}${this.layout.divisions}/${d.id}`,
        id: d.id,
        name: d.name,
        ...(isRoot ? {} : { parent: { href: `${base}${this.layout.divisions}/${this.model.divisions.keys().next().value}` } }),
      },
    };
  }

  /** A `results` + `next` page over an id-sorted list, for the small collections. */
  private page<T extends { id: string }>(url: URL, base: string, list: T[], render: (x: T) => unknown): Reply {
    const q = url.searchParams;
    const top = positiveInt(q.get('top'), 1000, 'top');
    const pos = q.get('pos');
    const rest = pos === null ? list : list.filter((x) => Number(x.id) > Number(pos));
    const page = rest.slice(0, top);
    const body: Record<string, unknown> = { results: page.map(render) };
    if (rest.length > top) {
      const next = new URLSearchParams(q);
      next.set('pos', page[page.length - 1].id);
      body.next = { href: `${base}${url.pathname}?${next.toString()}` };
    }
    return { status: 200, body };
  }

  // ---------------------------------------------------------------- events

  private eventJson(base: string, e: FakeEvent, fields: string[]): Record<string, unknown> {
    const L = this.layout;
    const ch = e.cardholder ? this.model.cardholders.get(e.cardholder.id) : undefined;
    const sourceHref = e.source.kind === 'door' ? `${base}${L.doors}/${e.source.id}` : `${base}${L.items}/${e.source.id}`;
    const full: Record<string, unknown> = {
      href: `${base}${L.events}/${e.id}`,
      id: e.id,
      time: e.time,
      message: e.message,
      priority: e.location === 'denied' ? 3 : 1,
      source: { id: e.source.id, name: e.source.name, href: sourceHref },
      group: { id: e.groupId, name: e.groupName },
      type: { id: e.typeId, name: e.typeName },
      eventType: { id: e.typeId, name: e.typeName },
      division: { id: '2', href: `${base}${L.divisions}/2`, name: this.model.divisions.get('2')?.name ?? 'Root division' },
    };
    if (e.cardholder) {
      full.cardholder = {
        ...(ch ? { href: `${base}${this.cardholderPath(ch.id)}` } : {}),
        id: e.cardholder.id,
        name: e.cardholder.name,
        ...(ch?.firstName !== undefined ? { firstName: ch.firstName } : {}),
        ...(ch?.lastName !== undefined ? { lastName: ch.lastName } : {}),
      };
    }
    if (e.card) full.card = { ...(e.card.facilityCode ? { facilityCode: e.card.facilityCode } : {}), number: e.card.number, issueLevel: e.card.issueLevel };
    if (e.door) full.door = { href: `${base}${L.doors}/${e.door.id}`, name: e.door.name };
    if (e.location) {
      full.location = {
        type: e.location,
        ...(e.cardholder ? { cardholder: { name: e.cardholder.name, ...(ch ? { href: `${base}${this.cardholderPath(ch.id)}` } : {}) } } : {}),
        afterLocation: { href: `${base}${L.accessZones}/${e.door?.id ?? '0'}`, name: `${e.door?.name ?? 'Zone'} zone`, canonicalTypeName: 'accesszone' },
      };
    }
    full.next = { href: `${base}${L.events}?pos=${e.pos}` };
    full.previous = { href: `${base}${L.events}?pos=${e.pos}&previous=True` };
    full.updates = { href: `${base}${L.eventUpdates}?pos=${e.pos}` };
    return pick(full, expandDefaults(fields, EVENT_DEFAULTS));
  }

  private eventFilter(q: URLSearchParams): (e: FakeEvent) => boolean {
    const types = q.get('type')?.split(',').filter(Boolean);
    const groups = q.get('group')?.split(',').filter(Boolean);
    const cardholders = q.get('cardholder')?.split(',').filter(Boolean);
    const sources = q.get('source')?.split(',').filter(Boolean);
    const after = q.get('after') === null ? undefined : parseCcTime(q.get('after'), 'after');
    const before = q.get('before') === null ? undefined : parseCcTime(q.get('before'), 'before');
    return (e) => {
      if (types || groups) {
        const typeOk = types?.some((t) => t === e.typeId || (t === 'hasLocation' && e.location !== undefined)) ?? false;
        const groupOk = groups?.includes(e.groupId) ?? false;
        if (!typeOk && !groupOk) return false;
      }
      if (cardholders && !(e.cardholder && cardholders.includes(e.cardholder.id))) return false;
      if (sources && !sources.includes(e.source.id)) return false;
      if (after && Date.parse(e.time) < Date.parse(after)) return false;
      if (before && Date.parse(e.time) >= Date.parse(before)) return false;
      return true;
    };
  }

  /** Events after `pos` (forward) or before it (previous=true), up to `top`, and where the scan stopped. */
  private scanEvents(q: URLSearchParams): { events: FakeEvent[]; first: number; last: number } {
    const top = positiveInt(q.get('top'), 1000, 'top');
    if (top > 10000) throw new FakeError(400, 'top must not exceed 10000');
    const match = this.eventFilter(q);
    const previous = /^true$/i.test(q.get('previous') ?? '');
    const posParam = q.get('pos');
    const all = this.model.events;
    if (previous) {
      const end = posParam === null ? all.length : Math.min(Number(posParam) - 1, all.length);
      const out: FakeEvent[] = [];
      let i = end - 1;
      for (; i >= 0 && out.length < top; i--) if (match(all[i])) out.unshift(all[i]);
      return { events: out, first: i + 1, last: end };
    }
    const start = posParam === null ? 0 : Number(posParam);
    const out: FakeEvent[] = [];
    let i = start;
    for (; i < all.length && out.length < top; i++) if (match(all[i])) out.push(all[i]);
    return { events: out, first: start, last: i };
  }

  private eventPage(url: URL, base: string, scan: { events: FakeEvent[]; first: number; last: number }): Record<string, unknown> {
    const q = url.searchParams;
    const keep = new URLSearchParams(q);
    for (const k of ['pos', 'previous', 'deadline']) keep.delete(k);
    const link = (path: string, extra: Record<string, string>) => {
      const p = new URLSearchParams(keep);
      for (const [k, v] of Object.entries(extra)) p.set(k, v);
      return { href: `${base}${path}?${p.toString()}` };
    };
    const fields = fieldList(q) ?? ['defaults'];
    return {
      events: scan.events.map((e) => this.eventJson(base, e, fields)),
      previous: link(this.layout.events, { pos: String(scan.first + 1), previous: 'True' }),
      next: link(this.layout.events, { pos: String(scan.last) }),
      updates: link(this.layout.eventUpdates, { pos: String(scan.last) }),
    };
  }

  private searchEvents({ url, base }: Ctx): Reply {
    return { status: 200, body: this.eventPage(url, base, this.scanEvents(url.searchParams)) };
  }

  /** The blocking call: returns as soon as something matches after `pos`, or empty at the deadline. */
  private async eventUpdates({ url, base, req }: Ctx): Promise<Reply> {
    const q = new URLSearchParams(url.searchParams);
    q.delete('previous');
    // Followed from /api, the call has no bookmark: it starts at the head and waits for news.
    if (q.get('pos') === null) q.set('pos', String(this.model.headPos));
    const deadlineParam = q.get('deadline');
    const deadline = deadlineParam === null ? this.defaultDeadlineSeconds : Number(deadlineParam);
    if (!Number.isInteger(deadline) || deadline < 1 || deadline > 86400) throw new FakeError(400, 'Invalid deadline');
    const scanNow = () => this.scanEvents(q);
    let scan = scanNow();
    if (scan.events.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        // assigned below, after finish (which clears it) is defined
        // eslint-disable-next-line prefer-const
        let timer: NodeJS.Timeout | undefined;
        const finish = () => {
          clearTimeout(timer);
          unsubscribe();
          this.waiters.delete(finish);
          req.off('close', finish);
          resolve();
        };
        const unsubscribe = this.model.onEvent(() => {
          if (scanNow().events.length > 0) finish();
        });
        timer = setTimeout(finish, deadline * 1000);
        this.waiters.add(finish);
        req.on('close', finish);
      });
      scan = scanNow();
    }
    return { status: 200, body: this.eventPage(url, base, scan) };
  }

  private getEvent({ url, base, params }: Ctx): Reply {
    const e = this.model.events.find((x) => x.id === params.id);
    if (!e) throw new FakeError(404, 'That is not the URL of an event');
    return { status: 200, body: this.eventJson(base, e, fieldList(url.searchParams) ?? ['defaults']) };
  }

  private eventGroups(): Reply {
    const byGroup = new Map<string, { id: string; name: string; eventTypes: Array<{ id: string; name: string }> }>();
    for (const t of Object.values(EVENT_TYPES)) {
      const g = byGroup.get(t.groupId) ?? { id: t.groupId, name: t.groupName, eventTypes: [] };
      g.eventTypes.push({ id: t.typeId, name: t.typeName });
      byGroup.set(t.groupId, g);
    }
    return { status: 200, body: { eventGroups: [...byGroup.values()] } };
  }
}

const AG_DEFAULTS = ['href', 'id', 'name', 'description', 'parent', 'division', 'cardholders'];

/** Starts a fake Command Centre on 127.0.0.1 (port 0 unless given). Close it with `close()`. */
export async function startFakeCommandCentre(opts: FakeCommandCentreOptions & { port?: number } = {}): Promise<FakeCommandCentre> {
  return new FakeCommandCentre(opts).listen(opts.port ?? 0);
}

// ---------------------------------------------------------------- helpers

function randomApiKey(): string {
  const hex = () =>
    Math.floor(Math.random() * 0x10000)
      .toString(16)
      .toUpperCase()
      .padStart(4, '0');
  return Array.from({ length: 8 }, hex).join('-');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(v: unknown, field: string, max?: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new FakeError(400, `${field} must be a string`);
  if (max !== undefined && v.length > max) throw new FakeError(400, `${field} must not be longer than ${max} characters`);
  return v === '' ? undefined : v;
}

function optBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new FakeError(400, `${field} must be true or false`);
  return v;
}

function positiveInt(raw: string | null, dflt: number, field: string): number {
  if (raw === null) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new FakeError(400, `${field} must be a positive integer`);
  return n;
}

/** `fields=a,b` (possibly repeated) as a list; null when absent. */
function fieldList(q: URLSearchParams): string[] | null {
  const all = q.getAll('fields');
  if (all.length === 0) return null;
  return all
    .flatMap((f) => f.split(','))
    .map((f) => f.trim())
    .filter(Boolean);
}

function expandDefaults(fields: string[], defaults: string[]): string[] {
  return fields.flatMap((f) => (f === 'defaults' || f === 'default' ? defaults : [f]));
}

/** Keeps the listed top-level fields; `a.b` keeps field b of each element of array/object a. */
function pick(full: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const nested = new Map<string, string[]>();
  for (const f of fields) {
    const dot = f.indexOf('.');
    if (dot < 0) {
      if (f in full) out[f] = full[f];
    } else {
      const head = f.slice(0, dot);
      nested.set(head, [...(nested.get(head) ?? []), f.slice(dot + 1)]);
    }
  }
  for (const [head, subs] of nested) {
    if (head in out || !(head in full)) continue;
    const v = full[head];
    if (Array.isArray(v)) out[head] = (v as unknown[]).map((x) => (isObject(x) ? pick(x, subs) : x));
    else if (isObject(v)) out[head] = pick(v, subs);
  }
  return out;
}

/**
 * CC's string search: substring by default, exact inside double quotes, `%`/`_` wildcards
 * anchor at both ends, a lone `%` matches any non-blank value; always case-insensitive.
 */
export function ccMatch(term: string, value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  const v = value.toLowerCase();
  const t = term.toLowerCase();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return v === t.slice(1, -1);
  if (t === '') return false;
  if (t.includes('%') || t.includes('_')) {
    const re = new RegExp(
      `^${t
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/%/g, '.*')
        .replace(/_/g, '.')}$`,
      's',
    );
    return re.test(v);
  }
  return v.includes(t);
}

function addUpdateRemove(v: unknown, field: string): { add: unknown[]; update: unknown[]; remove: unknown[] } {
  if (!isObject(v)) throw new FakeError(400, `${field} must be an object with add, update and remove arrays`);
  const arr = (k: string): unknown[] => {
    const x = v[k];
    if (x === undefined) return [];
    if (!Array.isArray(x)) throw new FakeError(400, `${field}.${k} must be an array`);
    return x;
  };
  return { add: arr('add'), update: arr('update'), remove: arr('remove') };
}

function assertDisjoint(ops: { update: unknown[]; remove: unknown[] }, field: string): void {
  const hrefs = (xs: unknown[]) => new Set(xs.map((x) => (isObject(x) ? x.href : undefined)));
  const removed = hrefs(ops.remove);
  for (const h of hrefs(ops.update)) {
    if (h !== undefined && removed.has(h)) throw new FakeError(400, `Do not put the same href in both ${field}.update and ${field}.remove`);
  }
}

/** A fresh opaque key, never the one it replaces. */
function nextKey(old: string): string {
  for (;;) {
    const k = opaqueKey();
    if (k !== old) return k;
  }
}

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A fake uhppoted-rest (uhppoted-api.yaml, OpenAPI 3.0.3, 0.8.10): the device-level card and
 * event endpoints the driver uses, over real HTTP, with the spec's paths (under /uhppote),
 * methods, bodies and status codes. Controllers keep cards (start/end date, four door
 * permissions, PIN) and an event ring buffer addressed by index, as UHPPOTE controllers do.
 *
 * Levers for tests: seed cards, record swipes, inject failures, read the exchanges back.
 */

export type DoorPermission = boolean | number;

export interface FakeCard {
  'start-date': string;
  'end-date': string;
  doors: Record<'1' | '2' | '3' | '4', DoorPermission>;
  PIN: number;
}

export interface FakeEvent {
  'event-id': number;
  'event-type': number;
  'access-granted': boolean;
  'door-id': number;
  'door-opened': boolean;
  'user-id': number;
  timestamp: string;
  'event-result': number;
}

export interface FakeController {
  id: number;
  type: string;
  cards: Map<number, FakeCard>;
  /** Stored events, oldest first; indices are consecutive. */
  events: FakeEvent[];
  /** Index the next event gets. */
  nextIndex: number;
  /** The controller's own event pointer ('current'), moved by reading 'next'. */
  current: number;
}

export interface FakeExchange {
  method: string;
  url: string;
  /** The spec path template that matched (e.g. /device/{device-id}/card/{card-number}), or null. */
  specPath: string | null;
  status: number;
  requestBody: unknown;
  responseBody: unknown;
  /** Answered by failNext, not by the API. */
  injected: boolean;
}

export interface FakeUhppotedOptions {
  /** Controller serial numbers; default two (405419896, 303986753). */
  controllers?: number[];
  /** Basic credentials; when set, requests without them get 401. */
  auth?: { username: string; password: string };
  /** Events a controller keeps before overwriting the oldest (real controllers: about 200 000). */
  maxEvents?: number;
  /**
   * Serve HTTPS, requiring a client certificate signed by `ca` (uhppoted-rest's HTTPS with
   * rest.tls.client.certificates = true, its default).
   */
  tls?: { key: string; cert: string; ca: string };
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const UINT32_MAX = 4_294_967_295;

function isDate(s: unknown): s is string {
  return typeof s === 'string' && DATE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function timestamp(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly tag: string,
    message: string,
  ) {
    super(message);
  }
}

interface Route {
  method: string;
  specPath: string;
  pattern: RegExp;
  handle: (params: string[], body: unknown) => { status: number; body?: unknown };
}

export class FakeUhppoted {
  readonly controllers = new Map<number, FakeController>();
  readonly exchanges: FakeExchange[] = [];
  url = '';
  private server: http.Server | https.Server | null = null;
  private failures: { status: number; times: number; retryAfterSeconds?: number } | null = null;
  private readonly routes: Route[];
  private readonly maxEvents: number;

  constructor(private readonly opts: FakeUhppotedOptions = {}) {
    for (const id of opts.controllers ?? [405419896, 303986753]) {
      this.controllers.set(id, { id, type: 'UT0311-L04', cards: new Map(), events: [], nextIndex: 1, current: 0 });
    }
    this.maxEvents = opts.maxEvents ?? 200_000;
    this.routes = this.buildRoutes();
  }

  async listen(): Promise<string> {
    const tls = this.opts.tls;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.serve(req, res);
    this.server = tls
      ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, handler)
      : http.createServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/uhppote`;
    return this.url;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The next `times` requests are answered with `status` (an Error body, Retry-After if given). */
  failNext(status: number, opts: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.failures = { status, times: opts.times ?? 1, retryAfterSeconds: opts.retryAfterSeconds };
  }

  controller(id: number): FakeController {
    const c = this.controllers.get(id);
    if (!c) throw new Error(`fake has no controller ${id}`);
    return c;
  }

  /** Stores a card directly on a controller (not through the API). */
  putCard(controller: number, card: number, details: Partial<Omit<FakeCard, 'doors'>> & { doors?: Partial<FakeCard['doors']> } = {}): void {
    this.controller(controller).cards.set(card, {
      'start-date': details['start-date'] ?? '2000-01-01',
      'end-date': details['end-date'] ?? '2099-12-31',
      doors: { '1': false, '2': false, '3': false, '4': false, ...(details.doors ?? {}) },
      PIN: details.PIN ?? 0,
    });
  }

  /** Records a card swipe event on a controller, as the controller would on a read. */
  swipe(controller: number, door: number, card: number, granted: boolean, at: Date = new Date()): FakeEvent {
    const c = this.controller(controller);
    const e: FakeEvent = {
      'event-id': c.nextIndex++,
      'event-type': 1,
      'access-granted': granted,
      'door-id': door,
      'door-opened': granted,
      'user-id': card,
      timestamp: timestamp(at),
      'event-result': granted ? 1 : 6,
    };
    c.events.push(e);
    while (c.events.length > this.maxEvents) c.events.shift();
    return e;
  }

  /** Records a non-card event (door opened by button: type 2). */
  doorEvent(controller: number, door: number): FakeEvent {
    const c = this.controller(controller);
    const e: FakeEvent = {
      'event-id': c.nextIndex++,
      'event-type': 2,
      'access-granted': true,
      'door-id': door,
      'door-opened': true,
      'user-id': 0,
      timestamp: timestamp(new Date()),
      'event-result': 20,
    };
    c.events.push(e);
    while (c.events.length > this.maxEvents) c.events.shift();
    return e;
  }

  private buildRoutes(): Route[] {
    const r = (method: string, specPath: string, handle: Route['handle']): Route => {
      const pattern = new RegExp(`^/uhppote${specPath.replace(/\{[^}]+\}/g, '([^/]+)')}$`);
      return { method, specPath, pattern, handle };
    };
    const deviceOf = (raw: string, tag: string): FakeController => {
      const id = uint(raw, tag, 'device-id');
      const c = this.controllers.get(id);
      if (!c) throw new HttpError(404, tag, `No device with ID ${id}`);
      return c;
    };
    return [
      r('GET', '/device', () => ({
        status: 200,
        body: { devices: [...this.controllers.values()].map((c) => ({ 'device-id': c.id, 'device-type': c.type })) },
      })),
      r('GET', '/device/{device-id}', ([id]) => {
        const c = deviceOf(id, 'get-device');
        return {
          status: 200,
          body: {
            device: {
              'device-type': c.type,
              'ip-address': '192.168.1.50',
              'subnet-mask': '255.255.255.0',
              'gateway-address': '192.168.1.1',
              'mac-address': '00:12:23:34:45:56',
              version: '0892',
              date: timestamp(new Date()).slice(0, 10),
            },
          },
        };
      }),
      r('GET', '/device/{device-id}/cards', ([id]) => {
        const c = deviceOf(id, 'get-cards');
        return { status: 200, body: { cards: [...c.cards.keys()].sort((a, b) => a - b) } };
      }),
      r('GET', '/device/{device-id}/card/{card-number}', ([id, n]) => {
        const c = deviceOf(id, 'get-card');
        const number = uint(n, 'get-card', 'card-number');
        const card = c.cards.get(number);
        if (!card) throw new HttpError(404, 'get-card', `No card ${number} on device ${c.id}`);
        return { status: 200, body: { card: { 'card-number': number, ...structuredClone(card) } } };
      }),
      r('PUT', '/device/{device-id}/card/{card-number}', ([id, n], body) => {
        const c = deviceOf(id, 'put-card');
        const number = uint(n, 'put-card', 'card-number');
        if (number === 0) throw new HttpError(405, 'put-card', 'Invalid card number');
        c.cards.set(number, cardDetails(body));
        return { status: 200 };
      }),
      r('DELETE', '/device/{device-id}/card/{card-number}', ([id, n]) => {
        const c = deviceOf(id, 'delete-card');
        const number = uint(n, 'delete-card', 'card-number');
        if (!c.cards.delete(number)) throw new HttpError(404, 'delete-card', `No card ${number} on device ${c.id}`);
        return { status: 200 };
      }),
      r('GET', '/device/{device-id}/events', ([id]) => {
        const c = deviceOf(id, 'get-events');
        return { status: 200, body: { events: this.indices(c) } };
      }),
      r('GET', '/device/{device-id}/event/{event-index}', ([id, raw]) => {
        const c = deviceOf(id, 'get-event');
        const first = c.events[0]?.['event-id'];
        const last = c.events.at(-1)?.['event-id'];
        let index: number | undefined;
        if (raw === 'first') index = first;
        else if (raw === 'last') index = last;
        else if (raw === 'current') index = c.current;
        else if (raw === 'next') {
          // Reads the event after the controller's pointer and moves the pointer (shared by every client).
          if (first !== undefined && last !== undefined && c.current < last) c.current = Math.max(c.current + 1, first);
          index = c.current;
        } else if (/^\d+$/.test(raw)) index = Number(raw);
        else throw new HttpError(405, 'get-event', `Invalid event index '${raw}'`);
        const e = index === undefined || first === undefined ? undefined : c.events[index - first];
        if (!e) throw new HttpError(404, 'get-event', `No event at index ${raw} on device ${c.id}`);
        return { status: 200, body: { event: { ...e } } };
      }),
      r('POST', '/device/{device-id}/door/{door}/swipes', ([id, d], body) => {
        const c = deviceOf(id, 'open-door');
        const door = uint(d, 'open-door', 'door');
        if (door < 1 || door > 4) throw new HttpError(405, 'open-door', `Invalid door ${door}`);
        const n = (body as { 'card-number'?: unknown } | undefined)?.['card-number'];
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > UINT32_MAX) throw new HttpError(405, 'open-door', 'Invalid card number');
        const card = c.cards.get(n);
        const today = timestamp(new Date()).slice(0, 10);
        const allowed = !!card && card['start-date'] <= today && today <= card['end-date'] && card.doors[String(door) as '1'] !== false;
        this.swipe(c.id, door, n, allowed);
        if (!allowed) throw new HttpError(401, 'open-door', `Card ${n} does not have permission to open door ${door}`);
        return { status: 200, body: { door: { opened: true } } };
      }),
    ];
  }

  private indices(c: FakeController): { first?: number; last?: number; current: number } {
    if (c.events.length === 0) return { current: c.current };
    return { first: c.events[0]['event-id'], last: c.events.at(-1)!['event-id'], current: c.current };
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const method = req.method ?? 'GET';
      const text = Buffer.concat(chunks).toString('utf8');
      let requestBody: unknown;
      const route = this.routes.find((r) => r.method === method && r.pattern.test(url.pathname));
      const exchange: FakeExchange = {
        method,
        url: url.pathname + url.search,
        specPath: route?.specPath ?? null,
        status: 0,
        requestBody: undefined,
        responseBody: undefined,
        injected: false,
      };
      const send = (status: number, body?: unknown, headers: Record<string, string> = {}): void => {
        exchange.status = status;
        exchange.responseBody = body;
        this.exchanges.push(exchange);
        const payload = body === undefined ? '' : JSON.stringify(body);
        res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
        res.end(payload);
      };
      try {
        if (text !== '') {
          try {
            requestBody = JSON.parse(text) as unknown;
          } catch {
            exchange.requestBody = text;
            throw new HttpError(405, 'request', 'Invalid request body');
          }
        }
        exchange.requestBody = requestBody;
        if (this.failures && this.failures.times > 0) {
          const f = this.failures;
          if (--f.times === 0) this.failures = null;
          exchange.injected = true;
          const headers: Record<string, string> = f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : {};
          return send(f.status, { tag: 'system', message: `injected ${f.status}` }, headers);
        }
        if (this.opts.auth) {
          const want = `Basic ${Buffer.from(`${this.opts.auth.username}:${this.opts.auth.password}`).toString('base64')}`;
          if (req.headers.authorization !== want) {
            return send(401, { tag: 'auth', message: 'Invalid credentials' }, { 'www-authenticate': 'Basic realm="uhppoted"' });
          }
        }
        if (!route) {
          const known = this.routes.some((r) => r.pattern.test(url.pathname));
          throw new HttpError(known ? 405 : 404, 'request', known ? `${method} not allowed` : `No such resource ${url.pathname}`);
        }
        const out = route.handle(route.pattern.exec(url.pathname)!.slice(1).map(decodeURIComponent), requestBody);
        send(out.status, out.body);
      } catch (e) {
        if (e instanceof HttpError) send(e.status, { tag: e.tag, message: e.message });
        else send(500, { tag: 'system', message: String(e) });
      }
    });
  }
}

function uint(raw: string, tag: string, what: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > UINT32_MAX) throw new HttpError(405, tag, `Invalid ${what} '${raw}'`);
  return Number(raw);
}

/** Validates a CardDetails body as uhppoted-rest does; 405 (the spec's "Invalid request") otherwise. */
function cardDetails(body: unknown): FakeCard {
  const bad = (m: string): never => {
    throw new HttpError(405, 'put-card', m);
  };
  if (!body || typeof body !== 'object' || Array.isArray(body)) return bad('Invalid card details');
  const b = body as Record<string, unknown>;
  if (!isDate(b['start-date'])) bad(`Invalid start-date '${String(b['start-date'])}'`);
  if (!isDate(b['end-date'])) bad(`Invalid end-date '${String(b['end-date'])}'`);
  const doors = b.doors;
  if (!doors || typeof doors !== 'object' || Array.isArray(doors)) return bad('Invalid doors');
  const out: FakeCard['doors'] = { '1': false, '2': false, '3': false, '4': false };
  for (const [k, v] of Object.entries(doors as Record<string, unknown>)) {
    if (!['1', '2', '3', '4'].includes(k)) bad(`Invalid door '${k}'`);
    if (typeof v === 'boolean') out[k as '1'] = v;
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 2 && v <= 254) out[k as '1'] = v;
    else bad(`Invalid permission for door ${k}`);
  }
  const pin = b.PIN ?? 0;
  if (typeof pin !== 'number' || !Number.isInteger(pin) || pin < 0 || pin > 999_999) bad('Invalid PIN');
  return { 'start-date': b['start-date'] as string, 'end-date': b['end-date'] as string, doors: out, PIN: pin as number };
}

export async function startFakeUhppoted(opts: FakeUhppotedOptions = {}): Promise<FakeUhppoted> {
  const fake = new FakeUhppoted(opts);
  await fake.listen();
  return fake;
}

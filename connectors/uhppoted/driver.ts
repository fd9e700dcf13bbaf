import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, CredentialStatus, Membership, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, notFoundAsNull, type RetryInfo, type TlsOptions } from '../../src/drivers/http.js';
import { caFileOption, clientCertificateOption, httpUrlOption, maxAttemptsOption, pageSizeOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import { loadTls } from '../../src/drivers/tls.js';
import { mapLimit, parseDriverOptions, readOptionFile } from '../../src/drivers/util.js';

/**
 * The LockDriver for uhppoted-rest (uhppoted-api.yaml), the open-source REST service in front
 * of UHPPOTE UT0311 access controllers. It uses the device-level API only:
 *
 * - An account is a **card**: its id is the card number. A card lives on each controller
 *   separately (`/device/{id}/card/{n}`: start date, end date, door 1..4 permissions, PIN);
 *   the driver keeps it on every configured controller with the same dates.
 * - Access groups do not exist in uhppoted: the options name them as sets of
 *   `{ controller, door }`. A card holds a group when it may open every door of it.
 * - Validity lives on the card (dates, whole days): `validity: 'account'`. The card's dates are
 *   the hull of the windows of the groups it holds; lockstep enforces per-group windows on
 *   schedule.
 * - Suspension: the card's end date is set to 2000-01-01 (a day long past; controllers refuse
 *   it), its real dates kept in the holder registry and restored on reactivation.
 * - uhppoted keeps no name and no external id. The driver keeps both in a holder registry
 *   (a JSON file, `registryFile`); card numbers for new externalIds come from `cards`, from the
 *   externalId itself (`cardNumbers: externalId`) or are derived from it (`derive`).
 * - Events: per controller by index (`/device/{id}/event/{index}`); the cursor is the last
 *   index read on each controller.
 */

const UINT32_MAX = 4_294_967_295;
/** Dates UHPPOTE controllers can hold (BCD years 20xx). Earliest and latest stand for "open". */
const OPEN_START = '2000-01-01';
const OPEN_END = '2099-12-31';
/** The end date of a suspended card: before any real window, so controllers refuse the card. */
const SUSPENDED_END = '2000-01-01';

const doorRefSchema = z.strictObject({
  /** Controller serial number (device-id). */
  controller: z.number().int().min(1).max(UINT32_MAX),
  /** Door 1..4 of that controller. */
  door: z.number().int().min(1).max(4),
  /** Optional time profile (2..254) to grant the door with instead of plain `true`. */
  profile: z.number().int().min(2).max(254).optional(),
});

const groupSchema = z.union([z.array(doorRefSchema).min(1), z.strictObject({ name: z.string().min(1).optional(), doors: z.array(doorRefSchema).min(1) })]);

export const uhppotedOptionsSchema = z
  .strictObject({
    /** uhppoted-rest's base URL including its /uhppote prefix, e.g. http://10.0.0.5:8080/uhppote. */
    url: httpUrlOption(),
    /** Basic credentials when uhppoted-rest has authentication enabled (users file). */
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    passwordFile: z.string().min(1).optional(),
    /** PEM CA bundle (file) to trust for uhppoted-rest's HTTPS certificate. */
    caFile: caFileOption(),
    /** Client certificate and key files: uhppoted-rest's HTTPS requires one by default (rest.tls.client.certificates). */
    clientCertificate: clientCertificateOption(),
    /** Access groups: AG-ID → the doors it opens. */
    groups: z.record(z.string().min(1), groupSchema).refine((g) => Object.keys(g).length > 0, 'define at least one group'),
    /** Further controllers to keep cards on (the groups' controllers always are). */
    controllers: z.array(z.number().int().min(1).max(UINT32_MAX)).default([]),
    /** Pinned card numbers: externalId → the physical card's number. */
    cards: z.record(z.string().min(1), z.number().int().min(1).max(UINT32_MAX)).default({}),
    /**
     * How a new externalId gets its card number when `cards` does not name one: `externalId`
     * (the externalId is the card number, decimal) or `derive` (a hash of it into `deriveRange`).
     * No default: taking an HR number for a card number would hand someone else's card access.
     */
    cardNumbers: z.enum(['externalId', 'derive']),
    deriveRange: z
      .strictObject({ min: z.number().int().min(1).max(UINT32_MAX), max: z.number().int().min(1).max(UINT32_MAX) })
      .refine((r) => r.min <= r.max, 'min must not exceed max')
      .default({ min: 3_000_000_000, max: 3_999_999_999 }),
    /** JSON file for the holder registry (names, externalIds, group windows); memory only when unset. */
    registryFile: z.string().min(1).optional(),
    timeoutMs: timeoutMsOption(10_000),
    maxAttempts: maxAttemptsOption(),
    /** Cards per listAccounts page. */
    pageSize: pageSizeOption(10_000, 200),
    /** Events read per controller per readAccessEvents call. */
    eventsBatch: z.number().int().min(1).max(10_000).default(200),
    /** Requests in flight at once (uhppoted-rest talks UDP to each controller; keep it low). */
    concurrency: z.number().int().min(1).max(32).default(4),
  })
  .refine((o) => !(o.password !== undefined && o.passwordFile !== undefined), { message: 'give at most one of password and passwordFile', path: ['password'] })
  .refine((o) => (o.username === undefined) === (o.password === undefined && o.passwordFile === undefined), {
    message: 'username and password (or passwordFile) go together',
    path: ['username'],
  });

export type UhppotedOptions = z.input<typeof uhppotedOptionsSchema>;
type Options = z.output<typeof uhppotedOptionsSchema>;

interface DoorRef {
  controller: number;
  door: number;
  profile?: number;
}

interface Group {
  ref: string;
  name: string;
  doors: DoorRef[];
}

type DoorKey = '1' | '2' | '3' | '4';
const DOOR_KEYS: DoorKey[] = ['1', '2', '3', '4'];

/** A card as uhppoted-rest returns it (Card) or takes it (CardDetails). */
interface UCard {
  'start-date': string;
  'end-date': string;
  doors: Record<DoorKey, boolean | number>;
  PIN: number;
}

const cardSchema = z.object({
  card: z.object({
    'card-number': z.number(),
    'start-date': z.string(),
    'end-date': z.string(),
    doors: z.record(z.string(), z.union([z.boolean(), z.number()])),
    PIN: z.number().optional(),
  }),
});
const cardListSchema = z.object({ cards: z.array(z.number()) });
const deviceListSchema = z.object({ devices: z.array(z.object({ 'device-id': z.number(), 'device-type': z.string().optional() })) });
const indicesSchema = z.object({ events: z.object({ first: z.number().optional(), last: z.number().optional() }) });
const eventSchema = z.object({
  event: z.object({
    'event-id': z.number(),
    'event-type': z.number(),
    'access-granted': z.boolean(),
    'door-id': z.number(),
    'user-id': z.number(),
    timestamp: z.string(),
  }),
});

/** What the driver knows of a card holder that uhppoted cannot store. */
interface Holder {
  externalId: string | null;
  displayName?: string;
  /** Windows of the groups granted through lockstep; `*` is the account validity of upsertAccount. */
  windows: Record<string, Validity>;
  /** The card's dates before it was suspended. */
  saved?: { start: string; end: string };
}

const registrySchema = z.object({
  version: z.literal(1),
  holders: z.record(
    z.string(),
    z.object({
      externalId: z.string().nullable(),
      displayName: z.string().optional(),
      windows: z.record(z.string(), z.object({ from: z.string().nullable(), until: z.string().nullable() })),
      saved: z.object({ start: z.string(), end: z.string() }).optional(),
    }),
  ),
});

/** Card holders by card number, optionally persisted as JSON (written to a temp file, then renamed). */
class HolderRegistry {
  private readonly byCard = new Map<number, Holder>();
  private readonly byExternal = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file?: string) {}

  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return;
      throw new LockstepError('config', `cannot read the uhppoted holder registry ${this.file}`, { cause: e, retryable: false });
    }
    const r = registrySchema.safeParse(JSON.parse(text));
    if (!r.success)
      throw new LockstepError('config', `the uhppoted holder registry ${this.file} is not valid: ${r.error.issues[0]?.message}`, { retryable: false });
    for (const [card, h] of Object.entries(r.data.holders)) this.set(Number(card), h);
  }

  get(card: number): Holder | undefined {
    return this.byCard.get(card);
  }

  cardOf(externalId: string): number | undefined {
    return this.byExternal.get(externalId);
  }

  set(card: number, h: Holder): void {
    const old = this.byCard.get(card);
    if (old?.externalId && this.byExternal.get(old.externalId) === card) this.byExternal.delete(old.externalId);
    this.byCard.set(card, h);
    if (h.externalId) this.byExternal.set(h.externalId, card);
  }

  delete(card: number): void {
    const old = this.byCard.get(card);
    if (old?.externalId && this.byExternal.get(old.externalId) === card) this.byExternal.delete(old.externalId);
    this.byCard.delete(card);
  }

  async save(): Promise<void> {
    const file = this.file;
    if (!file) return;
    const holders: Record<string, Holder> = {};
    for (const [card, h] of this.byCard) holders[String(card)] = h;
    const text = `${JSON.stringify({ version: 1, holders }, null, 1)}\n`;
    // Serialised: two saves in flight must not rename over each other out of order.
    this.writing = this.writing.then(async () => {
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, file);
    });
    await this.writing;
  }
}

/** Runs fn over items with at most `limit` in flight; results in item order. */
const DAY_MS = 86_400_000;

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * A validity window as card dates (UTC days; the card is valid from start 00:00 to end 23:59).
 * Rounded inwards, never granting more than asked: a `from` during a day starts the next day,
 * an `until` ends the card the day before the day it falls on.
 */
export function toCardDates(v: Validity): { start: string; end: string } {
  let start = OPEN_START;
  if (v.from !== null) {
    const t = Date.parse(v.from);
    const day = Math.floor(t / DAY_MS) * DAY_MS;
    start = isoDate(day === t ? day : day + DAY_MS);
    if (start < OPEN_START) start = OPEN_START;
  }
  let end = OPEN_END;
  if (v.until !== null) {
    const t = Date.parse(v.until);
    end = isoDate(Math.floor(t / DAY_MS) * DAY_MS - DAY_MS);
    if (end > OPEN_END) end = OPEN_END;
  }
  return { start, end };
}

/** Card dates as a validity window (open sentinels as null). */
export function fromCardDates(start: string, end: string): Validity {
  return {
    from: start <= OPEN_START ? null : `${start}T00:00:00.000Z`,
    until: end >= OPEN_END ? null : new Date(Date.parse(`${end}T00:00:00Z`) + DAY_MS).toISOString(),
  };
}

/** The smallest window holding all of them (null bounds are open); null for none. */
function hull(ws: Validity[]): Validity | null {
  if (ws.length === 0) return null;
  let from: string | null = ws[0].from;
  let until: string | null = ws[0].until;
  for (const w of ws.slice(1)) {
    from = from === null || w.from === null ? null : Date.parse(w.from) < Date.parse(from) ? w.from : from;
    until = until === null || w.until === null ? null : Date.parse(w.until) > Date.parse(until) ? w.until : until;
  }
  return { from, until };
}

function suspended(c: UCard): boolean {
  return c['end-date'] <= SUSPENDED_END;
}

function granted(p: boolean | number | undefined): boolean {
  return p === true || typeof p === 'number';
}

function sameCard(a: UCard, b: UCard): boolean {
  return a['start-date'] === b['start-date'] && a['end-date'] === b['end-date'] && a.PIN === b.PIN && DOOR_KEYS.every((k) => a.doors[k] === b.doors[k]);
}

/** "yyyy-MM-dd HH:mm:ss" controller time, taken as UTC. */
function eventTime(ts: string): string {
  const t = Date.parse(`${ts.replace(' ', 'T')}Z`);
  return Number.isNaN(t) ? new Date(0).toISOString() : new Date(t).toISOString();
}

export class UhppotedDriver implements LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities = {
    validity: 'account',
    suspendAccount: true,
    credentialStates: false,
    accessEvents: 'cursor',
    deleteAccount: true,
  };
  private readonly http: HttpClient;
  private readonly groups = new Map<string, Group>();
  /** Every controller cards are kept on, sorted. */
  readonly controllers: number[];
  private readonly pinned = new Map<number, string>();

  constructor(
    private readonly opts: Options,
    private readonly registry: HolderRegistry,
    system: string,
    auth: { username: string; password: string } | undefined,
    tls: TlsOptions | undefined,
    onRetry?: (info: RetryInfo) => void,
    private readonly warn: (o: object, msg: string) => void = () => {},
  ) {
    this.name = system;
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    this.http = new HttpClient({ baseUrl: opts.url, headers, timeoutMs: opts.timeoutMs, maxAttempts: opts.maxAttempts, onRetry, ...(tls ? { tls } : {}) });
    const controllers = new Set(opts.controllers);
    for (const [ref, g] of Object.entries(opts.groups)) {
      const doors = Array.isArray(g) ? g : g.doors;
      const name = Array.isArray(g) ? ref : (g.name ?? ref);
      this.groups.set(ref, { ref, name, doors });
      for (const d of doors) controllers.add(d.controller);
    }
    this.controllers = [...controllers].sort((a, b) => a - b);
    for (const [x, n] of Object.entries(opts.cards)) this.pinned.set(n, x);
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    const r = deviceListSchema.parse(await this.http.get('device'));
    const found = new Set(r.devices.map((d) => d['device-id']));
    const missing = this.controllers.filter((c) => !found.has(c));
    if (missing.length > 0) this.warn({ system: this.name, missing }, 'uhppoted-rest does not list these configured controllers');
    return [...this.groups.values()].map((g) => ({ ref: g.ref, name: g.name }));
  }

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const after = cursor === null ? 0 : Number(cursor);
    if (!Number.isInteger(after) || after < 0) throw new LockstepError('validation', `invalid uhppoted listAccounts cursor ${cursor}`, { retryable: false });
    const lists = await mapLimit(this.controllers, this.opts.concurrency, async (c) => cardListSchema.parse(await this.http.get(`device/${c}/cards`)).cards);
    const where = new Map<number, number[]>();
    this.controllers.forEach((c, i) => {
      for (const n of lists[i]) if (n > after) where.set(n, [...(where.get(n) ?? []), c]);
    });
    const numbers = [...where.keys()].sort((a, b) => a - b);
    const page = numbers.slice(0, this.opts.pageSize);
    const items = await mapLimit(page, Math.max(1, Math.floor(this.opts.concurrency / Math.max(1, this.controllers.length)) || 1), async (n) => {
      const cards = await this.readCard(n, where.get(n));
      return cards.size === 0 ? null : this.toAccount(n, cards);
    });
    return {
      items: items.filter((a): a is Account => a !== null),
      next: numbers.length > page.length ? String(page.at(-1)) : null,
    };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const n = this.cardFor(externalId, false);
    if (n === null) return null;
    const holder = this.registry.get(n);
    if (holder?.externalId && holder.externalId !== externalId) return null;
    const cards = await this.readCard(n);
    if (cards.size === 0) return null;
    if (!holder?.externalId && this.externalIdOf(n) !== externalId) {
      // Derived or pinned number: remember who holds it, so listings name the externalId too.
      this.registry.set(n, { ...(holder ?? { windows: {} }), externalId });
      await this.registry.save();
    }
    return this.toAccount(n, cards);
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const n = parseCard(accountId);
    if (n === null) return null;
    const cards = await this.readCard(n);
    return cards.size === 0 ? null : this.toAccount(n, cards);
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const n = this.cardFor(input.externalId, true)!;
    const holder = this.registry.get(n);
    if (holder?.externalId && holder.externalId !== input.externalId) {
      throw new LockstepError('conflict', `card ${n} already belongs to ${holder.externalId}`, { field: 'externalId', retryable: false });
    }
    const cards = await this.readCard(n);
    const h: Holder = { windows: {}, ...holder, externalId: input.externalId, displayName: input.displayName };
    if (input.validity !== undefined) h.windows = { ...h.windows, '*': input.validity };
    this.registry.set(n, h);
    await this.writeCards(n, cards, (c) => c);
    await this.registry.save();
    return this.mustGet(n);
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    const n = this.mustParse(accountId);
    const cards = await this.readCard(n);
    if (cards.size === 0) throw new LockstepError('not_found', `no card ${accountId} on any controller`, { retryable: false });
    const h: Holder = this.registry.get(n) ?? { externalId: this.externalIdOf(n), windows: {} };
    if (state === 'suspended') {
      const active = [...cards.values()].filter((c) => !suspended(c));
      if (active.length === 0) return;
      const start = active.map((c) => c['start-date']).sort()[0];
      const end = active
        .map((c) => c['end-date'])
        .sort()
        .at(-1)!;
      this.registry.set(n, { ...h, saved: { start, end } });
      await this.registry.save();
      await mapLimit([...cards], this.opts.concurrency, async ([c, card]) => {
        if (!suspended(card)) await this.putCard(c, n, { ...card, 'end-date': SUSPENDED_END });
      });
      return;
    }
    if ([...cards.values()].every((c) => !suspended(c))) return;
    const dates = h.saved ?? this.datesFor(h, this.heldGroups(cards), null);
    if (!h.saved && Object.keys(h.windows).length === 0) {
      this.warn({ system: this.name, card: n }, 'reactivating a uhppoted card whose dates before suspension are unknown: open dates until the next grant');
    }
    const { saved: _saved, ...rest } = h;
    this.registry.set(n, rest);
    await mapLimit([...cards], this.opts.concurrency, async ([c, card]) => {
      if (suspended(card)) await this.putCard(c, n, { ...card, 'start-date': dates.start, 'end-date': dates.end });
    });
    await this.registry.save();
  }

  async deleteAccount(accountId: string): Promise<void> {
    const n = parseCard(accountId);
    if (n === null) return;
    // Only where the card is: some uhppoted-rest versions answer 500, not 404, for deleting an absent card.
    const cards = await this.readCard(n);
    await mapLimit([...cards.keys()], this.opts.concurrency, (c) => notFoundAsNull(this.http.delete(`device/${c}/card/${n}`)));
    this.registry.delete(n);
    await this.registry.save();
  }

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const g = this.group(group);
    const n = this.mustParse(accountId);
    const cards = await this.readCard(n);
    if (cards.size === 0) throw new LockstepError('not_found', `no card ${accountId} on any controller`, { retryable: false });
    const h: Holder = this.registry.get(n) ?? { externalId: this.externalIdOf(n), windows: {} };
    // Windows of other held groups that the registry does not know: keep the card's current dates for them.
    const current = this.currentValidity(cards, h);
    const windows: Record<string, Validity> = {};
    for (const other of this.heldGroups(cards)) if (other !== group) windows[other] = h.windows[other] ?? current;
    this.registry.set(n, { ...h, windows: { ...(h.windows['*'] ? { '*': h.windows['*'] } : {}), ...windows, [group]: validity } });
    await this.writeCards(n, cards, (card, c) => {
      const doors = { ...card.doors };
      for (const d of g.doors) if (d.controller === c) doors[String(d.door) as DoorKey] = d.profile ?? true;
      return { ...card, doors };
    });
    await this.registry.save();
  }

  async revoke(accountId: string, group: string): Promise<void> {
    const g = this.group(group);
    const n = parseCard(accountId);
    if (n === null) return;
    const cards = await this.readCard(n);
    if (cards.size === 0) return;
    const keep = new Set<string>();
    for (const other of this.heldGroups(cards)) {
      if (other === group) continue;
      for (const d of this.groups.get(other)!.doors) keep.add(`${d.controller}:${d.door}`);
    }
    const h = this.registry.get(n);
    if (h && h.windows[group]) {
      const { [group]: _gone, ...windows } = h.windows;
      this.registry.set(n, { ...h, windows });
    }
    await this.writeCards(n, cards, (card, c) => {
      const doors = { ...card.doors };
      for (const d of g.doors) if (d.controller === c && !keep.has(`${c}:${d.door}`)) doors[String(d.door) as DoorKey] = false;
      return { ...card, doors };
    });
    await this.registry.save();
  }

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    // The card is the account: suspending it is suspending the account; uhppoted has no lost or revoked.
    if (credentialId !== accountId) throw new LockstepError('not_found', `card ${credentialId} is not account ${accountId}`, { retryable: false });
    if (state === 'active' || state === 'suspended') return this.setAccountState(accountId, state);
    throw new LockstepError('precondition', `uhppoted has no card state '${state}': suspend or delete the card instead`, { retryable: false });
  }

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    const at = parseEventCursor(cursor);
    const events: AccessEvent[] = [];
    for (const c of this.controllers) {
      const idx = indicesSchema.parse(await this.http.get(`device/${c}/events`)).events;
      const last = idx.last ?? 0;
      const seen = at.get(c);
      if (cursor === null || seen === undefined) {
        at.set(c, last);
        continue;
      }
      if (last < seen) {
        this.warn(
          { system: this.name, controller: c, cursor: seen, last },
          'controller event index went back (events cleared or controller replaced): reading from its last event',
        );
        at.set(c, last);
        continue;
      }
      const from = Math.max(seen + 1, idx.first ?? seen + 1);
      const to = Math.min(last, from + this.opts.eventsBatch - 1);
      const indices = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
      const got = await mapLimit(indices, this.opts.concurrency, async (i) => {
        const r = await notFoundAsNull(this.http.get(`device/${c}/event/${i}`));
        return r === null ? null : eventSchema.parse(r).event;
      });
      for (const e of got) {
        // Type 1 is a card swipe; door and alarm events (2, 3) name no card.
        if (!e || e['event-type'] !== 1 || e['user-id'] === 0) continue;
        const card = String(e['user-id']);
        events.push({
          id: `${c}:${e['event-id']}`,
          at: eventTime(e.timestamp),
          accountId: card,
          credentialId: card,
          door: `${c}:${e['door-id']}`,
          granted: e['access-granted'],
        });
      }
      if (indices.length > 0) at.set(c, to);
    }
    return { events, cursor: [...at].map(([c, i]) => `${c}=${i}`).join(',') };
  }

  // --- internals ---

  private group(ref: string): Group {
    const g = this.groups.get(ref);
    if (!g)
      throw new LockstepError('validation', `uhppoted system ${this.name} has no access group ${ref} in its options.groups`, {
        field: 'group',
        retryable: false,
      });
    return g;
  }

  private mustParse(accountId: string): number {
    const n = parseCard(accountId);
    if (n === null) throw new LockstepError('not_found', `not a uhppoted card number: ${accountId}`, { retryable: false });
    return n;
  }

  private async mustGet(n: number): Promise<Account> {
    const cards = await this.readCard(n);
    if (cards.size === 0) throw new LockstepError('internal', `card ${n} is on no controller right after writing it`);
    return this.toAccount(n, cards);
  }

  /** The card number for an externalId; null (lookups) or an error (creation) when it has none. */
  private cardFor(externalId: string, creating: boolean): number | null {
    const known = this.registry.cardOf(externalId);
    if (known !== undefined) return known;
    const pinned = this.opts.cards[externalId];
    if (pinned !== undefined) return pinned;
    if (this.opts.cardNumbers === 'externalId') {
      const n = parseCard(externalId);
      if (n === null && creating) {
        throw new LockstepError('validation', `externalId ${externalId} is not a card number (1..${UINT32_MAX}) and options.cards names none for it`, {
          field: 'externalId',
          retryable: false,
        });
      }
      return n;
    }
    const { min, max } = this.opts.deriveRange;
    const span = max - min + 1;
    const h = createHash('sha256').update(externalId, 'utf8').digest().readUInt32BE(0);
    // Linear probing past numbers the registry knows to be someone else's.
    for (let i = 0; i < Math.min(span, 1000); i++) {
      const n = min + ((h + i) % span);
      const holder = this.registry.get(n);
      if (!holder?.externalId || holder.externalId === externalId) return n;
    }
    throw new LockstepError('conflict', `no free derived card number for ${externalId}`, { retryable: false });
  }

  private externalIdOf(n: number): string | null {
    const h = this.registry.get(n);
    if (h?.externalId) return h.externalId;
    const pinned = this.pinned.get(n);
    if (pinned !== undefined) return pinned;
    return this.opts.cardNumbers === 'externalId' ? String(n) : null;
  }

  /** The card on each controller that has it (only `on`, when given). */
  private async readCard(n: number, on: number[] = this.controllers): Promise<Map<number, UCard>> {
    const got = await mapLimit(on, this.opts.concurrency, async (c) => {
      const r = await notFoundAsNull(this.http.get(`device/${c}/card/${n}`));
      if (r === null) return null;
      const card = cardSchema.parse(r).card;
      const doors = { '1': false, '2': false, '3': false, '4': false } as UCard['doors'];
      for (const k of DOOR_KEYS) if (card.doors[k] !== undefined) doors[k] = card.doors[k]!;
      return [c, { 'start-date': card['start-date'], 'end-date': card['end-date'], doors, PIN: card.PIN ?? 0 }] as const;
    });
    return new Map(got.filter((x): x is readonly [number, UCard] => x !== null));
  }

  private heldGroups(cards: Map<number, UCard>): string[] {
    return [...this.groups.values()].filter((g) => g.doors.every((d) => granted(cards.get(d.controller)?.doors[String(d.door) as DoorKey]))).map((g) => g.ref);
  }

  /** The widest validity of the card's active copies (all copies when every one is suspended). */
  private accountValidity(cards: Map<number, UCard>): Validity {
    const all = [...cards.values()];
    const active = all.filter((c) => !suspended(c));
    const use = active.length > 0 ? active : all;
    const start = use.map((c) => c['start-date']).sort()[0];
    const end = use
      .map((c) => c['end-date'])
      .sort()
      .at(-1)!;
    return fromCardDates(start, end);
  }

  /** The card's window as it stands: its active copies' dates, or its dates before suspension. */
  private currentValidity(cards: Map<number, UCard>, h: Holder | undefined): Validity {
    const anyActive = [...cards.values()].some((c) => !suspended(c));
    return !anyActive && h?.saved ? fromCardDates(h.saved.start, h.saved.end) : this.accountValidity(cards);
  }

  /** The window the card should have: the hull of the holder's windows of the given groups and its account window. */
  private windowFor(h: Holder, held: string[], fallback: Validity | null): Validity {
    const ws = [...held.map((g) => h.windows[g] ?? fallback), h.windows['*'] ?? null].filter((w): w is Validity => w !== null);
    return hull(ws) ?? { from: null, until: null };
  }

  /** Card dates for the holder's windows of the given groups (and its account window). */
  private datesFor(h: Holder, held: string[], fallback: Validity | null): { start: string; end: string } {
    return toCardDates(this.windowFor(h, held, fallback));
  }

  /**
   * Puts the card, changed by `change`, on every controller, with dates from the holder's
   * windows; a suspended card stays suspended (its new dates saved for reactivation).
   */
  private async writeCards(n: number, cards: Map<number, UCard>, change: (card: UCard, controller: number) => UCard): Promise<void> {
    const blank: UCard = { 'start-date': OPEN_START, 'end-date': OPEN_END, doors: { '1': false, '2': false, '3': false, '4': false }, PIN: 0 };
    const next = new Map<number, UCard>();
    for (const c of this.controllers) next.set(c, change(cards.get(c) ?? blank, c));
    const h = this.registry.get(n) ?? { externalId: this.externalIdOf(n), windows: {} };
    const current = cards.size > 0 ? this.currentValidity(cards, h) : null;
    const dates = this.datesFor(h, this.heldGroups(next), current);
    const isSuspended = cards.size > 0 && [...cards.values()].every(suspended);
    if (isSuspended) this.registry.set(n, { ...h, saved: dates });
    await mapLimit([...next], this.opts.concurrency, async ([c, card]) => {
      const want: UCard = { ...card, 'start-date': dates.start, 'end-date': isSuspended ? SUSPENDED_END : dates.end };
      const had = cards.get(c);
      if (!had || !sameCard(had, want)) await this.putCard(c, n, want);
    });
  }

  private async putCard(c: number, n: number, card: UCard): Promise<void> {
    await this.http.put(`device/${c}/card/${n}`, {
      'start-date': card['start-date'],
      'end-date': card['end-date'],
      doors: card.doors,
      PIN: card.PIN,
    });
  }

  private toAccount(n: number, cards: Map<number, UCard>): Account {
    const h = this.registry.get(n);
    const state: AccountState = [...cards.values()].some((c) => !suspended(c)) ? 'active' : 'suspended';
    const held = this.heldGroups(cards);
    let validity = this.currentValidity(cards, h);
    if (h && Object.keys(h.windows).length > 0) {
      // Cards hold whole days; while they hold what the registry's windows give, report those
      // windows to the instant, so that lockstep's comparison with what it wants settles.
      const exact = this.windowFor(h, held, validity);
      const want = toCardDates(exact);
      const actual =
        state === 'active'
          ? [...cards.values()].filter((c) => !suspended(c)).map((c) => ({ start: c['start-date'], end: c['end-date'] }))
          : h.saved
            ? [h.saved]
            : [];
      if (actual.length > 0 && actual.every((d) => d.start === want.start && d.end === want.end)) validity = exact;
    }
    const memberships: Membership[] = held.map((group) => ({ group, ...validity }));
    return {
      id: String(n),
      externalId: this.externalIdOf(n),
      displayName: h?.displayName ?? `Card ${n}`,
      state,
      memberships,
      credentials: [{ id: String(n), type: 'card', number: String(n), status: state, lastUsedAt: null }],
      validity,
    };
  }
}

function parseCard(s: string): number | null {
  if (!/^[1-9]\d{0,9}$/.test(s)) return null;
  const n = Number(s);
  return n <= UINT32_MAX ? n : null;
}

function parseEventCursor(cursor: string | null): Map<number, number> {
  const out = new Map<number, number>();
  if (cursor === null || cursor === '') return out;
  for (const part of cursor.split(',')) {
    const m = /^(\d+)=(\d+)$/.exec(part);
    if (!m) throw new LockstepError('validation', `invalid uhppoted event cursor ${cursor}`, { retryable: false });
    out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

/** Validates options, loads the holder registry and builds the driver. */
export async function createUhppotedDriver(ctx: DriverContext): Promise<UhppotedDriver> {
  const opts = parseDriverOptions(uhppotedOptionsSchema, ctx);
  const read = (file: string, name: string): Promise<string> => readOptionFile(ctx, file, name);
  const password = opts.passwordFile ? (await read(opts.passwordFile, 'passwordFile')).trim() : opts.password;
  const tls = await loadTls(ctx, opts);
  const registry = new HolderRegistry(opts.registryFile);
  await registry.load();
  const logger = ctx.logger;
  return new UhppotedDriver(
    opts,
    registry,
    ctx.system,
    opts.username !== undefined ? { username: opts.username, password: password ?? '' } : undefined,
    tls,
    retryLog(ctx, 'uhppoted-rest request retried'),
    (o, msg) => logger?.warn(o, msg),
  );
}

export const factory: DriverFactory = {
  type: 'uhppoted',
  create: createUhppotedDriver,
};

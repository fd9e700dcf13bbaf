import { z } from 'zod';
import type { AccessEvent, Account, AccountInput, AccountState, Credential, CredentialStatus, Membership, Validity } from '../../src/domain/access.js';
import { LockstepError } from '../../src/domain/errors.js';
import type { AccessGroupRef, Cursor, DriverCapabilities, DriverContext, DriverFactory, LockDriver, Page } from '../../src/drivers/contract.js';
import { HttpClient, type HttpResponse, type QueryValue, type RetryInfo, type TlsOptions } from '../../src/drivers/http.js';
import { caFileOption, clientCertificateOption, httpUrlOption, maxAttemptsOption, pageSizeOption, timeoutMsOption } from '../../src/drivers/options.js';
import { retryLog } from '../../src/drivers/retry-log.js';
import { loadTls } from '../../src/drivers/tls.js';
import {
  DEFAULT_CARD_STATES,
  accessOutcome,
  credentialStatus,
  credentialType,
  displayNameOf,
  namesFor,
  sameInstant,
  toCcTime,
  type CardStateNames,
} from './mapping.js';
import {
  accessGroupSearchSchema,
  cardTypeSearchSchema,
  cardholderSchema,
  cardholderSearchSchema,
  discoverySchema,
  eventSearchSchema,
  itemSearchSchema,
  pdfSearchSchema,
  type CcCard,
  type CcCardholder,
  type CcEvent,
  type CcMembership,
  type Discovery,
} from './schemas.js';
import { parseDriverOptions, readOptionFile, responseParser } from '../../src/drivers/util.js';

/**
 * The LockDriver for Gallagher Command Centre's REST API (cc_rest.yaml).
 *
 * - HATEOAS: the only URL it knows is `GET /api`; every other request follows an href from
 *   there or from a response. Ids it hands out (accounts, credentials, cursors) are those
 *   hrefs with the origin removed, so a changed host name does not orphan stored links.
 * - Linking: CC has no external-id field on cardholders. The link is a personal data field
 *   (PDF) named by `externalIdField` (e.g. "lockstep id"), searched with `pdf_<id>="value"`.
 * - Memberships: CC allows several memberships per group, each with from/until, and changes
 *   a membership's href whenever it is updated. grant() collapses them to one, always from a
 *   fresh read; access group references are CC access group ids.
 */

const stateNamesSchema = z.strictObject({
  active: z.string().min(1).optional(),
  suspended: z.string().min(1).optional(),
  lost: z.string().min(1).optional(),
  revoked: z.string().min(1).optional(),
});

const hrefOrPath = z
  .string()
  .min(1)
  .refine((s) => /^https?:\/\//i.test(s) || s.startsWith('/'), 'must be an href (https://host:8904/api/...) or a path (/api/...)');

export const gallagherOptionsSchema = z
  .strictObject({
    /** Command Centre's REST address, e.g. https://cc.example.com:8904 (or the API gateway's). */
    url: httpUrlOption(),
    /** The REST Client item's API key; prefer apiKeyFile or ${ENV} in lockstep.yaml. */
    apiKey: z.string().min(1).optional(),
    apiKeyFile: z.string().min(1).optional(),
    /** Name of the text PDF that holds the identity's externalId on each cardholder. */
    externalIdField: z.string().min(1).default('lockstep id'),
    /**
     * CC access group id of a door-less group that carries the link PDF. CC only keeps a PDF on
     * cardholders who are in one of its groups, so new cardholders are put in it; it is never
     * revoked and never reported as a membership.
     */
    linkAccessGroup: z.string().min(1).optional(),
    /** Text PDF to write AccountInput.email into (optional). */
    emailField: z.string().min(1).optional(),
    /** Href (or path) of the division new cardholders are created in. */
    division: hrefOrPath,
    /** Card type (id, name or href) to issue one card of when lockstep creates a cardholder. */
    cardType: z.string().min(1).optional(),
    /** Card state names of the site's card state set, where they differ from the factory set. */
    cardStates: stateNamesSchema.optional(),
    /** Files for CC's client-certificate ("pinned thumbprint") option. */
    clientCertificate: clientCertificateOption(),
    /** Trust this CA bundle (file) for the server certificate without a client certificate. */
    caFile: caFileOption(),
    timeoutMs: timeoutMsOption(15_000),
    maxAttempts: maxAttemptsOption(),
    /** Cardholders per listAccounts page. */
    pageSize: pageSizeOption(10_000, 500),
    /** Events per readAccessEvents call (CC allows up to 10000). */
    eventsTop: z.number().int().min(1).max(10_000).default(1000),
    /**
     * Which events are access events: `hasLocation` (CC 9.00+, uses the event's location
     * block) or a list of event type ids for older servers.
     */
    eventTypes: z.union([z.literal('hasLocation'), z.array(z.string().min(1)).min(1)]).default('hasLocation'),
  })
  .refine((o) => !!o.apiKey !== !!o.apiKeyFile, { message: 'give exactly one of apiKey and apiKeyFile', path: ['apiKey'] });

export type GallagherOptions = z.input<typeof gallagherOptionsSchema>;
type Options = z.output<typeof gallagherOptionsSchema>;

interface GroupInfo {
  id: string;
  path: string;
  name: string;
}

interface Pdf {
  id: string;
  name: string;
}

const GROUP_CACHE_MS = 60_000;

export class GallagherDriver implements LockDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities = {
    validity: 'membership',
    suspendAccount: true,
    credentialStates: true,
    accessEvents: 'cursor',
    deleteAccount: true,
    // cc_rest.yaml (CardholderPOST, and the 9.50 changes): "Cardholder first and last names remain
    // capped at 50 characters each". An account is written with its whole displayName as the last
    // name (mapping.ts namesFor: lockstep sends no first and last names), so 50 is its limit.
    // externalId and email go into text PDFs, whose length the reference does not state: not declared.
    limits: { displayName: 50 },
  };

  private readonly http: HttpClient;
  private readonly origin: string;
  private readonly apiUrl: string;
  private readonly states: CardStateNames;
  private discovery?: Promise<Discovery>;
  private pdf?: Promise<Pdf>;
  private cardTypeHref?: Promise<string | undefined>;
  private groups?: { byId: Map<string, GroupInfo>; byPath: Map<string, GroupInfo>; at: number };
  private groupsLoading?: Promise<void>;

  constructor(
    private readonly opts: Options,
    apiKey: string,
    tls: TlsOptions | undefined,
    name = 'gallagher',
    onRetry?: (info: RetryInfo) => void,
  ) {
    this.name = name;
    const url = new URL(opts.url);
    this.origin = url.origin;
    const path = url.pathname.replace(/\/+$/, '');
    // Accept the server root or the API root (the cloud gateway's documented form ends in /api).
    this.apiUrl = `${this.origin}${path.endsWith('/api') ? path : `${path}/api`}`;
    this.states = { ...DEFAULT_CARD_STATES, ...(opts.cardStates ?? {}) };
    this.http = new HttpClient({
      baseUrl: `${this.origin}/`,
      headers: { authorization: `GGL-API-KEY ${apiKey}` },
      timeoutMs: opts.timeoutMs,
      maxAttempts: opts.maxAttempts,
      tls,
      onRetry,
    });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---------------------------------------------------------------- access groups

  async listAccessGroups(): Promise<AccessGroupRef[]> {
    await this.loadGroups(true);
    const link = this.opts.linkAccessGroup;
    return [...this.groups!.byId.values()].filter((g) => g.id !== link).map((g) => ({ ref: g.id, name: g.name }));
  }

  private async loadGroups(force = false): Promise<void> {
    if (!force && this.groups && Date.now() - this.groups.at < GROUP_CACHE_MS) return;
    this.groupsLoading ??= (async () => {
      const byId = new Map<string, GroupInfo>();
      const byPath = new Map<string, GroupInfo>();
      let url: string | undefined = withQuery(await this.feature('accessGroups', 'accessGroups'), {
        fields: 'href,id,name',
        sort: 'id',
        top: 1000,
      });
      while (url) {
        const page = accessGroupSearchSchema.parse(await this.get(url));
        for (const g of page.results) {
          const path = this.toId(g.href);
          // ids are deprecated in the API but are what operators see and what mappings name.
          const id = g.id ?? lastSegment(path);
          const info = { id, path, name: g.name };
          byId.set(id, info);
          byPath.set(path, info);
        }
        url = page.next?.href;
      }
      this.groups = { byId, byPath, at: Date.now() };
    })().finally(() => {
      this.groupsLoading = undefined;
    });
    await this.groupsLoading;
  }

  /** The href (as a path) of the access group a mapping names by its CC id. */
  private async groupPath(ref: string, internal = false): Promise<string> {
    if (ref === this.opts.linkAccessGroup && !internal) {
      // Its memberships are hidden from accounts, so reconcile could never see a grant land.
      throw new LockstepError('config', `access group ${ref} is the linkAccessGroup and cannot be used in mappings`, {
        field: 'group',
        retryable: false,
      });
    }
    if (/^https?:\/\//i.test(ref) || ref.startsWith('/')) return this.toId(ref);
    await this.loadGroups();
    let g = this.groups!.byId.get(ref);
    if (!g) {
      await this.loadGroups(true);
      g = this.groups!.byId.get(ref);
    }
    if (!g) {
      throw new LockstepError('not_found', `Command Centre has no access group with id ${ref} that the REST operator can see`, {
        field: 'group',
        retryable: false,
      });
    }
    return g.path;
  }

  private groupRefOf(m: CcMembership): string | null {
    const href = m.accessGroup?.href;
    if (!href) return null;
    const path = this.toId(href);
    return this.groups?.byPath.get(path)?.id ?? path;
  }

  // ---------------------------------------------------------------- accounts

  async listAccounts(cursor: Cursor = null): Promise<Page<Account>> {
    const fields = await this.cardholderFields();
    const url = cursor ? this.abs(cursor) : withQuery(await this.feature('cardholders', 'cardholders'), { sort: 'id', top: this.opts.pageSize, fields });
    const page = parse(cardholderSearchSchema, await this.get(url), 'cardholder search');
    await this.loadGroups();
    const pdf = await this.linkPdf();
    return { items: page.results.map((ch) => this.toAccount(ch, pdf)), next: page.next ? this.toId(page.next.href) : null };
  }

  async findAccount(externalId: string): Promise<Account | null> {
    const ch = await this.findCardholder(externalId);
    if (!ch) return null;
    await this.loadGroups();
    return this.toAccount(ch, await this.linkPdf());
  }

  async getAccount(accountId: string): Promise<Account | null> {
    const ch = await this.readCardholder(accountId, await this.cardholderFields());
    if (!ch) return null;
    await this.loadGroups();
    return this.toAccount(ch, await this.linkPdf());
  }

  async upsertAccount(input: AccountInput): Promise<Account> {
    const pdf = await this.linkPdf();
    const existing = await this.findCardholder(input.externalId);
    const names = namesFor(input);
    if (existing) {
      const patch: Record<string, unknown> = {};
      if ((existing.firstName ?? '') !== names.firstName) patch.firstName = names.firstName;
      if ((existing.lastName ?? '') !== names.lastName) patch.lastName = names.lastName;
      if (this.opts.emailField && input.email !== undefined && existing[`@${this.opts.emailField}`] !== input.email) {
        patch[`@${this.opts.emailField}`] = input.email;
      }
      if (Object.keys(patch).length > 0) await this.patchCardholder(existing.href, patch);
      return this.mustAccount(existing.href);
    }
    const body: Record<string, unknown> = {
      division: { href: this.abs(this.opts.division) },
      ...(names.firstName ? { firstName: names.firstName } : {}),
      lastName: names.lastName,
      // CC creates cardholders de-authorised; one that is meant to open doors must say so.
      authorised: true,
      [`@${pdf.name}`]: input.externalId,
    };
    if (this.opts.emailField && input.email) body[`@${this.opts.emailField}`] = input.email;
    if (this.opts.linkAccessGroup) {
      body.accessGroups = [{ accessGroup: { href: this.abs(await this.groupPath(this.opts.linkAccessGroup, true)) } }];
    }
    const cardType = await this.newCardType();
    if (cardType) body.cards = [{ type: { href: cardType } }];
    let res: HttpResponse<unknown>;
    try {
      res = await this.http.request('POST', await this.feature('cardholders', 'cardholders'), { body });
    } catch (e) {
      // Another worker may have created it first (a unique link PDF refuses the second): re-read.
      if (e instanceof LockstepError && e.code === 'validation') {
        const again = await this.findCardholder(input.externalId);
        if (again) return this.mustAccount(again.href);
      }
      throw e;
    }
    const location = res.headers.get('location');
    if (location) return this.mustAccount(location);
    const created = await this.findCardholder(input.externalId);
    if (!created) throw new LockstepError('internal', `Command Centre accepted cardholder ${input.externalId} but it cannot be found`);
    return this.mustAccount(created.href);
  }

  async setAccountState(accountId: string, state: AccountState): Promise<void> {
    // `authorised` false makes CC deny every card access decision for the cardholder.
    await this.patchCardholder(this.mustPath(accountId), { authorised: state === 'active' });
  }

  async deleteAccount(accountId: string): Promise<void> {
    const path = this.pathOf(accountId);
    if (!path) return;
    try {
      await this.http.request('DELETE', this.abs(path));
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return;
      throw lockAware(e);
    }
  }

  // ---------------------------------------------------------------- memberships

  async grant(accountId: string, group: string, validity: Validity): Promise<void> {
    const groupPath = await this.groupPath(group);
    const from = toCcTime(validity.from, 'from');
    const until = toCcTime(validity.until, 'until');
    const matches = (m: CcMembership) => sameInstant(m.from, from) && sameInstant(m.until, until);
    await this.withFreshMemberships(accountId, groupPath, true, (mine) => {
      if (mine.length === 0) {
        return { add: [{ accessGroup: { href: this.abs(groupPath) }, ...(from ? { from } : {}), ...(until ? { until } : {}) }] };
      }
      const keep = mine.find(matches) ?? mine[0];
      const remove = mine.filter((m) => m !== keep).map((m) => ({ href: m.href }));
      // "" clears a bound in CC; omitting it would leave the old one in place.
      const update = matches(keep) ? [] : [{ href: keep.href, from: from ?? '', until: until ?? '' }];
      if (update.length === 0 && remove.length === 0) return null;
      return { ...(update.length ? { update } : {}), ...(remove.length ? { remove } : {}) };
    });
  }

  async revoke(accountId: string, group: string): Promise<void> {
    const groupPath = await this.groupPath(group);
    await this.withFreshMemberships(accountId, groupPath, false, (mine) => (mine.length === 0 ? null : { remove: mine.map((m) => ({ href: m.href })) }));
  }

  /**
   * Reads the account's memberships of one group, lets `plan` decide the PATCH, sends it. A
   * membership's href changes whenever anyone updates it, so hrefs come from this read only,
   * and a PATCH refused for a stale href is planned once more from a new read.
   */
  private async withFreshMemberships(
    accountId: string,
    groupPath: string,
    mustExist: boolean,
    plan: (mine: CcMembership[]) => Record<string, unknown> | null,
  ): Promise<void> {
    const path = this.pathOf(accountId);
    for (let attempt = 1; ; attempt++) {
      const ch = path ? await this.readCardholder(path, 'href,accessGroups') : null;
      if (!ch) {
        if (!mustExist) return;
        throw new LockstepError('not_found', `Command Centre has no cardholder ${accountId}`, { retryable: false });
      }
      const mine = (ch.accessGroups ?? []).filter((m) => m.accessGroup?.href !== undefined && this.toId(m.accessGroup.href) === groupPath);
      const accessGroups = plan(mine);
      if (!accessGroups) return;
      try {
        await this.patchCardholder(ch.href, { accessGroups });
        return;
      } catch (e) {
        const stale = e instanceof LockstepError && (e.code === 'validation' || e.code === 'not_found');
        if (!stale || attempt >= 2 || !('update' in accessGroups || 'remove' in accessGroups)) throw e;
      }
    }
  }

  // ---------------------------------------------------------------- credentials

  async setCredentialState(accountId: string, credentialId: string, state: CredentialStatus): Promise<void> {
    const ch = await this.readCardholder(this.mustPath(accountId), 'href,cards');
    const target = this.toId(credentialId);
    const card = ch?.cards?.find((c) => this.toId(c.href) === target);
    if (!ch || !card) {
      throw new LockstepError('not_found', `Command Centre has no card ${credentialId} on cardholder ${accountId}`, { retryable: false });
    }
    if (credentialStatus(card, this.states) === state) return;
    const update: Record<string, unknown> = { href: card.href, status: { value: this.states[state] } };
    const now = Date.now();
    if (state === 'revoked') {
      // CC has no "revoked" state: the card is disabled and its validity ends now, so CC shows
      // it as expired, and it stays on record for audit rather than being deleted.
      update.until = new Date(now).toISOString();
      if (card.from && Date.parse(card.from) > now) update.from = '';
    } else if (card.status?.type === 'expired') {
      update.until = '';
    }
    await this.patchCardholder(ch.href, { cards: { update: [update] } });
  }

  // ---------------------------------------------------------------- events

  async readAccessEvents(cursor: string | null): Promise<{ events: AccessEvent[]; cursor: string | null }> {
    const usingLocation = this.opts.eventTypes === 'hasLocation';
    if (cursor === null) {
      // "From now on": the newest matching event and a `next` link positioned after it.
      const url = withQuery(await this.feature('events', 'events'), {
        previous: 'true',
        top: 1,
        type: usingLocation ? 'hasLocation' : (this.opts.eventTypes as string[]).join(','),
        fields: `id,time,type,source,door,cardholder,card${usingLocation ? ',location' : ''}`,
      });
      const page = parse(eventSearchSchema, await this.get(url), 'event search');
      const next = page.next?.href ?? page.updates?.href;
      if (!next) throw new LockstepError('internal', 'Command Centre returned no next link for events', { retryable: false });
      return { events: [], cursor: this.toId(next) };
    }
    const url = new URL(this.abs(cursor));
    // The first cursor came from a `previous=true` query; lockstep only ever reads forward.
    url.searchParams.delete('previous');
    url.searchParams.set('top', String(this.opts.eventsTop));
    // An updates link blocks while nothing is new; a poller wants a short wait, not a minute.
    if (await this.isUpdatesLink(url)) url.searchParams.set('deadline', '1');
    const page = parse(eventSearchSchema, await this.get(url.href), 'event search');
    const next = page.next?.href ?? page.updates?.href;
    const events: AccessEvent[] = [];
    const cards = new Map<string, Promise<CcCard[]>>();
    for (const e of page.events) {
      const outcome = accessOutcome(e);
      if (outcome === null) continue;
      events.push({
        id: e.id,
        at: e.time,
        accountId: e.cardholder?.href ? this.toId(e.cardholder.href) : null,
        credentialId: await this.credentialOf(e, cards),
        door: e.door?.name ?? e.source?.name ?? null,
        granted: outcome === 'granted',
      });
    }
    return { events, cursor: next ? this.toId(next) : cursor };
  }

  /** Events name a card by number; the credential id is the card's href on its cardholder. */
  private async credentialOf(e: CcEvent, cache: Map<string, Promise<CcCard[]>>): Promise<string | null> {
    const href = e.cardholder?.href;
    const number = e.card?.number;
    if (!href || number === undefined) return null;
    const path = this.toId(href);
    let cards = cache.get(path);
    if (!cards) {
      cards = this.readCardholder(path, 'href,cards').then((ch) => ch?.cards ?? []);
      cache.set(path, cards);
    }
    const list = await cards;
    const hit =
      list.find((c) => c.number === number && (e.card?.issueLevel === undefined || c.issueLevel === e.card.issueLevel)) ??
      list.find((c) => c.number === number);
    return hit ? this.toId(hit.href) : null;
  }

  private async isUpdatesLink(url: URL): Promise<boolean> {
    const d = await this.discover();
    const updates = featureHref(d, 'events', 'updates');
    return updates !== undefined && new URL(this.abs(updates)).pathname === url.pathname;
  }

  // ---------------------------------------------------------------- mapping

  private toAccount(ch: CcCardholder, pdf: Pdf): Account {
    const link = this.opts.linkAccessGroup;
    const memberships: Membership[] = [];
    for (const m of ch.accessGroups ?? []) {
      const group = this.groupRefOf(m);
      if (group === null || group === link) continue;
      memberships.push({ group, from: m.from ?? null, until: m.until ?? null });
    }
    const credentials: Credential[] = (ch.cards ?? []).map((c) => ({
      id: this.toId(c.href),
      type: credentialType(c),
      ...(c.number !== undefined ? { number: c.number } : {}),
      status: credentialStatus(c, this.states),
      lastUsedAt: c.lastUsedTime ?? null,
    }));
    const externalId = ch[`@${pdf.name}`];
    return {
      id: this.toId(ch.href),
      externalId: typeof externalId === 'string' && externalId !== '' ? externalId : null,
      displayName: displayNameOf(ch),
      state: ch.authorised ? 'active' : 'suspended',
      memberships,
      credentials,
    };
  }

  // ---------------------------------------------------------------- CC plumbing

  private async findCardholder(externalId: string): Promise<CcCardholder | null> {
    const pdf = await this.linkPdf();
    const url = withQuery(await this.feature('cardholders', 'cardholders'), {
      // Quoted: an exact match, about 100x faster than CC's default substring search.
      [`pdf_${pdf.id}`]: `"${externalId}"`,
      fields: await this.cardholderFields(),
      top: 100,
    });
    const page = parse(cardholderSearchSchema, await this.get(url), 'cardholder search');
    // CC matches case-insensitively; lockstep's keys are case-sensitive.
    const hits = page.results.filter((ch) => ch[`@${pdf.name}`] === externalId);
    if (hits.length > 1) {
      throw new LockstepError(
        'conflict',
        `${hits.length} Command Centre cardholders carry ${pdf.name} "${externalId}"; make the PDF unique and remove the duplicates`,
        { retryable: false, details: { cardholders: hits.map((h) => this.toId(h.href)) } },
      );
    }
    return hits[0] ?? null;
  }

  private async readCardholder(accountId: string, fields: string): Promise<CcCardholder | null> {
    const path = this.pathOf(accountId);
    if (!path) return null;
    try {
      return parse(cardholderSchema, await this.get(withQuery(this.abs(path), { fields })), 'cardholder');
    } catch (e) {
      if (e instanceof LockstepError && e.code === 'not_found') return null;
      throw e;
    }
  }

  private async mustAccount(href: string): Promise<Account> {
    const a = await this.getAccount(this.toId(href));
    if (!a) throw new LockstepError('internal', `cardholder ${this.toId(href)} vanished right after it was written`);
    return a;
  }

  private async patchCardholder(href: string, body: Record<string, unknown>): Promise<void> {
    try {
      await this.http.request('PATCH', this.abs(href), { body });
    } catch (e) {
      throw lockAware(e);
    }
  }

  private async cardholderFields(): Promise<string> {
    const pdf = await this.linkPdf();
    const email = this.opts.emailField ? await this.pdfNamed(this.opts.emailField) : undefined;
    return ['href', 'id', 'firstName', 'lastName', 'authorised', 'cards', 'accessGroups', `pdf_${pdf.id}`, ...(email ? [`pdf_${email.id}`] : [])].join(',');
  }

  private linkPdf(): Promise<Pdf> {
    this.pdf ??= this.pdfNamed(this.opts.externalIdField).catch((e: unknown) => {
      this.pdf = undefined;
      throw e;
    });
    return this.pdf;
  }

  /** A PDF definition by exact name, via the PDF controller (8.10+) or the items controller. */
  private async pdfNamed(name: string): Promise<Pdf> {
    const d = await this.discover();
    const pdfs = featureHref(d, 'personalDataFields', 'personalDataFields');
    let found: Pdf[];
    if (pdfs) {
      const page = parse(pdfSearchSchema, await this.get(withQuery(this.abs(pdfs), { name: `"${name}"`, fields: 'id,name,href' })), 'PDF search');
      found = page.results;
    } else {
      const items = featureHref(d, 'items', 'items');
      if (!items) throw missingFeature('personalDataFields.personalDataFields');
      const page = parse(itemSearchSchema, await this.get(withQuery(this.abs(items), { name: `"${name}"`, type: '33' })), 'item search');
      found = page.results.filter((i) => i.type?.id === undefined || i.type.id === '33');
    }
    const exact = found.filter((p) => p.name.toLowerCase() === name.toLowerCase());
    if (exact.length === 0) {
      throw new LockstepError('config', `Command Centre has no personal data field named "${name}" visible to the REST operator`, {
        field: 'externalIdField',
        retryable: false,
      });
    }
    if (exact.length > 1) {
      throw new LockstepError(
        'config',
        `Command Centre has ${exact.length} personal data fields named "${name}" (ids ${exact.map((p) => p.id).join(', ')}); rename all but one`,
        {
          field: 'externalIdField',
          retryable: false,
        },
      );
    }
    return { id: exact[0].id, name: exact[0].name };
  }

  private newCardType(): Promise<string | undefined> {
    const want = this.opts.cardType;
    if (!want) return Promise.resolve(undefined);
    this.cardTypeHref ??= (async () => {
      const d = await this.discover();
      const list = featureHref(d, 'cardTypes', 'assign') ?? featureHref(d, 'cardTypes', 'cardTypes');
      if (!list) throw missingFeature('cardTypes.assign');
      const page = parse(cardTypeSearchSchema, await this.get(withQuery(this.abs(list), { fields: 'href,id,name', top: 1000 })), 'card types');
      const hit = page.results.find((t) => t.id === want || t.name.toLowerCase() === want.toLowerCase() || this.toId(t.href) === this.toId(want));
      if (!hit) {
        throw new LockstepError('config', `Command Centre has no card type "${want}" that the REST operator may assign`, {
          field: 'cardType',
          retryable: false,
        });
      }
      return this.abs(hit.href);
    })().catch((e: unknown) => {
      this.cardTypeHref = undefined;
      throw e;
    });
    return this.cardTypeHref;
  }

  private discover(): Promise<Discovery> {
    this.discovery ??= this.get(this.apiUrl)
      .then((body) => parse(discoverySchema, body, 'GET /api'))
      .catch((e: unknown) => {
        this.discovery = undefined;
        throw e;
      });
    return this.discovery;
  }

  private async feature(area: string, name: string): Promise<string> {
    const href = featureHref(await this.discover(), area, name);
    if (!href) throw missingFeature(`${area}.${name}`);
    return this.abs(href);
  }

  private get(url: string): Promise<unknown> {
    return this.http.get<unknown>(url);
  }

  /** An href or id as a path on the configured origin (ids are stored without the host). */
  private toId(href: string): string {
    if (!/^https?:\/\//i.test(href)) return href;
    const u = new URL(href);
    return `${u.pathname}${u.search}`;
  }

  /** Absolute URL on the configured origin: hrefs are followed there even if CC named another host. */
  private abs(idOrHref: string): string {
    return `${this.origin}${this.toId(idOrHref)}`;
  }

  /** Account ids are paths; anything else cannot be one of ours. */
  private pathOf(accountId: string): string | null {
    const p = this.toId(accountId);
    return p.startsWith('/') ? p : null;
  }

  private mustPath(accountId: string): string {
    const p = this.pathOf(accountId);
    if (!p) throw new LockstepError('not_found', `${accountId} is not a Command Centre cardholder href`, { retryable: false });
    return p;
  }
}

// ---------------------------------------------------------------- helpers

function featureHref(d: Discovery, area: string, name: string): string | undefined {
  const v = d.features[area]?.[name];
  return v && typeof v === 'object' && typeof (v as { href?: unknown }).href === 'string' ? (v as { href: string }).href : undefined;
}

function missingFeature(what: string): LockstepError {
  return new LockstepError(
    'config',
    `Command Centre does not offer features.${what} in GET /api: check its REST licences (RESTCardholders, RESTEvents) and the REST operator's privileges`,
    { retryable: false, field: what },
  );
}

/** Appends query parameters to an href that may have its own (CC's links often do). */
function withQuery(href: string, query: Record<string, QueryValue>): string {
  const u = new URL(href);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
  return u.href;
}

function lastSegment(path: string): string {
  return path.split('?')[0].split('/').filter(Boolean).pop() ?? path;
}

const parse = responseParser('Command Centre');

/**
 * A 409 on a cardholder means an operator holds it open for editing (or lacks a privilege).
 * The first is transient, so the error is marked retryable for the queue to try later.
 */
function lockAware(e: unknown): unknown {
  if (e instanceof LockstepError && e.status === 409) {
    return new LockstepError('conflict', `${e.message}: the cardholder is probably open for editing in Command Centre`, {
      retryable: true,
      status: 409,
      details: e.details,
      cause: e,
    });
  }
  return e;
}

/** Validates options and builds the driver; files (API key, certificates) are read here. */
export async function createGallagherDriver(ctx: DriverContext): Promise<GallagherDriver> {
  const opts = parseDriverOptions(gallagherOptionsSchema, ctx);
  const read = (file: string, field: string): Promise<string> => readOptionFile(ctx, file, field);
  const apiKey = opts.apiKey ?? (await read(opts.apiKeyFile!, 'apiKeyFile')).trim();
  const tls = await loadTls(ctx, opts);
  return new GallagherDriver(opts, apiKey, tls, ctx.system, retryLog(ctx, 'Command Centre request retried'));
}

export const factory: DriverFactory = {
  type: 'gallagher',
  create: createGallagherDriver,
};

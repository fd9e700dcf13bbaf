import { randomBytes } from 'node:crypto';

/**
 * In-memory state of the fake Command Centre: the items the lockstep driver touches
 * (divisions, access groups, personal data fields, card types, cardholders with their
 * memberships and cards, access events). No HTTP here; server.ts renders this state in the
 * shapes of cc_rest.yaml. Ids are short numeric strings like CC's item ids; membership and
 * card hrefs end in opaque hex keys, and a membership's key changes whenever it is updated,
 * as the vendor documents ("updating a cardholder's group membership will change its href").
 */

export interface FakeDivision {
  id: string;
  name: string;
}

export interface FakeAccessGroup {
  id: string;
  name: string;
  description?: string;
  divisionId: string;
  parentId?: string;
}

export type PdfType = 'string' | 'image' | 'strEnum' | 'numeric' | 'date' | 'address' | 'phone' | 'email' | 'mobile';

export interface FakePdf {
  id: string;
  name: string;
  type: PdfType;
  unique?: boolean;
  /**
   * Access groups that give this PDF to their members. CC only lets a cardholder hold a PDF
   * value through membership of one of its groups; an empty list here is a simplification
   * of the fake meaning "every cardholder has it".
   */
  accessGroupIds?: string[];
}

export interface FakeCardType {
  id: string;
  name: string;
  credentialClass: 'card' | 'mobile' | 'digitalId' | 'piv' | 'pivi' | 'govPass' | 'trackingTag' | 'transact';
  facilityCode?: string;
  /** The card state set; CC's factory set unless a test says otherwise. */
  states: string[];
  minimumNumber: number;
  maximumNumber: number;
  /** Operators can view it but not assign it (absent from /api/card_types/assign). */
  notAssignable?: boolean;
}

export interface FakeMembership {
  key: string;
  groupId: string;
  from?: string;
  until?: string;
}

export interface FakeCard {
  key: string;
  typeId: string;
  number: string;
  issueLevel: number;
  /** The state from the card state set, as stored ("Active", "Lost"...). */
  state: string;
  from?: string;
  until?: string;
  lastUsedTime?: string;
}

export interface FakeCardholder {
  id: string;
  firstName?: string;
  lastName?: string;
  shortName?: string;
  description?: string;
  divisionId: string;
  authorised: boolean;
  /** PDF id → value. Stored even while the cardholder lacks the PDF's group; shown only with it. */
  pdfValues: Map<string, string>;
  memberships: FakeMembership[];
  cards: FakeCard[];
  lastSuccessfulAccessTime?: string;
  /** Set by the write-lock lever: another operator has unsaved changes on this cardholder. */
  lockedBy?: string;
}

export interface FakeDoor {
  id: string;
  name: string;
}

export type LocationType = 'moved' | 'observed' | 'denied';

export interface FakeEvent {
  /** Arrival position; the `pos` in next/previous/updates links. */
  pos: number;
  id: string;
  time: string;
  message: string;
  typeId: string;
  typeName: string;
  groupId: string;
  groupName: string;
  source: { id: string; name: string; kind: 'door' | 'server' };
  cardholder?: { id: string; name: string };
  card?: { number: string; issueLevel: number; facilityCode?: string };
  door?: FakeDoor;
  location?: LocationType;
}

/** Event types the fake emits. Granted card access is CC's "Card Event" (type 20001, group 23). */
export const EVENT_TYPES = {
  granted: { typeId: '20001', typeName: 'Card Event', groupId: '23', groupName: 'Card Event' },
  denied: { typeId: '20013', typeName: 'Card Access Denied', groupId: '24', groupName: 'Card Access Denied' },
  operator: { typeId: '15010', typeName: 'Cardholder Modified', groupId: '33', groupName: 'Operator Event' },
} as const;

export class FakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface SeedData {
  divisions?: FakeDivision[];
  accessGroups?: FakeAccessGroup[];
  pdfs?: FakePdf[];
  cardTypes?: FakeCardType[];
  doors?: FakeDoor[];
}

const FACTORY_CARD_STATES = ['Active', 'Disabled (manually)', 'Lost', 'Stolen', 'Damaged'];

/** What a fresh fake holds: one division, a few access groups, the link PDF, two card types. */
function defaultSeed(): Required<SeedData> {
  return {
    divisions: [
      { id: '2', name: 'Root division' },
      { id: '101', name: 'Staff' },
    ],
    accessGroups: [
      { id: '352', name: 'DC1 whitespace', divisionId: '2' },
      { id: '353', name: 'DC1 office', divisionId: '2' },
      { id: '354', name: 'DC2 cage A', divisionId: '2' },
      { id: '360', name: 'Lockstep managed', description: 'No doors; carries the lockstep id PDF', divisionId: '2' },
    ],
    pdfs: [
      { id: '5516', name: 'email', type: 'email' },
      { id: '8801', name: 'lockstep id', type: 'string', unique: true, accessGroupIds: ['360'] },
    ],
    cardTypes: [
      {
        id: '600',
        name: 'Staff card',
        credentialClass: 'card',
        facilityCode: 'A1234',
        states: [...FACTORY_CARD_STATES],
        minimumNumber: 1,
        maximumNumber: 16777215,
      },
      {
        id: '654',
        name: 'Mobile credential',
        credentialClass: 'mobile',
        states: [...FACTORY_CARD_STATES],
        minimumNumber: 1,
        maximumNumber: 16777215,
      },
    ],
    doors: [
      { id: '745', name: 'DC1 main door' },
      { id: '746', name: 'DC1 cage door' },
    ],
  };
}

export function opaqueKey(): string {
  return randomBytes(8).toString('hex');
}

/** CC timestamps: ISO 8601 UTC; fractions only when there are some (CC keeps up to seven decimals). */
export function ccTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** Parses a date-time as CC does: a timezone designator is expected; "" clears; junk is a 400. */
export function parseCcTime(value: unknown, field: string): string | undefined {
  if (value === '' || value === null || value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{4}-\d{2}(-\d{2})?/.test(value)) {
    throw new FakeError(400, `Invalid date for ${field}: ${JSON.stringify(value)}`);
  }
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(ms)) throw new FakeError(400, `Invalid date for ${field}: ${JSON.stringify(value)}`);
  return ccTime(ms);
}

export class FakeModel {
  readonly divisions = new Map<string, FakeDivision>();
  readonly accessGroups = new Map<string, FakeAccessGroup>();
  readonly pdfs = new Map<string, FakePdf>();
  readonly cardTypes = new Map<string, FakeCardType>();
  readonly doors = new Map<string, FakeDoor>();
  readonly cardholders = new Map<string, FakeCardholder>();
  readonly events: FakeEvent[] = [];
  private nextItemId = 1000;
  private nextEventId = 61320;
  private eventListeners = new Set<() => void>();

  constructor(seed: SeedData = defaultSeed()) {
    const d = defaultSeed();
    for (const x of seed.divisions ?? d.divisions) this.divisions.set(x.id, x);
    for (const x of seed.accessGroups ?? d.accessGroups) this.accessGroups.set(x.id, x);
    for (const x of seed.pdfs ?? d.pdfs) this.pdfs.set(x.id, x);
    for (const x of seed.cardTypes ?? d.cardTypes) this.cardTypes.set(x.id, x);
    for (const x of seed.doors ?? d.doors) this.doors.set(x.id, x);
  }

  newItemId(): string {
    return String(this.nextItemId++);
  }

  pdfByName(name: string): FakePdf | undefined {
    const lower = name.toLowerCase();
    for (const p of this.pdfs.values()) if (p.name.toLowerCase() === lower) return p;
    return undefined;
  }

  /** Whether the cardholder currently holds the PDF (through one of its access groups). */
  holdsPdf(ch: FakeCardholder, pdf: FakePdf): boolean {
    if (!pdf.accessGroupIds || pdf.accessGroupIds.length === 0) return true;
    return ch.memberships.some((m) => pdf.accessGroupIds!.includes(m.groupId));
  }

  visiblePdfValues(ch: FakeCardholder): Array<{ pdf: FakePdf; value: string }> {
    const out: Array<{ pdf: FakePdf; value: string }> = [];
    for (const [pdfId, value] of ch.pdfValues) {
      const pdf = this.pdfs.get(pdfId);
      if (pdf && this.holdsPdf(ch, pdf)) out.push({ pdf, value });
    }
    return out;
  }

  setPdfValue(ch: FakeCardholder, pdf: FakePdf, value: unknown): void {
    if (value === null) {
      ch.pdfValues.delete(pdf.id);
      return;
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new FakeError(400, `Invalid value for personal data field '${pdf.name}'`);
    }
    const v = String(value);
    if (pdf.unique) {
      for (const other of this.cardholders.values()) {
        if (other.id !== ch.id && other.pdfValues.get(pdf.id)?.toLowerCase() === v.toLowerCase()) {
          throw new FakeError(400, `The value for personal data field '${pdf.name}' must be unique`);
        }
      }
    }
    ch.pdfValues.set(pdf.id, v);
  }

  addMembership(ch: FakeCardholder, groupId: string, from?: string, until?: string): FakeMembership {
    if (!this.accessGroups.has(groupId)) throw new FakeError(400, `Invalid access group`);
    if (from && until && Date.parse(from) > Date.parse(until)) {
      throw new FakeError(400, `The membership's 'from' time must not be after its 'until' time`);
    }
    const m: FakeMembership = { key: opaqueKey(), groupId, from, until };
    ch.memberships.push(m);
    return m;
  }

  /** Issues a card; the number is the next free one for the type unless given. */
  addCard(ch: FakeCardholder, input: { typeId: string; number?: string; state?: string; from?: string; until?: string; issueLevel?: number }): FakeCard {
    const type = this.cardTypes.get(input.typeId);
    if (!type) throw new FakeError(400, `Invalid card type`);
    const number = input.number ?? this.nextCardNumber(type);
    if (type.credentialClass === 'card' && this.cardNumberTaken(type.id, number)) {
      throw new FakeError(400, `Card number ${number} is already in use for card type '${type.name}'`);
    }
    const state = input.state === undefined ? type.states[0] : this.canonicalState(type, input.state);
    const card: FakeCard = {
      key: opaqueKey(),
      typeId: type.id,
      number,
      issueLevel: type.credentialClass === 'card' ? (input.issueLevel ?? 1) : 0,
      state,
      from: input.from,
      until: input.until,
    };
    ch.cards.push(card);
    return card;
  }

  canonicalState(type: FakeCardType, value: unknown): string {
    const found = typeof value === 'string' ? type.states.find((s) => s.toLowerCase() === value.toLowerCase()) : undefined;
    if (!found) throw new FakeError(400, `'${String(value)}' is not a valid card state for card type '${type.name}'`);
    return found;
  }

  private cardNumberTaken(typeId: string, number: string): boolean {
    for (const ch of this.cardholders.values()) {
      if (ch.cards.some((c) => c.typeId === typeId && c.number === number)) return true;
    }
    return false;
  }

  private nextCardNumber(type: FakeCardType): string {
    for (let n = type.minimumNumber; n <= type.maximumNumber; n++) {
      if (!this.cardNumberTaken(type.id, String(n))) return String(n);
    }
    throw new FakeError(400, `No card numbers left for card type '${type.name}'`);
  }

  /** CC's derived card status: the state set value, overridden by the activation window. */
  cardStatus(card: FakeCard, now = Date.now()): { value: string; type: 'pending' | 'active' | 'expired' | 'inactive' } {
    if (card.until && Date.parse(card.until) < now) return { value: 'Expired', type: 'expired' };
    if (card.from && Date.parse(card.from) > now) return { value: 'Not Yet Activated', type: 'pending' };
    const type = this.cardTypes.get(card.typeId);
    const isActive = type ? card.state === type.states[0] : card.state.toLowerCase() === 'active';
    return { value: card.state, type: isActive ? 'active' : 'inactive' };
  }

  membershipStatus(m: FakeMembership, now = Date.now()): { value: string; type: 'pending' | 'active' | 'expired' } {
    if (m.until && Date.parse(m.until) < now) return { value: 'Expired', type: 'expired' };
    if (m.from && Date.parse(m.from) > now) return { value: 'Pending', type: 'pending' };
    return { value: 'Active', type: 'active' };
  }

  displayName(ch: FakeCardholder): string {
    if (ch.lastName && ch.firstName) return `${ch.lastName}, ${ch.firstName}`;
    return ch.lastName ?? ch.firstName ?? '';
  }

  recordEvent(e: Omit<FakeEvent, 'pos' | 'id'>): FakeEvent {
    const event: FakeEvent = { ...e, pos: this.events.length + 1, id: String(this.nextEventId++) };
    this.events.push(event);
    for (const l of [...this.eventListeners]) l();
    return event;
  }

  /** Long polls wait on this; returns an unsubscribe function. */
  onEvent(listener: () => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  get headPos(): number {
    return this.events.length;
  }
}

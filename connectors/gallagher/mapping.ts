import type { AccountInput, CredentialStatus, CredentialType } from '../../src/domain/access.js';
import { endOfDayIfDate, startOfDayIfDate } from '../../src/domain/identity.js';
import type { CcCard, CcEvent } from './schemas.js';

/**
 * Pure translations between Command Centre's vocabulary and lockstep's: card states,
 * credential classes, validity instants, names, access events. No I/O.
 */

/** Card state names (from the card type's state set) that lockstep's credential states map onto. */
export interface CardStateNames {
  active: string;
  suspended: string;
  lost: string;
  /** Written together with `until` = now, so CC reports the card as expired. */
  revoked: string;
}

/** CC's factory card state set: Active, Disabled (manually), Lost, Stolen, Damaged. */
export const DEFAULT_CARD_STATES: CardStateNames = {
  active: 'Active',
  suspended: 'Disabled (manually)',
  lost: 'Lost',
  revoked: 'Disabled (manually)',
};

/**
 * lockstep's view of a card. CC's `status.type` (pending/active/expired/inactive) is the
 * reliable part; `status.value` is the site's state name, needed only to tell a lost card
 * from a disabled one. An expired card (its `until` passed) cannot open doors again without
 * an operator, which is what lockstep calls revoked.
 */
export function credentialStatus(card: Pick<CcCard, 'status'>, names: CardStateNames): CredentialStatus {
  const type = card.status?.type?.toLowerCase();
  const value = card.status?.value?.toLowerCase() ?? '';
  if (type === 'expired') return 'revoked';
  if (type === 'active' || type === 'pending') return 'active';
  if (type === undefined && value === names.active.toLowerCase()) return 'active';
  if (value === names.lost.toLowerCase() || value === 'stolen') return 'lost';
  if (value === 'damaged' || (names.revoked !== names.suspended && value === names.revoked.toLowerCase())) return 'revoked';
  return 'suspended';
}

export function credentialType(card: Pick<CcCard, 'credentialClass'>): CredentialType {
  return card.credentialClass === 'mobile' || card.credentialClass === 'digitalId' ? 'mobile' : 'card';
}

/**
 * Whether two instants are the same to the second. Some CC fields drop fractions of a
 * second, so comparing milliseconds would rewrite an unchanged membership on every run.
 */
export function sameInstant(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = a ? Date.parse(a) : NaN;
  const y = b ? Date.parse(b) : NaN;
  if (Number.isNaN(x) || Number.isNaN(y)) return !a && !b;
  return Math.floor(x / 1000) === Math.floor(y / 1000);
}

/**
 * A validity bound as CC wants it: a date-time with a timezone designator (CC guesses when
 * there is none). A bare date means the start of that day for `from`, its end for `until`.
 */
export function toCcTime(value: string | null, edge: 'from' | 'until'): string | undefined {
  if (value === null) return undefined;
  return edge === 'from' ? startOfDayIfDate(value) : endOfDayIfDate(value);
}

/** CC keeps a first and a last name (either may be blank); lockstep shows them joined. */
export function displayNameOf(ch: { firstName?: string; lastName?: string }): string {
  return [ch.firstName, ch.lastName].filter((s) => s !== undefined && s !== '').join(' ');
}

/**
 * Names to write for an account. With first and last name given they are used; otherwise the
 * whole display name goes into the last name, so it reads back unchanged.
 */
export function namesFor(input: Pick<AccountInput, 'displayName' | 'firstName' | 'lastName'>): { firstName: string; lastName: string } {
  if (input.firstName || input.lastName) {
    const firstName = input.firstName ?? '';
    const lastName = input.lastName ?? '';
    if (displayNameOf({ firstName, lastName }) === input.displayName || !input.displayName) return { firstName, lastName };
  }
  return { firstName: '', lastName: input.displayName };
}

/**
 * Event types that record a cardholder moving through a door, for servers older than 9.00
 * that have no `location` block (cc_rest.yaml, "Searching for events that indicate location
 * or movement").
 */
const MOVEMENT_EVENT_TYPES: ReadonlySet<string> = new Set(['20001', '20002', '20003', '20047', '20107', '15582', '15583', '15800', '15808', '42415']);

/**
 * Granted, denied, or not an access event at all. 9.00+ says so in `location.type`; for
 * older servers the event type must be one of the movement types (those are all grants).
 */
export function accessOutcome(e: Pick<CcEvent, 'location' | 'type'>): 'granted' | 'denied' | null {
  const kind = e.location?.type;
  if (kind === 'moved') return 'granted';
  if (kind === 'denied') return 'denied';
  if (kind !== undefined) return null;
  return e.type?.id !== undefined && MOVEMENT_EVENT_TYPES.has(e.type.id) ? 'granted' : null;
}

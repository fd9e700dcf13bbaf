/**
 * A sponsor is the person responsible for a non-employee (contractor, visitor, customer staff).
 * The identity's `sponsor` attribute names them by lockstep id, userName, externalId or email,
 * compared case-insensitively after trimming; the store resolves it (store/identities.ts
 * sponsorStates) and policy evaluation checks the sponsor's own state: sponsored access lasts
 * only while the sponsor is an active identity that has not left.
 *
 * When the attribute matches several identities, the one chosen is: a live (not deleted) one
 * first; then by what matched, in the order id, userName, externalId, email; then the most
 * recently updated.
 */

/** The identity a `sponsor` attribute names, as the store found it. */
export type SponsorState =
  | { found: false }
  | {
      found: true;
      id: string;
      userName: string;
      active: boolean;
      deletedAt: string | null;
      leaveDate: string | null;
    };

/** The sponsor attribute as resolution reads it (trimmed), or null when it names no one. */
export function sponsorRef(identity: { sponsor?: string | null }): string | null {
  const s = identity.sponsor;
  if (typeof s !== 'string') return null;
  const t = s.trim();
  return t === '' ? null : t;
}

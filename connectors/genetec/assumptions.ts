/**
 * What the lockstep Genetec driver (and its fake) assume where the vendor's Web SDK Postman
 * collection shows no response, no rule or no example. Everything else the driver and the fake
 * do follows the collection's requests and example responses; this is the one place that says
 * what was decided instead, so a site with a real Security Center can check each point here
 * (README.md, "Assumptions", lists the same).
 */

/** SYSTEM_CONFIGURATION: the entity the collection reads custom fields and credential formats from. */
export const SYSTEM_CONFIGURATION = '00000000-0000-0000-0000-000000000007';

/**
 * A-1 Paging. The collection pages configuration reports with `Page` (from 1) and `PageSize`, and
 * shows `Rsp.Status: "TooManyResults"` on a page of a longer listing and `"Ok"` on a complete
 * one. Assumed: a page is followed by another while the status is TooManyResults, or while the
 * page came back full (the rule that still ends when a server never says TooManyResults).
 */
export function hasNextPage(status: string, got: number, pageSize: number): boolean {
  if (got === 0) return false;
  return status === 'TooManyResults' || got >= pageSize;
}

/**
 * A-2 Values in the `q=` syntax. The collection writes values bare (`Name={{name}}`) and shows
 * double-quoted strings only inside argument lists (the FascN formats). Assumed: a value with a
 * comma, a parenthesis, a double quote or outer spaces is sent in double quotes with inner
 * double quotes doubled; anything else bare. The fake reads values the same way.
 */
export function qValue(v: string): string {
  return /[,()"]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The inverse of qValue: the fake's reading of one value. */
export function qUnquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/""/g, '"');
  return v;
}

/**
 * A-3 Errors. The collection shows one failure: HTTP 200 with `Rsp.Status: "Fail"` and
 * `Result: { SdkErrorCode, Message }` (`UnableToRetrieveEntity` for an entity that does not
 * exist). Assumed for the other codes: a privilege or partition refusal is `auth`, an entity
 * that is not there `not_found`, anything else `validation` (the request will not succeed as it
 * is; it is not retried). HTTP statuses are read as everywhere in lockstep (401 auth, 5xx
 * unavailable, 429 rate_limited).
 */
export function sdkErrorKind(sdkErrorCode: string): 'not_found' | 'auth' | 'validation' {
  if (/^(UnableToRetrieveEntity|EntityNotFound|InvalidEntity|UnknownEntity)$/i.test(sdkErrorCode)) return 'not_found';
  if (/privilege|denied|unauthori[sz]ed|partition/i.test(sdkErrorCode)) return 'auth';
  return 'validation';
}

/**
 * A-4 Sessions. The collection authenticates every request with HTTP Basic
 * (`user;ApplicationId` and the password) and says a Web SDK session ends after 5 minutes
 * without requests. Assumed: a session the server ended or revoked (the role restarted, an
 * administrator logged the user off) is answered 401 once, and the same request sent again with
 * the credentials opens a new session; a second 401 means the credentials themselves are refused.
 */
export const REAUTHENTICATE_ONCE = true;

/**
 * A-5 Cardholder and credential status. The collection shows `Status: { ActivationDate,
 * ActivationType, ExpirationDate, ExpirationType, State }` and the calls `Status.Activate()`,
 * `Status.Activate(a)`, `Status.Activate(a, e)`, `Status.Deactivate()`, `Status.Deactivate(e)`,
 * `Status.Lost()`, `Status.Stolen()`. Assumed semantics (the fake implements them):
 * - `Activate()` makes the entity active now and removes its expiration (ExpirationType Never);
 * - `Activate(a)` activates at `a`, no expiration; `Activate(a, e)` activates at `a`, expires at `e`;
 * - `Deactivate()` makes it inactive now, keeping its dates; `Deactivate(e)` sets the expiration
 *   to `e` and leaves the state as it is until then (the collection's "deactivate at a date");
 * - State reads `Active`, `Inactive` (deactivated, or activation still to come), `Expired`,
 *   `Lost`, `Stolen` (credentials).
 */
export const CARDHOLDER_STATES = ['Active', 'Inactive', 'Expired'] as const;
export const CREDENTIAL_STATES = ['Active', 'Inactive', 'Expired', 'Lost', 'Stolen'] as const;

/** The collection's way of writing "no date": .NET's DateTime.MinValue, and 9999-12-31 for "no end". */
export function isNoDate(s: string | null | undefined): boolean {
  return !s || s.startsWith('0001-01-01') || s.startsWith('9999-12-31');
}

/**
 * A-6 Access events. The activity reports return rows without an id, and the collection does
 * not say whether a report without an entity filter covers every cardholder. Assumed: the
 * CardholderActivity report filtered by time range only covers every cardholder in the API
 * user's partitions; `Events*,Events@AccessGranted` restricts it to granted accesses (so the
 * numeric `EventType` of a row need not be decoded); `SortOrder=Ascending` orders rows oldest
 * first; `TooManyResults` means MaximumResultCount cut the window short and `Partial` that some
 * source did not answer (rows kept, the window re-read through the look-back). A row's id is
 * made from its timestamp, cardholder, credential, access point and event type.
 */
export const GRANTED_EVENT = 'AccessGranted';
export const SORT_ASCENDING = 'Ascending';

/**
 * A-7 Offline keys (CLIQ through the Security Center CLIQ plugin). The collection has no CLIQ
 * fields. Assumed: a key's revalidation is not visible through the Web SDK, so an active key of
 * an offline system opens what it last learned at most `revalidationDays` from now, or until
 * the credential's own expiration if that comes first. That bound is what lockstep reports as
 * keyExpiresAt, and so as a revocation's learnedBy: the latest the key can still open a cylinder.
 */
export function offlineKeyExpiry(now: number, revalidationDays: number, credentialExpiration: string | null): string {
  const bound = now + revalidationDays * 86_400_000;
  const own = credentialExpiration && !isNoDate(credentialExpiration) ? Date.parse(credentialExpiration) : Number.NaN;
  return new Date(Number.isFinite(own) && own < bound ? own : bound).toISOString();
}

/**
 * A-8 Last use. A cardholder's `LastAccessPoint` says when it last used any of its credentials.
 * Assumed: it is the last use of the credential only when the cardholder has exactly one;
 * otherwise last use comes from the access events lockstep reads.
 */
export const LAST_ACCESS_POINT_FOR_SINGLE_CREDENTIAL = true;

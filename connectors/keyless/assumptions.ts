/**
 * Every shape of the Abloy Keyless Administration API 2.x that lockstep relies on, in one place,
 * marked by where it comes from. The driver and the fake both read these constants, so when the
 * vendor's reference turns out to say otherwise, this file (and the README's table) is what
 * changes.
 *
 * READ on the vendor's page (api-docs.keyless.assaabloy.com/administration/v2, "Overview",
 * "Authentication & Authorization", "API Keys", "Media Types", "Versioning", and the 0.9 page's
 * "Migration to version 2.0"):
 *   - the production and staging base URLs, both ending in /administration/;
 *   - every request names the vendor media type in Accept, and a successful response carries it
 *     as its Content-Type;
 *   - every request carries the application's API key in X-Api-Key: an invalid key is answered
 *     403, a key over its rate limit 429;
 *   - an administrator's API credentials are exchanged for a JWT at the login endpoint, sent as
 *     `Authorization: Bearer …`; every call targets the administrator's own system;
 *   - minor versions add response fields (so the driver's schemas are loose objects).
 *
 * ASSUMED (the stored reference shows no paths, bodies, paging or errors; these follow a
 * community mock of the API, which says it was modelled on 2.15, and lockstep's own choices
 * where even that says nothing). Each constant below says which.
 */

/** READ: the vendor's media type for API 2.x (only the major version is named). */
export const MEDIA_TYPE = 'application/vnd.assaabloy.keyless.administration-2+json';

/** READ: where the 2.x API lives. */
export const PRODUCTION_URL = 'https://eu-api.keyless.assaabloy.com/administration';
export const STAGING_URL = 'https://eu-staging-api.keyless.assaabloy.com/administration';

/**
 * ASSUMED (community mock): request bodies are sent as plain JSON. The vendor only documents
 * Accept; the fake takes either application/json or the vendor media type.
 */
export const REQUEST_CONTENT_TYPE = 'application/json';

/** ASSUMED (community mock): resource paths, relative to the base URL, singular nouns. */
export const PATHS = {
  login: 'login',
  users: 'user',
  user: (id: string): string => `user/${encodeURIComponent(id)}`,
  lockingDevices: 'locking-device',
  lockingDevice: (id: string): string => `locking-device/${encodeURIComponent(id)}`,
  permissions: 'permission',
  permission: (id: string): string => `permission/${encodeURIComponent(id)}`,
  /** ASSUMED (lockstep): the mock names operating devices as a resource but serves no path for them. */
  operatingDevices: 'operating-device',
} as const;

/** ASSUMED (community mock): the login body and answer: an administrator's id and access key → `{ token }`. */
export interface LoginBody {
  userId: string;
  accessKey: string;
}

/**
 * ASSUMED: lists answer `{ items, nextPageToken }` (community mock: the envelope; it never pages).
 * The query parameters that ask for a page are lockstep's guess: `pageSize` and `pageToken`.
 */
export const PAGING = {
  sizeParam: 'pageSize',
  tokenParam: 'pageToken',
  /** What the fake answers when no pageSize is given; and the most it allows (ASSUMED). */
  defaultSize: 50,
  maxSize: 1000,
} as const;

/** ASSUMED (community mock): `GET permission?user-id=…` lists one user's permissions; lockstep asks operating devices the same way. */
export const USER_FILTER_PARAM = 'user-id';

/**
 * ASSUMED (lockstep): the user resource. The community mock's user has only `id` and `role`
 * (ADMIN or USER), created with `{ role }`. An invitation needs someone to invite and lockstep
 * needs a correlation key, so lockstep sends and reads back these fields as well. If the real
 * API names them differently, change them here.
 */
export const USER_FIELDS = {
  /** The identity's externalId: how findAccount finds the user again. */
  externalId: 'externalId',
  name: 'name',
  email: 'email',
} as const;

/** The role of the users lockstep invites (community mock: ADMIN or USER). ADMIN users are never lockstep's accounts. */
export const USER_ROLE = 'USER';
export const ADMIN_ROLE = 'ADMIN';

/** ASSUMED (community mock): what a permission lets its holder do; lockstep only writes and reads OPEN. */
export const OPERATION_OPEN = 'OPEN';
/** ASSUMED (community mock): permission types; lockstep writes SINGLE_INTERVAL (one start/end window). */
export const PERMISSION_TYPES = ['SINGLE_INTERVAL', 'MULTIPLE_INTERVALS', 'RECURRING'] as const;
export const SINGLE_INTERVAL = 'SINGLE_INTERVAL';

/** READ (the issue) and the community mock: a permission's operating key validity when none is given. */
export const DEFAULT_OPERATING_KEY_VALIDITY = 'P8D';

/**
 * ASSUMED (community mock): a permission needs both `start` and `end`. An open side of a
 * lockstep window is written as these instants and read back as open (null).
 */
export const OPEN_FROM = '2000-01-01T00:00:00.000Z';
export const OPEN_UNTIL = '2099-12-31T23:59:59.000Z';

/**
 * ASSUMED (lockstep): operating devices (the phones that carry operating keys) are listed with
 * `{ id, userId, name?, activationStatus }`, status PENDING_ACTIVATION or ACTIVATED (the mock's
 * ActivationStatus enum). No way to block, suspend or delete one is shown, so lockstep only reads them.
 */
export const ACTIVATED = 'ACTIVATED';

/**
 * ASSUMED (lockstep): error bodies are JSON `{ status, error, message }`; the driver shows
 * `message` (the shared HTTP helper also reads `detail`, `title` and `error`).
 */
export interface ErrorBody {
  status: number;
  error: string;
  message: string;
}

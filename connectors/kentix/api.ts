import { z } from 'zod';

/**
 * The Kentix SmartAPI 8.x as lockstep understands it: the ONE place where what the vendor's
 * reference shows and what lockstep had to assume are written down. The driver reads the API
 * through these paths and schemas; the fake serves the same paths and shapes. When a real
 * system answers otherwise, this module is what changes (and connectors/kentix/README.md,
 * "What we read and what we assumed").
 *
 * Read in the reference (docs.kentix.com/smartapi/doc 8.4.4, /smartapi/accessmanager 8.2.6):
 * - bearer-token authentication with a user's personal `api_token` (shown in the user's
 *   profile, and as the `api_token` key of a user's detail);
 * - every request must send `Accept: application/json`, or the API redirects to its login page;
 * - sections Access-Events (a list, an export answered as text/csv, images per event as
 *   `[{ data (base64), name }]`), Access Settings (`external_evaluation` boolean, `pinlength`
 *   a string 4..10, `memorydepth` a string 0..720 days), users, access profiles, time profiles,
 *   doorlocks.
 * Read in public integrations that ran against real systems (not the vendor's reference):
 * - `/api/doorlocks`, `/api/doorlocks/names`, `/api/doorlocks/{id}`; collections in Laravel's
 *   paginator envelope `{ data, links, meta }`, 25 items a page by default; `per_page` as a query
 *   parameter; `/names` routes answer a plain list; `is_active` on a doorlock.
 * Read in the product manual (not the API reference): a user has "active", "active from",
 * "deactivate from", account type (administrator / standard / guest), user group, username
 * (unique), name, description, email, phone, RFID and PIN, and access profiles; an access
 * profile joins a time profile with doorlocks; time profiles work in 15-minute steps; inactive
 * users open no DoorLock.
 *
 * ASSUMED (the reference's response samples are collapsed or empty, so no field name below is
 * confirmed by the vendor):
 * - paths: `users`, `accessprofiles`, `timeprofiles`, `accessevents` (+ `/export`,
 *   `/{id}/images`), `accesssettings`, named the way the observed `alarmgroups`, `doorlocks` and
 *   `systemvalues` are (lower case, no separator);
 * - REST verbs as a Laravel API resource: GET list / GET one / POST (201) / PUT (200, partial
 *   bodies accepted) / DELETE (204); single resources wrapped in `{ data }`;
 * - the user fields in `KENTIX_USER_FIELDS` and the event fields in `accessEventSchema`;
 * - a user holds at most one RFID token (`rfid`, its UID) and one PIN (`pin`), with no state of
 *   their own: a token or PIN is taken away by clearing the field;
 * - errors as Laravel renders them: `{ message }`, validation 422 `{ message, errors: { field: [..] } }`,
 *   401 "Unauthenticated.", 403 "This action is unauthorized.", 429 with Retry-After;
 * - dates as ISO 8601 instants (Laravel's default serialisation, `2030-06-30T00:00:00.000000Z`);
 * - access events listed newest first, with increasing numeric ids.
 */

/** Paths relative to the API base (`https://host/api/`). */
export const KENTIX_PATHS = {
  users: 'users',
  user: (id: number | string) => `users/${id}`,
  accessProfiles: 'accessprofiles',
  accessProfile: (id: number | string) => `accessprofiles/${id}`,
  timeProfiles: 'timeprofiles',
  doorlocks: 'doorlocks',
  doorlockNames: 'doorlocks/names',
  accessEvents: 'accessevents',
  accessEventsExport: 'accessevents/export',
  accessEventImages: (id: number | string) => `accessevents/${id}/images`,
  accessSettings: 'accesssettings',
} as const;

/** The page size the API uses when none is asked for (observed on /api/doorlocks). */
export const KENTIX_DEFAULT_PAGE_SIZE = 25;

export const ACCOUNT_TYPES = ['admin', 'standard', 'guest'] as const;
export type KentixAccountType = (typeof ACCOUNT_TYPES)[number];

/** The user fields lockstep writes (assumed names; see above). */
export const KENTIX_USER_FIELDS = {
  username: 'username',
  name: 'name',
  email: 'email',
  isActive: 'is_active',
  activeFrom: 'active_from',
  deactivateFrom: 'deactivate_from',
  accountType: 'account_type',
  userGroup: 'usergroup_id',
  accessProfiles: 'accessprofiles',
  rfid: 'rfid',
  pin: 'pin',
} as const;

// ---------------------------------------------------------------- what the driver reads

const nullableString = z.string().nullable().optional();

export const userSchema = z.looseObject({
  id: z.number().int(),
  username: z.string(),
  name: z.string().nullable().optional(),
  email: nullableString,
  is_active: z.boolean(),
  active_from: nullableString,
  deactivate_from: nullableString,
  account_type: z.string().optional(),
  usergroup_id: z.number().int().nullable().optional(),
  accessprofiles: z.array(z.number().int()).default([]),
  rfid: nullableString,
  pin: nullableString,
  /** Only in a user's detail, and only a secret: never logged, never kept. */
  api_token: nullableString,
});
export type KentixUser = z.infer<typeof userSchema>;

export const accessProfileSchema = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  is_active: z.boolean().optional(),
  timeprofile_id: z.number().int().nullable().optional(),
  doorlocks: z.array(z.number().int()).optional(),
});

export const doorlockNameSchema = z.looseObject({ id: z.number().int(), name: z.string() });

export const ACCESS_MEDIA = ['rfid', 'pin', 'app', 'remote'] as const;

export const accessEventSchema = z.looseObject({
  id: z.number().int(),
  created_at: z.string(),
  user_id: z.number().int().nullable().optional(),
  doorlock_id: z.number().int().nullable().optional(),
  doorlock_name: nullableString,
  medium: z.string().nullable().optional(),
  /** The token's UID when the booking was made with an RFID token. */
  rfid: nullableString,
  granted: z.boolean(),
});
export type KentixAccessEvent = z.infer<typeof accessEventSchema>;

export const accessSettingsSchema = z.looseObject({
  external_evaluation: z.boolean().optional(),
  pinlength: z.union([z.string(), z.number()]).optional(),
  memorydepth: z.union([z.string(), z.number()]).optional(),
});

/** Laravel's length-aware paginator, as observed on the collection routes. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.looseObject({
    data: z.array(item),
    links: z.looseObject({ next: z.string().nullable().optional() }).optional(),
    meta: z
      .looseObject({
        current_page: z.number().int(),
        last_page: z.number().int().optional(),
        per_page: z.union([z.number(), z.string()]).optional(),
        total: z.number().int().optional(),
      })
      .optional(),
  });

/** A single resource: `{ data: {...} }` (assumed), or the object itself (tolerated). */
export const oneOf = <T extends z.ZodType>(item: T) => z.union([z.looseObject({ data: item }).transform((o) => o.data as z.infer<T>), item]);

// ---------------------------------------------------------------- credential ids

/**
 * lockstep's credential ids for a Kentix user's token and PIN. An RFID token is named by its UID
 * (unique in the system, stable while the token is the same one); a PIN by its holder, so the PIN
 * itself never appears in an id, a log line or the audit log.
 */
export const credentialIds = {
  rfid: (uid: string) => `rfid-${uid}`,
  pin: (userId: number) => `pin-${userId}`,
  parse(id: string): { kind: 'rfid'; uid: string } | { kind: 'pin'; userId: number } | null {
    const r = /^rfid-([0-9A-Fa-f]{4,32})$/.exec(id);
    if (r) return { kind: 'rfid', uid: r[1].toUpperCase() };
    const p = /^pin-(\d{1,15})$/.exec(id);
    if (p) return { kind: 'pin', userId: Number(p[1]) };
    return null;
  },
};

/** Laravel's serialisation of an instant: microseconds, Z. */
export function laravelInstant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

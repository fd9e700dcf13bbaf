import { identityInputSchema } from './identity.js';

/**
 * Which attribute names a mapping's `when` may use: the identity's own, and what each kind of
 * source provides beyond them. The mapping lint (src/policy/lint.ts) and the sources' own lists
 * (src/sources/attributes.ts) read them from here, below both.
 */

/** The identity's own attributes: what every source fills in (or leaves empty) for everyone. */
export const IDENTITY_ATTRIBUTES: readonly string[] = [
  ...Object.keys(identityInputSchema.shape).filter((k) => k !== 'attributes'),
  'id',
  'deletedAt',
  'createdAt',
  'updatedAt',
  'version',
];

/** What SCIM clients can send beyond the identity's own attributes (src/sources/scim/mapping.ts). */
export const SCIM_ATTRIBUTES: readonly string[] = [
  'scimId',
  'employeeNumber',
  'costCenter',
  'organization',
  'division',
  'givenName',
  'familyName',
  'userType',
  'nickName',
  'preferredLanguage',
  'locale',
  'timezone',
  'entitlements',
];

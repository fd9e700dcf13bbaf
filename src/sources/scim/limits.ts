/**
 * Length limits on what a SCIM write may store, checked on the resource as it would be stored
 * (after a PATCH is applied, inside the write's transaction), so a refused write changes nothing.
 *
 * Only the store's own: userName, externalId, the primary email, sponsor and a group's
 * displayName are indexed, and a PostgreSQL btree entry holds at most ~2700 bytes; 512 UTF-16
 * code units are at most 1536 bytes of UTF-8, far more than any real key.
 *
 * A lock system's limits are not checked here (issue 21): a value SCIM allows but a lock system
 * cannot hold must never refuse the identity change, least of all a deactivation that comes in
 * the same PATCH. It is fitted at the driver boundary for that system only (src/drivers/fit.ts:
 * a display name cut to the system's limit, an empty one replaced by the userName), and the
 * fitting is said in the plan, the audit log and explain.
 */
import { identityFromUser } from './mapping.js';
import { badRequest } from './errors.js';
import { isObject, type JsonObject } from './resource.js';
import { URN, type ResourceTypeDef } from './schemas.js';

/** The store's limit on indexed strings (see above). */
export const MAX_KEY_LENGTH = 512;

/** Checks a resource about to be stored; throws a ScimError (400 invalidValue) when it may not be. */
export type ResourceCheck = (rt: ResourceTypeDef, resource: JsonObject) => void;

const tooLong = (attr: string, len: number, max: number, where: string) =>
  badRequest('invalidValue', `${attr} is ${len} characters long; ${where} accepts at most ${max}`, attr);

export function resourceChecker(): ResourceCheck {
  return (rt, resource) => {
    if (rt.name === 'Group') {
      const d = resource.displayName;
      if (typeof d === 'string' && d.length > MAX_KEY_LENGTH) throw tooLong('displayName', d.length, MAX_KEY_LENGTH, 'lockstep');
      return;
    }
    if (rt.name !== 'User') return;
    const id = typeof resource.id === 'string' ? resource.id : '';
    const identity = identityFromUser(resource, { source: '', id });
    const ls = isObject(resource[URN.lockstep]) ? (resource[URN.lockstep] as JsonObject) : {};
    const keys: Array<[string, string | undefined]> = [
      ['userName', identity.userName],
      ['externalId', identity.externalId],
      ['emails', identity.email],
      [`${URN.lockstep}:sponsor`, typeof ls.sponsor === 'string' ? ls.sponsor : undefined],
    ];
    for (const [attr, v] of keys) if (v !== undefined && v.length > MAX_KEY_LENGTH) throw tooLong(attr, v.length, MAX_KEY_LENGTH, 'lockstep');
  };
}

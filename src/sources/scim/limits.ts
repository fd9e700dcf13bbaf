/**
 * Length limits on what a SCIM write may store, checked on the resource as it would be stored
 * (after a PATCH is applied, inside the write's transaction), so a refused write changes nothing.
 *
 * Two kinds:
 * - the store's own: userName, externalId, the primary email, sponsor and a group's displayName
 *   are indexed, and a PostgreSQL btree entry holds at most ~2700 bytes; 512 UTF-16 code units
 *   are at most 1536 bytes of UTF-8, far more than any real key.
 * - the lock systems': every configured driver's `capabilities.limits`. A person whose
 *   displayName, externalId or email one of them would refuse is refused here, with a 400
 *   `invalidValue` naming the attribute, the limit and the system.
 *
 * Why refuse at the edge rather than accept and report the person as failing later: the SCIM
 * client (Entra, Okta) is the one place where the wrong value can be fixed, and it shows a
 * refused write to its operator in its own provisioning log, retrying once it is fixed; a 201
 * tells it all is well, and the failure would only surface in lockstep's runs. It also keeps
 * principle 5: nothing half-applied (no identity that can never reach its doors). The check
 * covers every configured system, not only those the person is entitled to today, because a
 * group change (which does not touch the User) can entitle them tomorrow.
 */
import type { AccountLimits } from '../../drivers/contract.js';
import { identityFromUser } from './mapping.js';
import { badRequest } from './errors.js';
import { isObject, type JsonObject } from './resource.js';
import { URN, type ResourceTypeDef } from './schemas.js';

/** One configured lock system's limits. */
export interface SystemLimits {
  system: string;
  limits: AccountLimits;
}

/** The store's limit on indexed strings (see above). */
export const MAX_KEY_LENGTH = 512;

/** Checks a resource about to be stored; throws a ScimError (400 invalidValue) when it may not be. */
export type ResourceCheck = (rt: ResourceTypeDef, resource: JsonObject) => void;

const tooLong = (attr: string, len: number, max: number, where: string) =>
  badRequest('invalidValue', `${attr} is ${len} characters long; ${where} accepts at most ${max}`, attr);

/** Which SCIM attribute the identity's displayName came from (identityFromUser's order). */
function displayNameSource(r: JsonObject): string {
  if (typeof r.displayName === 'string') return 'displayName';
  const name = isObject(r.name) ? r.name : {};
  if (typeof name.formatted === 'string') return 'name.formatted';
  if (typeof name.givenName === 'string' || typeof name.familyName === 'string') return 'name';
  return 'userName';
}

export function resourceChecker(systems: readonly SystemLimits[]): ResourceCheck {
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
    // What the lock systems are sent (reconcile/plan.ts: displayName, else userName; externalId; email).
    const sent: Array<[keyof AccountLimits, string, string | undefined]> = [
      ['displayName', identity.displayName !== undefined ? displayNameSource(resource) : 'userName', identity.displayName ?? identity.userName],
      ['externalId', 'externalId', identity.externalId],
      ['email', 'emails', identity.email],
    ];
    for (const { system, limits } of systems) {
      for (const [field, attr, v] of sent) {
        const max = limits[field];
        if (max !== undefined && v !== undefined && v.length > max) throw tooLong(attr, v.length, max, `lock system ${system}${attr === field ? '' : ` (as the account's ${field})`}`);
      }
    }
    for (const [attr, v] of keys) if (v !== undefined && v.length > MAX_KEY_LENGTH) throw tooLong(attr, v.length, MAX_KEY_LENGTH, 'lockstep');
  };
}

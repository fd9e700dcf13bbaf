/**
 * A SCIM User → the identity policies see. Core, enterprise and lockstep-extension attributes
 * land on the Identity fields rules name (department, jobTitle, site, employeeType, dates,
 * roles, groups); the rest that rules may want (costCenter, employeeNumber...) goes into
 * `attributes`, under the SCIM attribute name.
 */
import type { IdentityInput, Role } from '../../domain/identity.js';
import { isObject, type Json, type JsonObject } from './resource.js';
import { URN } from './schemas.js';

const str = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function primaryEmail(emails: Json | undefined): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  const list = emails.filter(isObject).filter((e) => typeof e.value === 'string' && e.value !== '');
  const pick = list.find((e) => e.primary === true) ?? list.find((e) => typeof e.type === 'string' && e.type.toLowerCase() === 'work') ?? list[0];
  return str(pick?.value);
}

function roles(v: Json | undefined): Role[] {
  if (!Array.isArray(v)) return [];
  const out: Role[] = [];
  for (const r of v) {
    if (!isObject(r) || typeof r.value !== 'string' || r.value === '') continue;
    out.push({
      value: r.value,
      ...(typeof r.display === 'string' ? { display: r.display } : {}),
      ...(typeof r.type === 'string' ? { type: r.type } : {}),
      ...(typeof r.primary === 'boolean' ? { primary: r.primary } : {}),
    });
  }
  return out;
}

/** Display names of the user's groups (the `groups` attribute lockstep maintains), sorted, unique. */
export function groupNames(resource: JsonObject): string[] {
  const g = resource.groups;
  if (!Array.isArray(g)) return [];
  return [
    ...new Set(
      g
        .filter(isObject)
        .map((e) => str(e.display))
        .filter((d): d is string => !!d),
    ),
  ].sort();
}

export function identityFromUser(resource: JsonObject, opts: { source: string; id: string }): IdentityInput {
  const ent = isObject(resource[URN.enterprise]) ? (resource[URN.enterprise] as JsonObject) : {};
  const ls = isObject(resource[URN.lockstep]) ? (resource[URN.lockstep] as JsonObject) : {};
  const name = isObject(resource.name) ? resource.name : {};
  const manager = isObject(ent.manager) ? ent.manager : {};
  const given = str(name.givenName);
  const family = str(name.familyName);
  const displayName = str(resource.displayName) ?? str(name.formatted) ?? ([given, family].filter(Boolean).join(' ') || undefined);

  const attributes: Record<string, unknown> = { scimId: opts.id };
  const extra: Array<[string, Json | undefined]> = [
    ['employeeNumber', ent.employeeNumber],
    ['costCenter', ent.costCenter],
    ['organization', ent.organization],
    ['division', ent.division],
    ['givenName', given],
    ['familyName', family],
    ['userType', resource.userType],
    ['nickName', resource.nickName],
    ['preferredLanguage', resource.preferredLanguage],
    ['locale', resource.locale],
    ['timezone', resource.timezone],
  ];
  for (const [k, v] of extra) if (v !== undefined) attributes[k] = v;
  if (Array.isArray(resource.entitlements)) {
    attributes.entitlements = resource.entitlements
      .filter(isObject)
      .map((e) => e.value)
      .filter((v) => typeof v === 'string');
  }

  const input: IdentityInput = {
    source: opts.source,
    externalId: str(resource.externalId) ?? opts.id,
    userName: str(resource.userName) ?? '',
    active: resource.active !== false,
    groups: groupNames(resource),
    roles: roles(resource.roles),
    attributes,
  };
  const optional: Array<[keyof IdentityInput, string | undefined]> = [
    ['displayName', displayName],
    ['employeeType', str(ls.employeeType) ?? str(resource.userType)],
    ['department', str(ent.department)],
    ['jobTitle', str(resource.title)],
    ['site', str(ls.site)],
    ['manager', str(manager.value)],
    ['sponsor', str(ls.sponsor)],
    ['email', primaryEmail(resource.emails)],
    ['hireDate', str(ls.hireDate)],
    ['leaveDate', str(ls.leaveDate)],
    ['contractEnd', str(ls.contractEnd)],
  ];
  for (const [k, v] of optional) if (v !== undefined) (input as Record<string, unknown>)[k] = v;
  return input;
}

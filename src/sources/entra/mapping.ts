import { identityInputSchema, type IdentityInput, type Role } from '../../domain/identity.js';
import type { EntraSourceConfig } from './config.js';

/** A user as /users/delta (or GET /users/{id}) returns it: the selected properties, annotations, and anything else. */
export interface GraphUser {
  id: string;
  userPrincipalName?: string | null;
  accountEnabled?: boolean | null;
  '@removed'?: { reason?: string };
  'manager@delta'?: Array<{ '@odata.type'?: string; id: string; '@removed'?: { reason?: string } }>;
  [property: string]: unknown;
}

/** The attribute that carries the Entra object id on every identity this source writes. */
export const OBJECT_ID_ATTRIBUTE = 'entraObjectId';

/** graph property → identity field, the defaults every Entra source starts from. */
function defaultAttributeMap(): Record<string, string> {
  const m: Record<string, string> = {
    displayName: 'displayName',
    mail: 'email',
    employeeType: 'employeeType',
    department: 'department',
    jobTitle: 'jobTitle',
    officeLocation: 'site',
    employeeHireDate: 'hireDate',
    employeeLeaveDateTime: 'leaveDate',
    companyName: 'attributes.companyName',
    employeeId: 'attributes.employeeId',
  };
  for (let i = 1; i <= 15; i++) m[`onPremisesExtensionAttributes.extensionAttribute${i}`] = `attributes.extensionAttribute${i}`;
  return m;
}

export interface AttributeRule {
  /** Dotted Graph path, e.g. `onPremisesExtensionAttributes.extensionAttribute3`. */
  path: string[];
  /** Identity field, or `attributes.<name>`. */
  target: string;
}

export interface UserMapping {
  rules: AttributeRule[];
  /** The `$select` of /users/delta: exactly what the mapping reads (plus manager), so other changes do not wake us. */
  select: string[];
  externalIdFrom: EntraSourceConfig['externalIdFrom'];
}

export function compileUserMapping(cfg: Pick<EntraSourceConfig, 'attributes' | 'extensions' | 'externalIdFrom'>): UserMapping {
  const merged: Record<string, string | null> = { ...defaultAttributeMap() };
  for (const ext of cfg.extensions) merged[ext] = `attributes.${ext.replace(/^extension_[0-9a-f]{32}_/i, '')}`;
  Object.assign(merged, cfg.attributes);
  const rules: AttributeRule[] = [];
  for (const [prop, target] of Object.entries(merged)) {
    if (target) rules.push({ path: prop.split('.'), target });
  }
  const select = new Set(['id', 'userPrincipalName', 'accountEnabled', 'manager']);
  if (cfg.externalIdFrom !== 'id') select.add(cfg.externalIdFrom);
  for (const r of rules) select.add(r.path[0]);
  return { rules, select: [...select].sort(), externalIdFrom: cfg.externalIdFrom };
}

/** What a user does not carry itself: computed from groups, app-role assignments and the manager link. */
export interface UserContext {
  source: string;
  manager: string | undefined;
  groups: string[];
  roles: Role[];
}

const STRING_FIELDS = new Set(['displayName', 'email', 'employeeType', 'department', 'jobTitle', 'site', 'sponsor', 'hireDate', 'leaveDate', 'contractEnd']);

function readPath(obj: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** The correlation key: the configured property, the object id when that property is empty. */
function externalIdOf(user: GraphUser, m: Pick<UserMapping, 'externalIdFrom'>): string {
  return (m.externalIdFrom === 'id' ? undefined : asText(user[m.externalIdFrom])) ?? user.id;
}

export interface MappedUser {
  input: IdentityInput;
  /** Fields dropped because their value was not acceptable (e.g. a malformed date), with why. */
  dropped: Array<{ field: string; message: string }>;
}

/**
 * One Entra user → the identity the store keeps. A property Graph did not send was never set,
 * so it is simply absent. A value the identity schema refuses is dropped and reported rather
 * than failing the user: a bad hire date must not stop a disabled account from becoming a leaver.
 */
export function mapUser(user: GraphUser, m: UserMapping, ctx: UserContext): MappedUser {
  const input: Record<string, unknown> = {
    source: ctx.source,
    externalId: externalIdOf(user, m),
    userName: user.userPrincipalName,
    active: user.accountEnabled !== false,
    groups: ctx.groups,
    roles: ctx.roles,
  };
  if (ctx.manager) input.manager = ctx.manager;
  const attributes: Record<string, unknown> = {};
  for (const r of m.rules) {
    const v = readPath(user, r.path);
    if (v === undefined || v === null) continue;
    if (r.target.startsWith('attributes.')) {
      if (typeof v === 'string' && v.trim() === '') continue;
      attributes[r.target.slice('attributes.'.length)] = v;
    } else if (STRING_FIELDS.has(r.target)) {
      const s = asText(v);
      if (s !== undefined) input[r.target] = s;
    }
  }
  attributes[OBJECT_ID_ATTRIBUTE] = user.id;
  input.attributes = attributes;
  const dropped: MappedUser['dropped'] = [];
  for (let i = 0; i < 20; i++) {
    const parsed = identityInputSchema.safeParse(input);
    if (parsed.success) break;
    const issue = parsed.error.issues[0];
    const field = String(issue.path[0] ?? '');
    // The key and the user name always come from Graph; anything else can go.
    if (!field || field === 'source' || field === 'externalId' || field === 'userName') break;
    if (field === 'attributes' && issue.path.length > 1) delete attributes[String(issue.path[1])];
    else delete input[field];
    dropped.push({ field: issue.path.join('.'), message: issue.message });
  }
  return { input: input as IdentityInput, dropped };
}

/** The manager's object id from a delta item: undefined = not mentioned (unchanged), null = removed. */
export function managerIdOf(user: GraphUser): string | null | undefined {
  const d = user['manager@delta'];
  if (!Array.isArray(d)) {
    const expanded = user.manager as { id?: string } | null | undefined;
    if (expanded === undefined) return undefined;
    return expanded?.id ?? null;
  }
  const alive = d.filter((x) => x && !x['@removed'] && typeof x.id === 'string');
  return alive.length > 0 ? alive[alive.length - 1].id : null;
}

import type { Role } from '../../domain/identity.js';
import type { EntraGraph, GraphPage } from './graph.js';

/** Graph's appRoleAssignment, as GET /servicePrincipals/{id}/appRoleAssignedTo lists them. */
export interface GraphAppRoleAssignment {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: 'User' | 'Group' | 'ServicePrincipal' | string;
  principalDisplayName?: string | null;
  resourceId?: string;
  deletedDateTime?: string | null;
}

export interface GraphAppRole {
  id: string;
  value?: string | null;
  displayName?: string | null;
  isEnabled?: boolean;
  allowedMemberTypes?: string[];
}

/** The "default access" role every assignment without a specific role carries. */
const DEFAULT_ACCESS = '00000000-0000-0000-0000-000000000000';

const ROLE_TYPE = 'entra-app-role';

/** Follows nextLinks to the end of a plain (non-delta) collection. */
export async function collectAll<T>(graph: EntraGraph, path: string): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined = path;
  while (next) {
    const page: GraphPage<T> = await graph.get<GraphPage<T>>(next);
    out.push(...(page.value ?? []));
    next = page['@odata.nextLink'];
  }
  return out;
}

/** Stable order and no duplicates, so "roles changed" is a plain comparison. */
export function normalizeRoles(roles: Role[]): Role[] {
  const byKey = new Map<string, Role>();
  for (const r of roles) byKey.set(`${r.type ?? ''}\u0000${r.value}\u0000${r.display ?? ''}`, r);
  return [...byKey.values()].sort((a, b) => a.value.localeCompare(b.value) || (a.display ?? '').localeCompare(b.display ?? ''));
}

/**
 * user object id → the app roles of the configured applications assigned to that user,
 * directly or through a group (Entra does not pass app roles on through nested groups, so
 * only the group's direct members get them). Graph has no delta for assignments: this reads
 * them whole every round, which is a few pages per application.
 */
export async function loadAppRoleAssignments(
  graph: EntraGraph,
  servicePrincipalIds: string[],
  directMembersOf: (groupId: string) => Promise<string[]>,
): Promise<Map<string, Role[]>> {
  const out = new Map<string, Role[]>();
  const give = (user: string, role: Role) => {
    const list = out.get(user) ?? [];
    list.push(role);
    out.set(user, list);
  };
  for (const spId of servicePrincipalIds) {
    const sp = await graph.get<{ id: string; displayName?: string; appRoles?: GraphAppRole[] }>(
      `/servicePrincipals/${encodeURIComponent(spId)}?$select=id,appId,displayName,appRoles`,
    );
    const roles = new Map<string, GraphAppRole>();
    for (const r of sp.appRoles ?? []) if (r.isEnabled !== false) roles.set(r.id, r);
    const assignments = await collectAll<GraphAppRoleAssignment>(graph, `/servicePrincipals/${encodeURIComponent(spId)}/appRoleAssignedTo?$top=999`);
    for (const a of assignments) {
      if (a.appRoleId === DEFAULT_ACCESS || a.deletedDateTime) continue;
      const def = roles.get(a.appRoleId);
      // An assignment to a role since removed or disabled grants nothing.
      if (!def) continue;
      const role: Role = { value: def.value || def.displayName || def.id, type: ROLE_TYPE };
      if (def.displayName) role.display = def.displayName;
      if (a.principalType === 'User') give(a.principalId, role);
      else if (a.principalType === 'Group') for (const u of await directMembersOf(a.principalId)) give(u, role);
    }
  }
  for (const [u, list] of out) out.set(u, normalizeRoles(list));
  return out;
}

/**
 * Who may do what in the admin API. One table, read by the router (src/api/index.ts) to guard
 * each route and by the OpenAPI document (src/api/openapi.ts) to say so, so the two cannot
 * disagree. A route names the roles of which the caller needs at least one.
 */
import { z } from 'zod';

export const ROLES = ['viewer', 'operator', 'approver', 'auditor'] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

const READERS: Role[] = ['viewer', 'operator', 'approver', 'auditor'];

/**
 * `METHOD /path` (express syntax, under /api/v1) → the roles that may call it.
 * - viewer: reads people (explain), runs and reports.
 * - operator: what a viewer reads, and starts plans and applies, pulls sources, reports lost
 *   credentials, reads incidents.
 * - approver: what a viewer reads, and approves or rejects held runs (four-eyes: never one it
 *   started or caused), reads incidents.
 * - auditor: what a viewer reads, and the audit log, its verification and incidents.
 * Governance: operators and approvers record access exceptions; only approvers end one early.
 */
export const ROUTE_ROLES = {
  'GET /identities/:who/explain': READERS,
  'POST /runs': ['operator'],
  'GET /runs': READERS,
  'GET /runs/:id': READERS,
  'POST /runs/:id/approve': ['approver'],
  'POST /runs/:id/reject': ['approver'],
  'GET /reports/access': READERS,
  'GET /reports/violations': READERS,
  'POST /credentials/:system/:id/lost': ['operator'],
  'GET /incidents': ['operator', 'approver', 'auditor'],
  // the incident lifecycle (NIS2 Art. 23): whoever handles incidents acknowledges, records the reports and closes
  'GET /incidents/:id': ['operator', 'approver', 'auditor'],
  'POST /incidents/:id/ack': ['operator', 'approver'],
  'POST /incidents/:id/report': ['operator', 'approver'],
  'POST /incidents/:id/close': ['operator', 'approver'],
  'GET /audit': ['auditor'],
  'GET /audit/verify': ['auditor'],
  'POST /audit/verify': ['auditor'],
  'POST /sources/:name/sync': ['operator'],
  // governance (src/api/governance.ts): taking access away is an operator's or approver's
  // decision; ending an exception early gives access back, so it is an approver's
  // the access groups the mappings declare, with class limits and owner (what a request may ask for)
  'GET /access-groups': READERS,
  'POST /exceptions': ['operator', 'approver'],
  'GET /exceptions': READERS,
  'GET /exceptions/:id': READERS,
  'DELETE /exceptions/:id': ['approver'],
  // anyone signed in with a role may ask (for themselves or the people they manage; operators
  // for anyone); approvers decide, and then only as the group's owner or the person's sponsor
  'POST /requests': READERS,
  'GET /requests': READERS,
  'GET /requests/:id': READERS,
  'POST /requests/:id/approve': ['approver'],
  'POST /requests/:id/deny': ['approver'],
  // reviews: operators start a campaign by hand; approvers decide items (as the item's reviewer)
  'GET /reviews': READERS,
  'POST /reviews': ['operator'],
  'GET /reviews/:id': READERS,
  'POST /reviews/:id/items/:item/decide': ['approver'],
  'GET /reviews/:id/report': READERS,
} as const satisfies Record<string, readonly Role[]>;

export type RouteKey = keyof typeof ROUTE_ROLES;

/** Extra routers mounted under /api/v1 (a queue dashboard): operators'. */
export const EXTRA_ADMIN_ROLES: readonly Role[] = ['operator'];

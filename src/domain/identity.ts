import { z } from 'zod';

/** A role as sources send it (SCIM `roles`, Entra app-role assignments, an HR roles column). */
const roleSchema = z.object({
  value: z.string().min(1),
  display: z.string().optional(),
  type: z.string().optional(),
  primary: z.boolean().optional(),
});
export type Role = z.infer<typeof roleSchema>;

/** ISO date (YYYY-MM-DD) or date-time; sources normalise to one of these. */
export const isoDateSchema = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d{2}-\d{2}/.test(s), 'must be an ISO 8601 date (YYYY-MM-DD) or date-time');

/**
 * What a source hands to the store. (source, externalId) is the identity's key within
 * lockstep; externalId is also the correlation key that links it to accounts in lock systems.
 */
export const identityInputSchema = z.object({
  source: z.string().min(1),
  externalId: z.string().min(1),
  userName: z.string().min(1),
  displayName: z.string().optional(),
  active: z.boolean().default(true),
  employeeType: z.string().optional(),
  department: z.string().optional(),
  jobTitle: z.string().optional(),
  site: z.string().optional(),
  manager: z.string().optional(),
  sponsor: z.string().optional(),
  email: z.string().optional(),
  hireDate: isoDateSchema.optional(),
  leaveDate: isoDateSchema.optional(),
  contractEnd: isoDateSchema.optional(),
  groups: z.array(z.string()).default([]),
  roles: z.array(roleSchema).default([]),
  /** Anything else a source maps (costCenter, extension attributes...). Rules may use them. */
  attributes: z.record(z.string(), z.unknown()).default({}),
});
export type IdentityInput = z.input<typeof identityInputSchema>;
export type IdentityData = z.output<typeof identityInputSchema>;

/** An identity as the store holds it. */
export interface Identity extends IdentityData {
  /** lockstep's own id (uuid). */
  id: string;
  /** Set when the source deleted the person; a deleted identity is a leaver, kept for history. */
  deletedAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** Increases on every stored change; SCIM ETags and the queue's staleness checks use it. */
  version: number;
}

/** A leaver: deleted, inactive, or past the leave date. */
export function isLeaver(i: Pick<Identity, 'active' | 'deletedAt' | 'leaveDate'>, now: Date): boolean {
  if (i.deletedAt || !i.active) return true;
  if (i.leaveDate && Date.parse(endOfDayIfDate(i.leaveDate)) <= now.getTime()) return true;
  return false;
}

/**
 * A bare date as an end of validity means "through that day": it ends at 23:59:59.999Z.
 * Date-times are taken as they are.
 */
export function endOfDayIfDate(s: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T23:59:59.999Z` : new Date(s).toISOString();
}

/** A bare date as a start of validity means "from the start of that day" (UTC). */
export function startOfDayIfDate(s: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00.000Z` : new Date(s).toISOString();
}

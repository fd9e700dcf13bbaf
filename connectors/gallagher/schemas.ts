import { z } from 'zod';

/**
 * What the driver reads from Command Centre, checked at the edge. Loose on purpose: CC adds
 * fields between versions and only the ones below matter here. PDF values sit at the root of
 * a cardholder under `@<name>`, so cardholders keep unknown keys.
 */

export const linkSchema = z.object({ href: z.string().min(1) });
export type Link = z.infer<typeof linkSchema>;

/** `GET /api`: the only URL a client may know. Everything else is a link under `features`. */
export const discoverySchema = z.object({
  version: z.string().optional(),
  features: z.record(z.string(), z.record(z.string(), z.unknown())),
});
export type Discovery = z.infer<typeof discoverySchema>;

const membershipSchema = z.object({
  href: z.string().min(1),
  // 8.70+ leaves out the group's href when the operator may not view the group.
  accessGroup: z.object({ href: z.string().optional(), name: z.string().optional() }).optional(),
  from: z.string().optional(),
  until: z.string().optional(),
  status: z.object({ value: z.string().optional(), type: z.string().optional() }).optional(),
});
export type CcMembership = z.infer<typeof membershipSchema>;

const cardSchema = z.object({
  href: z.string().min(1),
  number: z.string().optional(),
  issueLevel: z.number().optional(),
  status: z.object({ value: z.string().optional(), type: z.string().optional() }).optional(),
  type: z.object({ href: z.string().optional(), name: z.string().optional() }).optional(),
  from: z.string().optional(),
  until: z.string().optional(),
  credentialClass: z.string().optional(),
  lastUsedTime: z.string().optional(),
});
export type CcCard = z.infer<typeof cardSchema>;

export const cardholderSchema = z.looseObject({
  href: z.string().min(1),
  id: z.string().optional(),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  authorised: z.boolean().optional(),
  cards: z.array(cardSchema).optional(),
  accessGroups: z.array(membershipSchema).optional(),
});
export type CcCardholder = z.infer<typeof cardholderSchema>;

const nextSchema = z.object({ href: z.string().min(1) }).optional();

export const cardholderSearchSchema = z.object({
  results: z.array(cardholderSchema).default([]),
  next: nextSchema,
});

export const accessGroupSearchSchema = z.object({
  results: z.array(z.object({ href: z.string().min(1), id: z.string().optional(), name: z.string().default('') })).default([]),
  next: nextSchema,
});

export const pdfSearchSchema = z.object({
  results: z.array(z.object({ id: z.string().min(1), name: z.string(), href: z.string().optional(), type: z.string().optional() })).default([]),
  next: nextSchema,
});

export const itemSearchSchema = z.object({
  results: z.array(z.object({ id: z.string().min(1), name: z.string(), type: z.object({ id: z.string().optional() }).optional() })).default([]),
  next: nextSchema,
});

export const cardTypeSearchSchema = z.object({
  results: z.array(z.object({ href: z.string().min(1), id: z.string().optional(), name: z.string().default('') })).default([]),
  next: nextSchema,
});

const eventSchema = z.object({
  id: z.string().min(1),
  href: z.string().optional(),
  time: z.string(),
  type: z.object({ id: z.string().optional(), name: z.string().optional() }).optional(),
  source: z.object({ id: z.string().optional(), name: z.string().optional() }).optional(),
  door: z.object({ href: z.string().optional(), name: z.string().optional() }).optional(),
  cardholder: z.object({ href: z.string().optional(), id: z.string().optional(), name: z.string().optional() }).optional(),
  card: z.object({ number: z.string().optional(), issueLevel: z.number().optional(), facilityCode: z.string().optional() }).optional(),
  location: z.object({ type: z.string().optional() }).optional(),
});
export type CcEvent = z.infer<typeof eventSchema>;

export const eventSearchSchema = z.object({
  events: z.array(eventSchema).default([]),
  next: nextSchema,
  updates: nextSchema,
});

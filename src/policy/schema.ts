/**
 * The mapping language: which identities get which access groups, for how long.
 *
 * This zod schema is the single source of truth: the TypeScript types below are inferred
 * from it and mappings/mappings.schema.json (for editors) is generated from it by
 * `npm run gen:schema`. Every object is strict, so a misspelt key is an error, not a silent
 * no-op.
 *
 * Reference (defaults in brackets):
 *
 *   version: 1                          required in every file
 *   employeeTypes: [Employee]           employeeType values that count as employees (case-insensitive);
 *                                       everyone else is a non-employee (contractor, visitor, ...)
 *   classes:                            EN 50600 protection class 0..4 -> limits; a class not listed
 *     "4":                              has no limits
 *       maxValidityDays: 90             [none] no entitlement in this class lasts longer, counted from
 *                                       when it first began (the reconciler's anchor)
 *       maxValidity: PT8H               [none] the same as a duration (one of the two)
 *       unusedCredentialDays: 30        [none] credentials of holders unused this long are suspended
 *       unusedCredentialAfter: PT30M    [none] the same as a duration (one of the two)
 *       sponsorRequired: true           [false] non-employees need a `sponsor` that names an active
 *                                       identity who has not left (see Sponsors below)
 *   accessGroups:                       [] the groups lock systems hold
 *     - id: dc1-whitespace              mapping-wide id (letters, digits, . _ -)
 *       system: dc1                     a key of `systems` in lockstep.yaml
 *       ref: AG-WS                      the group's reference in that system
 *       name: DC1 server whitespace     [the id]
 *       protectionClass: 4              0..4
 *       description: ...                [none]
 *       owner: ops.lead@example.com     [none] who approves access requests for it (a userName or
 *                                       email, matched against the approver's sign-in name or email)
 *   roles:                              {} named role bundles: reusable sets of access groups
 *     dc-technician:
 *       description: ...                [none]
 *       grant: [dc1-whitespace]         [] access group ids
 *       include: [office-worker]        [] other bundles; a cycle is an error
 *       validity: { until, maxDays }    [none] limits on everything this bundle carries
 *       maxProtectionClass: 4           [none] a bundle granting above this (also through
 *                                       included bundles) is an error
 *   rules:                              [] evaluated independently; every matching rule contributes
 *     - id: dc-ops                      unique across all files
 *       description: ...                [none]
 *       when: 'groups eq "DC Ops"'      SCIM filter (RFC 7644 3.4.2.2) over the identity, see below
 *       grant: [dc1-perimeter]          [] access group ids
 *       roles: [dc-technician]          [] role bundle ids (a rule must grant or name at least one)
 *       validity:                       [none]
 *         until: contractEnd            identity attribute holding a date (a bare date means the end
 *                                       of that day, UTC); if the identity lacks it, no limit applies
 *                                       (require it with `contractEnd pr` in `when`)
 *         maxDays: 365                  counted from when the entitlement first began
 *         maxDuration: PT2H             the same as a duration (one of maxDays and maxDuration)
 *       exemptFromUnusedExpiry: false   [false] holders' credentials skip the unused-credential sweep
 *   reviews:                            [] access review campaigns
 *     - id: class4-quarterly            unique
 *       scope: { protectionClass: 4 }   or { accessGroups: [dc1-whitespace] }
 *       every: P3M                      [none: only `lockstep review start`] calendar duration
 *       reviewers: [owner, manager]     [owner, manager] the first the item has; none: any approver
 *       deadline: P14D                  [P14D] remindEvery: P3D [none]
 *       undecided: keep                 [keep] or revoke: what undecided items get at the deadline
 *       revokeFor: P3M                  [until the next campaign; P90D without every]
 *       (scope may also say violations: true: the holders of access that breaks an invariant)
 *   invariants:                         [] what no grant may break (docs/policy-as-code.md)
 *     - id: cash-audit-apart            unique
 *       separate: { accessGroups: [a, b] }   no one holds two of these (or roles: [x, y])
 *     - id: class4-trained
 *       scope: { protectionClass: 4 }   or { accessGroups: [...] }
 *       require:                        what a holder must be (one or more of):
 *         employee: true                  an employee (employeeTypes)
 *         unexpired: trainingUntil        an attribute holding a date not yet past
 *         when: 'department eq "Ops"'     a SCIM filter
 *       maxHolders: 20                  [none] at most this many people per group in scope
 *   lifecycle:
 *     leaver: suspend                   [suspend] suspend = revoke all memberships and suspend the
 *                                       account; revoke = memberships only; delete = delete the account
 *     preHireDays: 7                    [0] access starts this many days before hireDate (start of day, UTC)
 *     preHire: PT1H                     [none] or this long before hireDate (exactly; no rounding to days)
 *     orphans: report                   [report] accounts nobody owns: report | suspend | revoke
 *     guard:                            hold a run for approval when it would revoke more than
 *       maxRevocationsPercent: 20       [20] this share of the identities in scope, or
 *       maxRevocationsAbsolute: 50      [50] this many, but only if it revokes at least
 *       minRevocationsToHold: 10        [10] this many (small runs are never held)
 *       windowMinutes: 60               [60] the budget: people who lost access within this window
 *                                       count together, whichever runs and sources took it
 *
 * Validity: an entitlement ends at the earliest of its rule's and bundles' `until` and
 * `maxDays`, the identity's leaveDate and its class's maxValidityDays. When several rules
 * grant the same group the most generous of those windows wins.
 *
 * Durations: every limit counted in days has a twin that takes an ISO 8601 duration of fixed
 * length (weeks, days, hours, minutes, seconds: `PT30M`, `PT2H`, `P3D`, `P1DT12H`; no years or
 * months), so that time-based rules can be tried out in minutes: maxDays / maxDuration,
 * maxValidityDays / maxValidity, unusedCredentialDays / unusedCredentialAfter, preHireDays /
 * preHire. A field and its twin together are an error.
 *
 * Sponsors: in a class with sponsorRequired, a non-employee keeps the class only while the
 * identity their `sponsor` attribute names is active, not deleted and has not passed its
 * leaveDate; a sponsor's future leaveDate ends the sponsored access then. The attribute names
 * the sponsor by lockstep id, userName, externalId or email (case-insensitive).
 *
 * Files: several files merge into one set of mappings. accessGroups, roles and rules merge
 * by id (a duplicate id is an error), classes by class number; employeeTypes and lifecycle
 * may appear in one file only.
 *
 * `when` filters see the identity's fields (userName, displayName, active, employeeType,
 * department, jobTitle, site, manager, sponsor, email, hireDate, leaveDate, contractEnd,
 * externalId, source), its extra `attributes` at top level (they never shadow those
 * fields), `groups` (strings) and `roles` ({value, display, type, primary}). Attribute
 * names and string comparisons are case-insensitive. A multi-valued attribute matches if
 * any value matches (`groups eq "X"`, `roles eq "DC Technician"` compares each role's
 * value, `roles[type eq "site-b" and value eq "Engineer"]`). `ne` is the negation of `eq`,
 * also for multi-valued and absent attributes: `groups ne "Visitors"` holds when no group is
 * "Visitors" and `employeeType ne "Contractor"` holds when employeeType is absent (RFC 7644
 * would let any other value match, which turns exclusions into grants). Date strings
 * compare as instants with gt/ge/lt/le.
 */
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from '../domain/duration.js';
import { CALENDAR_DURATION } from '../domain/governance.js';

/** Ids of access groups, role bundles and rules: stable, readable, safe in paths and logs. */
const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must start with a letter or digit and contain only letters, digits, ".", "_" and "-"');

/** A SCIM attribute name (optionally with sub-attributes), as `until` refers to one. */
const attributeNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_$-]*(\.[A-Za-z][A-Za-z0-9_$-]*)*$/, 'must be an attribute name such as contractEnd');

const protectionClassSchema = z.literal([0, 1, 2, 3, 4]).describe('EN 50600 protection class, 0 (public) to 4 (highest)');

/**
 * An ISO 8601 duration of fixed length (no years or months), longer than zero unless `zero`.
 * It stays text in the validated mappings (as written, for messages); compile turns it into
 * milliseconds once.
 */
function durationSchema(opts: { zero?: boolean } = {}) {
  return z
    .string()
    .superRefine((s, ctx) => {
      const r = parseDuration(s);
      if ('error' in r) ctx.addIssue({ code: 'custom', message: r.error });
      else if (r.ms === 0 && !opts.zero) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} is no time at all: give a duration longer than zero` });
    })
    .meta({ pattern: DURATION_PATTERN, examples: ['PT30M', 'PT2H', 'P3D'] });
}

/** A limit in days and its duration twin (`maxDays` and `maxDuration`) cannot both be given. */
function oneOf<T extends object>(days: keyof T & string, duration: keyof T & string) {
  return (v: T, ctx: z.core.$RefinementCtx<T>): void => {
    if (v[days] !== undefined && v[duration] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [duration], message: `${days} and ${duration} are the same limit: give one of them, not both` });
    }
  };
}

const validityLimitSchema = z
  .strictObject({
    until: attributeNameSchema.optional().describe('Identity attribute holding the date the access ends (a bare date: end of that day, UTC)'),
    maxDays: z.number().int().positive().optional().describe('At most this many days from when the entitlement first began'),
    maxDuration: durationSchema()
      .optional()
      .describe('At most this long (ISO 8601 duration, e.g. PT2H) from when the entitlement first began; instead of maxDays'),
  })
  .superRefine(oneOf('maxDays', 'maxDuration'))
  .describe('Limits on how long access lasts');

const classPolicySchema = z
  .strictObject({
    maxValidityDays: z.number().int().positive().optional().describe('No entitlement of this class lasts longer than this many days from when it began'),
    maxValidity: durationSchema()
      .optional()
      .describe('No entitlement of this class lasts longer than this (ISO 8601 duration, e.g. PT8H); instead of maxValidityDays'),
    unusedCredentialDays: z.number().int().positive().optional().describe('Credentials of holders that went unused this many days are suspended'),
    unusedCredentialAfter: durationSchema()
      .optional()
      .describe('Credentials of holders that went unused this long (ISO 8601 duration, e.g. PT30M) are suspended; instead of unusedCredentialDays'),
    sponsorRequired: z.boolean().default(false).describe('Non-employees need a sponsor (an active identity who has not left) to hold groups of this class'),
  })
  .superRefine(oneOf('maxValidityDays', 'maxValidity'))
  .superRefine(oneOf('unusedCredentialDays', 'unusedCredentialAfter'));

const classPolicyEntry = classPolicySchema.optional();
const classesSchema = z
  .strictObject({ '0': classPolicyEntry, '1': classPolicyEntry, '2': classPolicyEntry, '3': classPolicyEntry, '4': classPolicyEntry })
  .describe('Limits per EN 50600 protection class (0..4)');

const accessGroupSchema = z.strictObject({
  id: idSchema.describe('Mapping-wide id used by rules and role bundles'),
  system: z.string().min(1).describe('Lock system name (a key of systems in lockstep.yaml)'),
  ref: z.string().min(1).describe("The group's reference in the lock system"),
  name: z.string().min(1).optional().describe('Display name (default: the id)'),
  protectionClass: protectionClassSchema,
  description: z.string().optional(),
  owner: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe("Who approves access requests for this group: a userName or email, matched against the approver's sign-in name or email"),
  offline: z
    .strictObject({ revalidationDays: z.number().int().positive().describe('Days a key keeps opening these doors offline after it was last updated') })
    .optional()
    .describe(
      "Offline (data-on-card) doors in an otherwise online system, e.g. CLIQ cylinders beside Aperio locks under one host: a revocation reaches them when the holder's key next revalidates, within revalidationDays; overrides the system's own",
    ),
});

const roleBundleSchema = z.strictObject({
  description: z.string().optional(),
  grant: z.array(idSchema).default([]).describe('Access group ids'),
  include: z.array(idSchema).default([]).describe('Other role bundles whose access this one carries'),
  validity: validityLimitSchema.optional(),
  maxProtectionClass: protectionClassSchema.optional().describe('The bundle may not grant (also through includes) above this class'),
});

const ruleSchema = z.strictObject({
  id: idSchema,
  description: z.string().optional(),
  when: z.string().trim().min(1).describe('SCIM filter over the identity, e.g. groups eq "DC Operations" and employeeType ne "Contractor"'),
  grant: z.array(idSchema).default([]).describe('Access group ids'),
  roles: z.array(idSchema).default([]).describe('Role bundle ids'),
  validity: validityLimitSchema.optional(),
  exemptFromUnusedExpiry: z.boolean().default(false).describe("Holders' credentials skip the unused-credential sweep"),
});

const guardSchema = z.strictObject({
  maxRevocationsPercent: z.number().min(0).max(100).default(20),
  maxRevocationsAbsolute: z.number().int().min(0).default(50),
  minRevocationsToHold: z.number().int().min(0).default(10),
  windowMinutes: z
    .number()
    .int()
    .positive()
    .default(60)
    .describe('The budget: people who lost access within this many minutes count together, across runs and sources'),
});

const lifecycleSchema = z
  .strictObject({
    leaver: z
      .enum(['suspend', 'revoke', 'delete'])
      .default('suspend')
      .describe('suspend: revoke all memberships and suspend the account; revoke: memberships only; delete: delete the account'),
    preHireDays: z.number().int().min(0).optional().describe('Access starts this many days before hireDate (start of that day, UTC) [0]'),
    preHire: durationSchema({ zero: true })
      .optional()
      .describe('Access starts this long before hireDate (ISO 8601 duration, e.g. PT1H); instead of preHireDays'),
    orphans: z.enum(['report', 'suspend', 'revoke']).default('report').describe('What to do with accounts no identity owns'),
    guard: guardSchema.prefault({}).describe('Hold runs that would revoke too much for approval'),
  })
  .superRefine(oneOf('preHireDays', 'preHire'));

/** An ISO 8601 duration that may count months and years (`P3M`, `P1Y`, `P14D`): review schedules. */
const calendarDurationSchema = z
  .string()
  .regex(CALENDAR_DURATION, 'must be an ISO 8601 duration such as P3M, P1Y, P14D or PT1H')
  .meta({ examples: ['P3M', 'P6M', 'P14D'] });

const reviewSchema = z
  .strictObject({
    id: idSchema,
    description: z.string().optional(),
    scope: z
      .strictObject({
        protectionClass: protectionClassSchema.optional().describe('Every access group of this class'),
        accessGroups: z.array(idSchema).optional().describe('These access groups'),
        violations: z.boolean().optional().describe('Also every held access group that breaks an invariant (its holders are listed first)'),
      })
      .refine(
        (s) => s.protectionClass !== undefined || (s.accessGroups?.length ?? 0) > 0 || s.violations === true,
        'give protectionClass or accessGroups (or violations: true)',
      )
      .describe('Which memberships are reviewed: each person holding a group in scope is an item'),
    every: calendarDurationSchema
      .optional()
      .describe('A campaign starts this long after the last one began (and at once when there has been none); without it, only by hand'),
    reviewers: z
      .array(z.enum(['owner', 'manager', 'sponsor']))
      .min(1)
      .default(['owner', 'manager'])
      .describe("Who reviews an item: the first of these the item has (the group's owner, the person's manager or sponsor); none: any approver"),
    deadline: calendarDurationSchema.default('P14D').describe('How long a campaign runs'),
    remindEvery: calendarDurationSchema.optional().describe('Reminders (audit entries review.reminder) to reviewers with open items, this often'),
    undecided: z.enum(['keep', 'revoke']).default('keep').describe('What items nobody decided by the deadline get'),
    revokeFor: calendarDurationSchema.optional().describe("How long a revoke's exception lasts [until the next campaign is due; P90D without every]"),
  })
  .describe('An access review campaign');

/**
 * What must always be true of the doors, whatever the rules grant (issue 27). Two shapes:
 * `separate` (segregation of duties: no one holds two of these access groups, or carries two of
 * these role bundles) or `scope` with `require` and/or `maxHolders` (class requirements). A grant
 * that would break one is refused with the invariant as its reason; access a person already
 * holds that breaks one is reported as a violation, never silently revoked.
 */
const invariantSchema = z
  .strictObject({
    id: idSchema.describe('Unique id, named in refusals, violations and metrics'),
    description: z.string().optional(),
    separate: z
      .strictObject({
        accessGroups: z.array(idSchema).min(2).optional().describe('No one may hold two of these access groups'),
        roles: z.array(idSchema).min(2).optional().describe('No one may carry two of these role bundles'),
      })
      .refine((s) => (s.accessGroups === undefined) !== (s.roles === undefined), 'give accessGroups or roles (one of them)')
      .optional()
      .describe('Segregation of duties'),
    scope: z
      .strictObject({
        protectionClass: protectionClassSchema.optional().describe('Every access group of this class'),
        accessGroups: z.array(idSchema).optional().describe('These access groups'),
      })
      .refine((s) => s.protectionClass !== undefined || (s.accessGroups?.length ?? 0) > 0, 'give protectionClass or accessGroups')
      .optional()
      .describe('The access groups `require` and `maxHolders` apply to'),
    require: z
      .strictObject({
        employee: z.boolean().optional().describe('Only employees (employeeTypes) may hold them'),
        unexpired: attributeNameSchema
          .optional()
          .describe(
            'An identity attribute that must hold a date not yet past (e.g. when a training certificate ends; a bare date lasts to the end of that day, UTC)',
          ),
        when: z.string().trim().min(1).optional().describe('A SCIM filter the identity must match'),
      })
      .refine((r) => r.employee === true || r.unexpired !== undefined || r.when !== undefined, 'give employee: true, unexpired or when')
      .optional()
      .describe('What an identity must be to hold a group in scope'),
    maxHolders: z.number().int().positive().optional().describe('At most this many people hold each access group in scope'),
  })
  .superRefine((v, ctx) => {
    const classLike = v.scope !== undefined || v.require !== undefined || v.maxHolders !== undefined;
    if (v.separate !== undefined && classLike) {
      ctx.addIssue({ code: 'custom', path: ['separate'], message: 'an invariant is either `separate` or `scope` with `require`/`maxHolders`, not both' });
    } else if (v.separate === undefined && !classLike) {
      ctx.addIssue({ code: 'custom', path: ['id'], message: 'give `separate`, or `scope` with `require` and/or `maxHolders`' });
    } else if (v.separate === undefined && v.scope === undefined) {
      ctx.addIssue({ code: 'custom', path: ['scope'], message: '`require` and `maxHolders` need a `scope` (protectionClass or accessGroups)' });
    } else if (v.separate === undefined && v.require === undefined && v.maxHolders === undefined) {
      ctx.addIssue({ code: 'custom', path: ['scope'], message: 'a `scope` needs `require` and/or `maxHolders`' });
    }
  })
  .describe('An invariant: what no grant may break');

const DEFAULT_EMPLOYEE_TYPES = ['Employee'];

/** One mapping file; several merge into one Mappings (see the loader). */
export const mappingsSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema reference for editors; ignored'),
    version: z.literal(1),
    employeeTypes: z.array(z.string().min(1)).min(1).default(DEFAULT_EMPLOYEE_TYPES).describe('employeeType values that count as employees'),
    classes: classesSchema.prefault({}),
    accessGroups: z.array(accessGroupSchema).default([]),
    roles: z.record(idSchema, roleBundleSchema).default({}).describe('Named role bundles'),
    rules: z.array(ruleSchema).default([]),
    lifecycle: lifecycleSchema.prefault({}),
    reviews: z.array(reviewSchema).default([]).describe('Access review campaigns'),
    invariants: z
      .array(invariantSchema)
      .default([])
      .describe('What must always be true: segregation of duties and class requirements (see docs/policy-as-code.md)'),
  })
  .describe('lockstep mappings: identities to access groups in lock systems');

export type Mappings = z.output<typeof mappingsSchema>;
export type MappingsInput = z.input<typeof mappingsSchema>;
export type AccessGroupSpec = z.output<typeof accessGroupSchema>;
export type RoleBundleSpec = z.output<typeof roleBundleSchema>;
export type RuleSpec = z.output<typeof ruleSchema>;
export type ValidityLimit = z.output<typeof validityLimitSchema>;
export type ClassPolicySpec = z.output<typeof classPolicySchema>;
export type Lifecycle = z.output<typeof lifecycleSchema>;
export type GuardPolicy = z.output<typeof guardSchema>;
export type LeaverAction = Lifecycle['leaver'];
export type ReviewSpec = z.output<typeof reviewSchema>;
export type OrphanAction = Lifecycle['orphans'];
export type InvariantSpec = z.output<typeof invariantSchema>;

/** The JSON Schema editors use (yaml-language-server, VS Code); generated, never hand-edited. */
export function mappingsJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(mappingsSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: 'lockstep mappings',
    ...rest,
  };
}

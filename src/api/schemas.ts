/**
 * The admin API's shapes as zod schemas: request bodies and query parameters the routes parse
 * with, and the responses they answer with, from which the OpenAPI document (src/api/openapi.ts)
 * is generated. Nested domain records (an identity, an account) list the fields a client can rely
 * on and allow more (`looseObject`): they grow with the domain without breaking the contract.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ROLES } from './roles.js';

extendZodWithOpenApi(z);

const instant = z.string().openapi({ format: 'date-time' });
const nullableInstant = instant.nullable();
const count = z.number().int().nonnegative();

// ---------------------------------------------------------------- requests

export const runBody = z
  .object({
    mode: z
      .enum(['plan', 'apply'])
      .default('plan')
      .openapi({ description: '`plan` records what would change; `apply` changes the lock systems (queued in `serve`)' }),
    identities: z.array(z.string().min(1)).min(1).max(10_000).optional().openapi({ description: 'identity ids to reconcile; absent: everyone (a full run)' }),
  })
  .strict()
  .openapi('RunRequest');

export const lostBody = z
  .object({
    accountId: z.string().min(1).optional().openapi({ description: 'the holder account, to skip the look-up' }),
    note: z.string().max(2000).optional(),
    state: z.enum(['lost', 'suspended']).optional().openapi({ description: '`lost` where the system knows that state, else `suspended`' }),
    revokeAccessUntil: z.string().min(1).optional().openapi({
      description:
        "where the system cannot block the credential itself (e.g. Abloy Keyless phones): revoke its holder's access in that system until this date (ISO date or date-time) instead, one access exception per access group they hold there",
    }),
  })
  .strict()
  .openapi('LostCredentialRequest');

/** `POST /audit/verify`: the chain, and signed checkpoints as JSON lines (the file sink's text) or as objects. */
export const auditVerifyBody = z
  .object({
    checkpoints: z
      .union([z.string(), z.array(z.record(z.string(), z.unknown()))])
      .openapi({ description: "the checkpoint sink's JSON lines, or the checkpoints as objects" }),
  })
  .strict()
  .openapi('AuditVerifyRequest');

export const rejectBody = z.object({ reason: z.string().max(1000).optional().openapi({ description: 'why, for the audit log' }) }).openapi('RejectRequest');

export const limitQuery = (def: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/)
    .optional()
    .openapi({ description: `a whole number from 1 (default ${def}, at most ${max})`, example: String(def) });

// ---------------------------------------------------------------- responses

export const errorSchema = z
  .object({
    error: z.looseObject({
      code: z.string().openapi({ description: '`validation`, `not_found`, `conflict`, `precondition`, `auth`, `forbidden`, `csrf`, `config`, `unavailable`…' }),
      message: z.string(),
      field: z.string().optional().openapi({ description: 'the field, parameter or header at fault' }),
      details: z.unknown().optional(),
      missing: z.array(z.enum(ROLES)).optional().openapi({ description: '403 forbidden: the roles of which the caller needs one' }),
    }),
  })
  .openapi('Error');

const validity = z.object({ from: nullableInstant, until: nullableInstant });

const reasonSchema = z
  .looseObject({
    rule: z.string(),
    role: z.string().optional(),
    roleChain: z.array(z.string()).optional(),
    sourceRole: z.string().optional(),
    matched: z.record(z.string(), z.unknown()),
    notes: z.array(z.string()).optional(),
  })
  .openapi('Reason');

export const operationSchema = z
  .looseObject({
    key: z.string(),
    kind: z.enum([
      'create_account',
      'update_account',
      'link_account',
      'reactivate_account',
      'revoke',
      'grant',
      'change_validity',
      'suspend_account',
      'delete_account',
      'set_credential_state',
    ]),
    system: z.string(),
    identityId: z.string().nullable(),
    externalId: z.string().nullable(),
    userName: z.string().nullable(),
    accountId: z.string().nullable(),
    group: z.looseObject({ id: z.string(), ref: z.string(), name: z.string(), protectionClass: z.number().int() }).optional(),
    validity: validity.optional(),
    previousValidity: validity.optional(),
    credentialId: z.string().optional(),
    credentialState: z.enum(['active', 'suspended', 'lost', 'revoked']).optional(),
    reason: z.looseObject({ cause: z.string(), text: z.string(), policy: z.string().optional(), reasons: z.array(reasonSchema).optional() }),
    revocation: z.boolean(),
    learnedBy: instant.optional(),
  })
  .openapi('Operation');

export const planSchema = z
  .looseObject({
    createdAt: instant,
    scope: z.enum(['full', 'identities']),
    identities: count,
    operations: z.array(operationSchema),
    summary: z.looseObject({ add: count, change: count, destroy: count, byKind: z.record(z.string(), count) }),
    warnings: z.array(z.string()),
    conflicts: z.array(z.looseObject({ identityId: z.string(), userName: z.string(), externalId: z.string() })).optional(),
    nextCheckAt: nullableInstant,
  })
  .openapi('Plan');

const runStatus = z.enum(['planned', 'held', 'approved', 'applying', 'applied', 'partial', 'failed', 'cancelled']);

const runFields = {
  id: z.string().openapi({ format: 'uuid' }),
  kind: z.enum(['plan', 'apply']),
  trigger: z.string().openapi({ description: 'what started it: `api`, `startup`, `full:schedule`, `queue:<reason>`, `guard:revocation-budget`…' }),
  status: runStatus,
  scope: z.enum(['full', 'identities']),
  summary: z
    .record(z.string(), z.unknown())
    .nullable()
    .openapi({ description: 'the plan summary (add, change, destroy), and for held runs the guard verdict or held people' }),
  progress: z.object({ done: count, total: count }).nullable(),
  error: z.string().nullable().openapi({ description: 'why it was held, rejected or failed' }),
  createdAt: instant,
  startedAt: nullableInstant,
  finishedAt: nullableInstant,
  approvedBy: z.string().nullable(),
  approvedAt: nullableInstant,
};

export const runSchema = z
  .object({
    ...runFields,
    plan: planSchema.nullable(),
    results: z.array(
      z.looseObject({
        key: z.string(),
        status: z.enum(['applied', 'failed', 'skipped']),
        error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
        attempts: count,
        at: instant,
      }),
    ),
    causedBy: z.array(z.string()).optional().openapi({ description: 'held runs: who started or caused it (they cannot approve it: four-eyes)' }),
  })
  .openapi('Run');

export const runListSchema = z
  .object({
    runs: z.array(
      z
        .object({
          ...runFields,
          operations: count.openapi({ description: 'operations in its plan' }),
          applied: count.optional().openapi({ description: 'operations applied so far' }),
          failed: count.optional().openapi({ description: 'operations that failed' }),
        })
        .openapi('RunListItem'),
    ),
    more: z.boolean().optional().openapi({ description: 'there are older runs: ask with before=next' }),
    next: z.string().nullable().optional().openapi({ description: 'the `before` of the next page' }),
  })
  .openapi('RunList');

export const runStartedSchema = z
  .object({
    runId: z.string().nullable().openapi({ description: 'null: an identity-scoped apply was queued (one job per person)' }),
    queued: z.boolean(),
    run: runSchema.nullable(),
  })
  .openapi('RunStarted');

export const runApprovedSchema = z
  .object({ run: runSchema.nullable(), held: z.boolean().openapi({ description: 'the world changed since: held again as a new run' }), failed: count })
  .openapi('RunApproved');
export const runRejectedSchema = z.object({ run: runSchema }).openapi('RunRejected');

const accessGroupSchema = z
  .looseObject({ id: z.string(), system: z.string(), ref: z.string(), name: z.string(), protectionClass: z.number().int().min(0).max(4) })
  .openapi('AccessGroupRef');
const accountSchema = z
  .looseObject({
    id: z.string(),
    externalId: z.string().nullable(),
    displayName: z.string(),
    state: z.enum(['active', 'suspended']),
    memberships: z.array(z.looseObject({ group: z.string(), from: nullableInstant, until: nullableInstant })),
    credentials: z.array(
      z.looseObject({
        id: z.string(),
        type: z.string(),
        number: z.string().optional().openapi({ description: 'card number or key id, as the system shows it (may be masked)' }),
        status: z.enum(['active', 'suspended', 'lost', 'revoked']),
        lastUsedAt: nullableInstant,
      }),
    ),
  })
  .openapi('Account');

const entitlementSchema = z
  .looseObject({
    identityId: z.string(),
    accessGroup: accessGroupSchema,
    validFrom: nullableInstant,
    validUntil: nullableInstant,
    reasons: z.array(reasonSchema),
  })
  .openapi('Entitlement');

/** An identity as the store holds it (src/domain/identity.ts), as explain answers it. */
const identitySchema = z
  .looseObject({
    id: z.string(),
    source: z.string(),
    externalId: z.string(),
    userName: z.string(),
    displayName: z.string().optional(),
    active: z.boolean(),
    employeeType: z.string().optional(),
    department: z.string().optional(),
    jobTitle: z.string().optional(),
    site: z.string().optional(),
    manager: z.string().optional(),
    sponsor: z.string().optional(),
    email: z.string().optional(),
    hireDate: z.string().optional(),
    leaveDate: z.string().optional(),
    contractEnd: z.string().optional(),
    groups: z.array(z.string()),
    roles: z.array(z.looseObject({ value: z.string(), display: z.string().optional(), type: z.string().optional(), primary: z.boolean().optional() })),
    deletedAt: nullableInstant,
  })
  .openapi('Identity');

export const explainSchema = z
  .object({
    identity: identitySchema,
    leaver: z.boolean(),
    entitlements: z.array(entitlementSchema),
    denied: z.array(
      z.object({
        accessGroupId: z.string(),
        rule: z.string(),
        reason: z.string(),
        exception: z
          .object({
            id: z.string(),
            until: instant,
            reason: z.string(),
            source: z.enum(['manual', 'review']),
            sourceRef: z.string().nullable(),
            createdBy: z.string(),
          })
          .optional()
          .openapi({ description: 'the access exception that denies it (POST /exceptions, or an access review)' }),
      }),
    ),
    conflict: z
      .looseObject({
        identityId: z.string(),
        userName: z.string(),
        externalId: z.string(),
        heldBy: z
          .array(z.looseObject({ id: z.string(), userName: z.string(), source: z.string() }))
          .openapi({ description: 'the other identities with the same externalId' }),
      })
      .nullable(),
    nextCheckAt: nullableInstant,
    systems: z.array(
      z.looseObject({
        system: z.string(),
        account: accountSchema.nullable(),
        linked: z.boolean(),
        offline: z.object({ revalidationDays: z.number() }).optional(),
        fitted: z.array(z.string()).optional(),
      }),
    ),
    offlinePending: z.array(
      z.looseObject({ system: z.string(), accountId: z.string(), groupRef: z.string(), kind: z.string(), revokedAt: instant, learnedBy: instant }),
    ),
    text: z.array(z.string()).openapi({ description: 'the explanation as lines, as `lockstep explain` prints it' }),
  })
  .openapi('Explanation');

const accessRowSchema = z
  .object({
    system: z.string(),
    accountId: z.string(),
    accountState: z.string(),
    userName: z.string().nullable(),
    displayName: z.string(),
    identityId: z.string().nullable(),
    employeeType: z.string().nullable(),
    department: z.string().nullable(),
    accessGroupId: z.string().nullable(),
    accessGroup: z.string(),
    groupRef: z.string(),
    protectionClass: z.number().int().nullable(),
    validFrom: nullableInstant,
    validUntil: nullableInstant,
    why: z.string().openapi({ description: 'rules, role bundles and source roles that justify it; empty: nothing does' }),
    roles: z.array(z.string()),
    lastUsed: nullableInstant,
    justified: z.boolean(),
    exceptionId: z.string().nullable().optional().openapi({ description: 'the access exception that denies this membership (it is being revoked)' }),
    stillOnKeysUntil: nullableInstant,
    violations: z
      .array(z.string())
      .optional()
      .openapi({ description: 'invariants of the mappings this membership breaks, as the last plans found it (reported, never revoked on its own)' }),
  })
  .openapi('AccessReportRow');

export const violationReportSchema = z
  .object({
    generatedAt: instant,
    invariants: z.array(z.object({ id: z.string(), description: z.string().nullable(), says: z.string(), violations: z.number().int() })),
    violations: z.array(
      z.object({
        invariant: z.string(),
        identityId: z.string().nullable().openapi({ description: 'null: a maxHolders violation (about the group, not a person)' }),
        userName: z.string().nullable(),
        accessGroupIds: z.array(z.string()),
        message: z.string(),
      }),
    ),
  })
  .openapi('ViolationReport');

export const accessReportSchema = z.object({ generatedAt: instant, rows: z.array(accessRowSchema) }).openapi('AccessReport');
export const roleReportSchema = z
  .object({
    generatedAt: instant,
    holders: z.array(
      z.object({
        role: z.string(),
        userName: z.string().nullable(),
        displayName: z.string(),
        system: z.string(),
        accessGroup: z.string(),
        protectionClass: z.number().int().nullable(),
        validUntil: nullableInstant,
      }),
    ),
    matrix: z.array(
      z.object({
        role: z.string(),
        accessGroupId: z.string(),
        accessGroup: z.string(),
        system: z.string(),
        protectionClass: z.number().int(),
        via: z.string(),
      }),
    ),
  })
  .openapi('RoleReport');

export const incidentStepEnum = z.enum(['early-warning', 'notification', 'final-report']);
export const incidentStepRecordSchema = z.object({ sentAt: instant, by: z.string(), reference: z.string(), recordedAt: instant });
export const incidentSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    status: z.enum(['open', 'closed']),
    system: z.string().nullable(),
    accountId: z.string().nullable(),
    credentialId: z.string().nullable(),
    identityId: z.string().nullable(),
    openedAt: instant,
    closedAt: nullableInstant,
    closedBy: z.string().nullable().optional(),
    closeReason: z.string().nullable().optional(),
    acknowledgedAt: nullableInstant.optional(),
    acknowledgedBy: z.string().nullable().optional(),
    steps: z
      .record(z.string(), incidentStepRecordSchema)
      .optional()
      .openapi({ description: 'the reports recorded as sent, by step (early-warning, notification, final-report)' }),
    person: z
      .object({ userName: z.string(), displayName: z.string().nullable() })
      .nullable()
      .optional()
      .openapi({ description: 'the person whose credential it is' }),
    data: z.record(z.string(), z.unknown()),
    nis2: z
      .object({
        earlyWarningDue: instant,
        notificationDue: instant,
        finalReportDue: instant,
        earlyWarningOverdue: z.boolean(),
        hoursToEarlyWarning: z.number(),
        clocks: z
          .array(z.object({ step: incidentStepEnum, label: z.string(), due: instant, sent: incidentStepRecordSchema.nullable(), overdue: z.boolean() }))
          .optional(),
        overdue: z.array(incidentStepEnum).optional(),
      })
      .openapi({
        description: 'NIS2 Art. 23 clocks: early warning 24 h, notification 72 h, final report one month; each stops when its report is recorded as sent',
      }),
  })
  .openapi('Incident');
export const incidentListSchema = z.object({ incidents: z.array(incidentSchema) }).openapi('IncidentList');

export const lostOutcomeSchema = z
  .object({
    incident: incidentSchema,
    result: z.looseObject({ key: z.string(), status: z.enum(['applied', 'failed', 'skipped']), attempts: count, at: instant }),
    account: z.object({ id: z.string(), displayName: z.string(), externalId: z.string().nullable() }),
    revokedAccess: z
      .object({ until: instant, identityId: z.string(), exceptions: z.array(z.object({ id: z.string(), accessGroupId: z.string() })) })
      .optional()
      .openapi({ description: 'revokeAccessUntil: the access exceptions that revoke the holder’s access where the credential itself could not be blocked' }),
  })
  .openapi('LostCredentialOutcome');

export const auditEntrySchema = z
  .object({
    seq: z.number().int(),
    at: instant,
    actor: z.string().openapi({ description: 'who: `oidc:<name> (<sub>)`, `token:<name>`, `cli:<user>`, `scim`, `worker`, `scheduler`…' }),
    action: z.string(),
    subject: z.string().nullable(),
    runId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z.string(),
  })
  .openapi('AuditEntry');
export const auditListSchema = z.object({ entries: z.array(auditEntrySchema) }).openapi('AuditList');

export const auditVerifySchema = z
  .object({ ok: z.boolean(), entries: count, firstBadSeq: z.number().int().nullable(), problem: z.string().nullable(), pending: count })
  .openapi('AuditVerifyResult');
export const checkpointVerifySchema = z
  .object({
    ok: z.boolean(),
    chain: auditVerifySchema,
    checkpoints: count,
    anchoredSeq: z.number().int().nullable(),
    firstBad: z
      .object({
        line: z.number().int(),
        seq: z.number().int().nullable(),
        at: nullableInstant,
        kind: z.enum(['malformed', 'unknown-key', 'bad-signature', 'truncated', 'rewritten']),
        problem: z.string(),
      })
      .nullable(),
    bad: count,
  })
  .openapi('CheckpointVerifyResult');

export const principalSchema = z
  .object({
    subject: z.string().openapi({ description: 'the OIDC `sub`, or `token:<name>`' }),
    name: z.string().nullable(),
    email: z.string().nullable(),
    roles: z.array(z.enum(ROLES)),
    via: z.enum(['oidc', 'token']),
    actor: z.string().openapi({ description: 'the name audit entries give this caller' }),
  })
  .openapi('Principal');

export const healthSchema = z.object({ status: z.literal('ok') }).openapi('Health');
export const readinessSchema = z.looseObject({ status: z.enum(['ready', 'not ready']), store: z.string() }).openapi('Readiness');

/** A person as the console's people search lists them (GET /api/v1/identities, src/api/people.ts). */
export const personRowSchema = z
  .object({
    id: z.string(),
    userName: z.string(),
    displayName: z.string().nullable(),
    externalId: z.string(),
    source: z.string(),
    employeeType: z.string().nullable(),
    department: z.string().nullable(),
    jobTitle: z.string().nullable(),
    site: z.string().nullable(),
    leaver: z.boolean(),
    deleted: z.boolean(),
  })
  .openapi('PersonRow');
export const personListSchema = z
  .object({ identities: z.array(personRowSchema), more: z.boolean().openapi({ description: 'more people match than the page holds' }) })
  .openapi('PersonList');

/** The answers of the console's own routes (src/api/console.ts) that have a documented shape. */
export const CONSOLE_RESPONSES: Partial<Record<string, z.ZodType>> = { 'GET /identities': personListSchema };

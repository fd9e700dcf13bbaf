import { z } from 'zod';
import { scimConfigSchema } from '../sources/scim/config.js';
import { entraSourceSchema } from '../sources/entra/config.js';
import { fileSourceSchema } from '../sources/file/config.js';

const durationMs = z.number().int().positive();

export const systemSchema = z
  .object({
    /** Driver type: `simulator`, `gallagher`, or a registered third-party driver. */
    type: z.string().min(1),
    /** Driver options (url, apiKey...), validated by the driver. */
    options: z.record(z.string(), z.unknown()).default({}),
    /** `simulator` only: `lockstep serve` starts the simulator in-process on this port. */
    embedded: z
      .object({
        port: z.number().int().min(0).max(65535).default(8181),
        host: z.string().default('127.0.0.1'),
        stateFile: z.string().optional(),
        /** A demo's cardholders and cards (CSV, relative to the config file) for a simulator that has no state yet. */
        seed: z.string().min(1).optional(),
        /** The kind of lock system the simulator plays (issue 16): what the engine must do itself. */
        profile: z
          .object({
            validity: z
              .enum(['membership', 'account', 'none'])
              .default('membership')
              .describe('account: windows only on the person; none: no windows at all (lockstep enforces them on schedule)'),
            suspendAccount: z.boolean().default(true).describe('false: accounts cannot be suspended (leavers lose credentials instead)'),
            offline: z
              .object({ revalidationDays: z.number().int().positive() })
              .strict()
              .nullable()
              .default(null)
              .describe('data-on-card keys: offline locks learn a change when the key is next updated, within revalidationDays'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** Driver calls per second to this system (the queue's rate limit). */
    rateLimitPerSecond: z.number().positive().default(50),
  })
  .strict();

/** Where signed audit checkpoints go (several at once: a file here, a SIEM there). */
export const checkpointSinkSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('file'),
      /** Append-only JSON lines, one checkpoint a line (relative to the config file). */
      path: z.string().min(1),
    })
    .strict(),
  z
    .object({
      type: z.literal('syslog'),
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(514),
      protocol: z.enum(['udp', 'tcp']).default('udp'),
      /** RFC 5424 facility; 13 is "log audit". Severity is 5 (notice). */
      facility: z.number().int().min(0).max(23).default(13),
      appName: z
        .string()
        .regex(/^[!-~]{1,48}$/, 'APP-NAME: 1 to 48 printable ASCII characters, no spaces')
        .default('lockstep'),
      /** HOSTNAME field; default this machine's name. */
      hostname: z
        .string()
        .regex(/^[!-~]{1,255}$/, 'HOSTNAME: printable ASCII, no spaces')
        .optional(),
      timeoutMs: z.number().int().positive().default(10_000),
    })
    .strict(),
  z
    .object({
      type: z.literal('webhook'),
      url: z.url({ protocol: /^https?$/ }),
      /** Extra request headers (an Authorization from ${VAR}); never logged. */
      headers: z.record(z.string(), z.string()).default({}),
      timeoutMs: z.number().int().positive().default(10_000),
    })
    .strict(),
]);

export const checkpointConfigSchema = z
  .object({
    /** How often the service writes a signed checkpoint of the chain's head; 0 turns the timer off. */
    everyMs: z.number().int().min(0).default(300_000),
    /** Ed25519 private key (PEM, PKCS#8), relative to the config file; `lockstep audit keygen` writes one. */
    keyFile: z.string().min(1).optional(),
    /** The private key itself (PEM or base64 PKCS#8 DER), for `key: ${LOCKSTEP_CHECKPOINT_KEY}`. */
    key: z.string().min(1).optional(),
    /** Public key(s) `audit verify --checkpoint` checks against; default the one of the private key. */
    publicKeyFiles: z.array(z.string().min(1)).default([]),
    sinks: z.array(checkpointSinkSchema).min(1, 'name at least one sink (file, syslog or webhook)'),
  })
  .strict()
  .refine((c) => (c.keyFile === undefined) !== (c.key === undefined), {
    message: 'give the signing key as keyFile or as key (one of them)',
    path: ['keyFile'],
  });

export const sourceSchema = z.discriminatedUnion('type', [fileSourceSchema, entraSourceSchema]);

/** The admin API's roles (the same list as src/api/roles.ts; src/runtime/serve.ts fails to compile if they part). */
export const authRoleSchema = z.enum(['viewer', 'operator', 'approver', 'auditor']);

const DEFAULT_SCOPES = ['openid', 'profile', 'email'];

export const oidcConfigSchema = z
  .object({
    /** Entra ID: https://login.microsoftonline.com/{tenant}/v2.0 */
    issuer: z.url({ protocol: /^https?$/ }),
    /** The app registration's application (client) id. */
    clientId: z.string().min(1),
    /** The app registration's client secret; default LOCKSTEP_OIDC_CLIENT_SECRET. */
    clientSecret: z.string().min(1).optional(),
    scopes: z.array(z.string().min(1)).min(1).default(DEFAULT_SCOPES),
    /** The `aud` an access token given as bearer must carry; default the client id. */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** The claim with app roles (Entra: roles). */
    roleClaim: z.string().min(1).default('roles'),
    /** The claim with group object ids (Entra: groups, when the app registration emits them). */
    groupsClaim: z.string().min(1).default('groups'),
    /** Claim value (app role value or group object id) → lockstep role(s); default Lockstep.Viewer → viewer and so on. */
    roleMap: z.record(z.string().min(1), z.union([authRoleSchema, z.array(authRoleSchema).min(1)])).optional(),
  })
  .strict();

export const authTokenSchema = z
  .object({
    /** Names the machine in the audit log: `token:<name>`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/i, 'a token name is letters, digits, ., - and _ (at most 64)'),
    /** The token itself (e.g. `${LOCKSTEP_CI_TOKEN}`), or name the variable with tokenEnv. */
    token: z.string().min(16, 'a token must have at least 16 characters').optional(),
    /** The environment variable holding the token. */
    tokenEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
      .optional(),
    roles: z.array(authRoleSchema).min(1, 'give the token at least one role'),
  })
  .strict()
  .refine((t) => (t.token === undefined) !== (t.tokenEnv === undefined), { message: 'give the token as token or as tokenEnv (one of them)', path: ['token'] });

export const authConfigSchema = z
  .object({
    /** The address people open (https in production); default LOCKSTEP_PUBLIC_URL. Gives the redirect URI (<publicUrl>/auth/callback) and Secure cookies. */
    publicUrl: z.url({ protocol: /^https?$/ }).optional(),
    session: z
      .object({
        /** Encrypts the session cookie; default LOCKSTEP_SESSION_SECRET (at least 32 characters). */
        secret: z.string().min(32, 'a session secret must have at least 32 characters').optional(),
        maxAgeMinutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60)
          .default(480),
      })
      .strict()
      .default({ maxAgeMinutes: 480 }),
    oidc: oidcConfigSchema.optional(),
    /** Machine tokens scoped to roles (ADMIN_TOKEN and api.tokens stay: every role). */
    tokens: z.array(authTokenSchema).default([]),
  })
  .strict()
  .refine((a) => new Set(a.tokens.map((t) => t.name)).size === a.tokens.length, { message: 'token names must be unique', path: ['tokens'] });

/** Governance events a webhook can subscribe to (CloudEvents types are `io.lockstep.<event>`); `run.held` pages the approver of a held mass change. */
export const NOTIFICATION_EVENTS = [
  'request.created',
  'request.approved',
  'request.denied',
  'review.started',
  'review.reminder',
  'review.closed',
  'exception.created',
  'run.held',
  'run.approved',
  'run.rejected',
  'incident.opened',
  'incident.overdue',
  'violation.found',
  'violation.resolved',
] as const;

const webhookSchema = z
  .object({
    url: z
      .string()
      .url('must be an http(s) URL')
      .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL'),
    events: z.array(z.enum(NOTIFICATION_EVENTS)).min(1).describe('which events this webhook gets'),
    /** HMAC-SHA256 key for the `webhook-signature` header (use ${VAR}); unsigned without one. */
    secret: z.string().min(16, 'a webhook secret must have at least 16 characters').optional(),
  })
  .strict();

export const notificationsSchema = z
  .object({
    webhooks: z.array(webhookSchema).default([]),
    /** How often the audit log is read for new events. */
    everyMs: z.number().int().min(100).default(5000),
    /** Attempts per event and webhook before it is given up (logged). */
    maxAttempts: z.number().int().min(1).max(20).default(5),
  })
  .strict();

export const configSchema = z
  .object({
    /** Mapping files or directories, relative to the config file. */
    mappings: z.union([z.string(), z.array(z.string()).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    systems: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'system names are letters, digits, - and _'), systemSchema),
    sources: z.record(z.string(), sourceSchema).default({}),
    scim: scimConfigSchema.default(scimConfigSchema.parse({})),
    api: z
      .object({
        /** Admin API bearer tokens with every role (legacy: prefer auth.tokens); ADMIN_TOKEN (comma-separated) adds to these. */
        tokens: z.array(z.string().min(16, 'an admin token must have at least 16 characters')).default([]),
        bodyLimitBytes: z.number().int().positive().default(1_048_576),
      })
      .strict()
      .default({ tokens: [], bodyLimitBytes: 1_048_576 }),
    /** Sign-in and roles for the console and the admin API. */
    auth: authConfigSchema.default({ session: { maxAgeMinutes: 480 }, tokens: [] }),
    queue: z
      .object({
        prefix: z.string().default('lockstep'),
        concurrency: z.number().int().min(1).max(64).default(4),
        schedules: z
          .object({
            fullReconcileMs: durationMs.default(3_600_000),
            expirySweepMs: durationMs.default(300_000),
            accessEventsMs: durationMs.default(60_000),
          })
          .strict()
          .default({ fullReconcileMs: 3_600_000, expirySweepMs: 300_000, accessEventsMs: 60_000 }),
        /** Identities a full run applies under one set of leases (people whose own job runs are left to it). */
        bucketSize: z.number().int().min(1).default(1000).describe('Identities a full run applies under one set of leases'),
      })
      .strict()
      .default({
        prefix: 'lockstep',
        concurrency: 4,
        schedules: { fullReconcileMs: 3_600_000, expirySweepMs: 300_000, accessEventsMs: 60_000 },
        bucketSize: 1000,
      }),
    executor: z
      .object({
        maxAttempts: z.number().int().min(1).max(20).default(5),
        baseDelayMs: z.number().int().min(0).default(200),
        maxDelayMs: z.number().int().min(0).default(30_000),
        concurrency: z.number().int().min(1).max(64).default(8),
      })
      .strict()
      .default({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 30_000, concurrency: 8 }),
    audit: z
      .object({
        /** Signed checkpoints of the audit chain's head, kept outside the database. */
        checkpoint: checkpointConfigSchema.optional(),
      })
      .strict()
      .default({}),
    /** Webhooks (CloudEvents 1.0 JSON, HMAC-signed, retried) for governance events. */
    notifications: notificationsSchema.default({ webhooks: [], everyMs: 5000, maxAttempts: 5 }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type SystemConfig = z.infer<typeof systemSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type CheckpointConfig = z.infer<typeof checkpointConfigSchema>;
export type CheckpointSinkConfig = z.infer<typeof checkpointSinkSchema>;
export type AuthConfig = z.infer<typeof authConfigSchema>;
export type NotificationsConfig = z.infer<typeof notificationsSchema>;

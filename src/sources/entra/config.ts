import { z } from 'zod';

/** Entra object ids (users, groups, service principals) are GUIDs. */
const objectId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be an object id (GUID)');

/** Identity fields a Graph property may be mapped to; `attributes.<name>` is always allowed. */
const MAPPABLE_FIELDS = ['displayName', 'email', 'employeeType', 'department', 'jobTitle', 'site', 'sponsor', 'hireDate', 'leaveDate', 'contractEnd'] as const;

const mappingTarget = z
  .string()
  .refine(
    (t) => (MAPPABLE_FIELDS as readonly string[]).includes(t) || /^attributes\.[A-Za-z0-9_.-]+$/.test(t),
    `must be one of ${MAPPABLE_FIELDS.join(', ')} or attributes.<name>`,
  );

/** How lockstep signs in to Microsoft Graph. */
const ENTRA_AUTH_METHODS = ['clientSecret', 'certificate', 'managedIdentity', 'workloadIdentity', 'none'] as const;
export type EntraAuthMethod = (typeof ENTRA_AUTH_METHODS)[number];

/** A `sources.<name>` block with `type: entra`. Owned by the Entra source. */
export const entraSourceSchema = z
  .object({
    type: z.literal('entra'),
    tenantId: z.string().min(1),
    /** Application (client) id of the app registration; for managed identity, a user-assigned identity's client id. */
    clientId: z.string().min(1).optional(),
    /** Defaults to clientSecret when clientSecret is set, certificate when certificatePath is set. */
    auth: z.enum(ENTRA_AUTH_METHODS).optional(),
    /** Use `${ENTRA_CLIENT_SECRET}` in lockstep.yaml: never write the secret into the file. */
    clientSecret: z.string().min(1).optional(),
    /** PEM file holding the certificate and its private key. */
    certificatePath: z.string().min(1).optional(),
    certificatePassword: z.string().optional(),
    /** Token authority, e.g. https://login.microsoftonline.us for US Government clouds. */
    authorityHost: z.url({ protocol: /^https$/ }).optional(),
    /** Graph root including the version; a local fake Graph server for tests and benchmarks may go here. */
    graphBaseUrl: z.url({ protocol: /^https?$/ }).default('https://graph.microsoft.com/v1.0'),
    /** Which users are imported: everyone (no groupIds) or the members of these groups. */
    scope: z
      .object({
        groupIds: z.array(objectId).min(1).optional(),
        /** Members of groups nested in the scope groups count as members, for scope and for `groups`. */
        transitive: z.boolean().default(false),
      })
      .strict()
      .default({ transitive: false }),
    /**
     * Whose display names go into an identity's `groups`: `all` groups of the tenant, only the
     * `scope` groups, `none`, or the listed group ids. Default: `scope` with scope.groupIds, else `all`.
     */
    groups: z.union([z.enum(['all', 'scope', 'none']), z.array(objectId).min(1)]).optional(),
    /** Graph property that becomes the identity's externalId (the lock-system correlation key); the object id when empty. */
    externalIdFrom: z.enum(['employeeId', 'id', 'onPremisesImmutableId', 'userPrincipalName']).default('employeeId'),
    /** The manager as Entra object id or as the manager's userPrincipalName. */
    managerAs: z.enum(['id', 'userPrincipalName']).default('id'),
    /** Graph property (dotted for complex ones) → identity field; merged over the defaults; null drops a default. */
    attributes: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/, 'must be a Graph property name'), mappingTarget.nullable()).default({}),
    /** Directory extension properties (`extension_<appid without dashes>_<name>`), kept as attributes.<name>. */
    extensions: z.array(z.string().regex(/^extension_[0-9a-f]{32}_[A-Za-z0-9_]+$/i, 'must look like extension_<appid>_<name>')).default([]),
    /** Service principal object ids whose app-role assignments become the identity's roles. */
    appRoleApplications: z.array(objectId).default([]),
    intervalMs: z.number().int().min(1000).default(60_000),
    /** A full resync that would make more than this share of the source's identities leavers is held. */
    maxRemovalPercent: z.number().min(0).max(100).default(20),
    http: z
      .object({
        /** Attempts per Graph request, the first included. */
        maxAttempts: z.number().int().min(1).max(20).default(6),
        timeoutMs: z.number().int().positive().default(30_000),
        /** Longer Retry-After values are not waited out in-process: the pull fails as rate_limited with retryAfterMs. */
        maxRetryAfterMs: z.number().int().min(0).default(120_000),
      })
      .strict()
      .default({ maxAttempts: 6, timeoutMs: 30_000, maxRetryAfterMs: 120_000 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const auth = resolveAuthMethod(c);
    if (!auth) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'set clientSecret or certificatePath, or auth: managedIdentity | workloadIdentity | none' });
      return;
    }
    if ((auth === 'clientSecret' || auth === 'certificate') && !c.clientId) {
      ctx.addIssue({ code: 'custom', path: ['clientId'], message: `auth ${auth} needs the app registration's clientId` });
    }
    if (auth === 'clientSecret' && !c.clientSecret) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'auth clientSecret needs clientSecret' });
    if (auth === 'certificate' && !c.certificatePath)
      ctx.addIssue({ code: 'custom', path: ['certificatePath'], message: 'auth certificate needs certificatePath' });
    // Without credentials a request may only go to a local fake, never to a real tenant.
    if (auth === 'none' && !isLoopbackUrl(c.graphBaseUrl)) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'auth none is only allowed with a loopback graphBaseUrl (a local fake Graph)' });
    }
    if (c.groups === 'scope' && !c.scope.groupIds) {
      ctx.addIssue({ code: 'custom', path: ['groups'], message: 'groups: scope needs scope.groupIds' });
    }
  });
export type EntraSourceConfig = z.infer<typeof entraSourceSchema>;

/** The auth method the config asks for, explicit or implied by the credentials given. */
export function resolveAuthMethod(c: Pick<EntraSourceConfig, 'auth' | 'clientSecret' | 'certificatePath'>): EntraAuthMethod | null {
  if (c.auth) return c.auth;
  if (c.clientSecret) return 'clientSecret';
  if (c.certificatePath) return 'certificate';
  return null;
}

function isLoopbackUrl(u: string): boolean {
  try {
    const h = new URL(u).hostname;
    return h === 'localhost' || h === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(h);
  } catch {
    return false;
  }
}

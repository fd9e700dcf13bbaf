/**
 * The admin API's OpenAPI 3.1 document, generated from the zod schemas the routes parse and
 * answer with (src/api/schemas.ts, src/api/sources.ts) and the role table (src/api/roles.ts).
 * Served at GET /api/v1/openapi.json and rendered at GET /api/v1/docs (no authentication: it
 * describes the API, it holds no data); committed as docs/openapi.json (`npm run gen:openapi`),
 * and a test fails when the two drift or a route is missing from it.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ROUTE_ROLES, type Role, type RouteKey } from './roles.js';
import { SESSION_COOKIE } from './session.js';
import {
  accessReportSchema,
  violationReportSchema,
  auditListSchema,
  auditVerifyBody,
  auditVerifySchema,
  checkpointVerifySchema,
  errorSchema,
  explainSchema,
  healthSchema,
  incidentListSchema,
  limitQuery,
  lostBody,
  lostOutcomeSchema,
  principalSchema,
  readinessSchema,
  rejectBody,
  roleReportSchema,
  runApprovedSchema,
  runBody,
  runListSchema,
  runRejectedSchema,
  runSchema,
  runStartedSchema,
  CONSOLE_RESPONSES,
} from './schemas.js';
import { sourceSyncResponseSchema } from './sources.js';
import { CONSOLE_ROUTE_ROLES } from './console.js';
import { GOVERNANCE_DOCS } from './governance.js';
import { INCIDENT_DOCS } from './incidents.js';

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(errorSchema, description);
const AUTH_ERRORS = {
  401: err('not signed in, or the bearer token is unknown, expired or for another audience'),
  403: err(
    'the caller lacks the role (`forbidden`, naming the roles in `missing`), or a cookie-authenticated write lacks `X-Requested-With: lockstep` (`csrf`)',
  ),
};

/** `/runs/:id` → `/runs/{id}` */
export const openApiPath = (expressPath: string) => expressPath.replace(/:([A-Za-z_]+)/g, '{$1}');

type Documented = Omit<RouteConfig, 'method' | 'path'> & { tags: string[] };

/** Each admin route under /api/v1: what it takes and answers. Its roles come from ROUTE_ROLES. */
const ADMIN_ROUTES: Record<RouteKey, Documented> = {
  'GET /identities/:who/explain': {
    tags: ['people'],
    summary: 'Explain one person: each entitlement with its rules, role bundles, source roles and validity; what is denied; what each lock system holds',
    request: { params: z.object({ who: z.string().openapi({ description: 'userName or identity id' }) }) },
    responses: { 200: json(explainSchema, 'the explanation'), 404: err('no such identity') },
  },
  'POST /runs': {
    tags: ['runs'],
    summary: 'Plan or apply a reconciliation (everyone, or some identities)',
    description:
      'A plan is recorded and returned (201). An apply in `serve` is queued (202): a full run returns its run id; an identity-scoped apply queues one job per person (runId null). A mass revocation is held for approval.',
    request: { body: { required: false, content: { 'application/json': { schema: runBody } } } },
    responses: {
      201: json(runStartedSchema, 'run done (a plan, or an inline apply)'),
      202: json(runStartedSchema, 'queued'),
      400: err('bad body, naming the field'),
    },
  },
  'GET /runs': {
    tags: ['runs'],
    summary: 'Recent runs, newest first, a page at a time',
    request: {
      query: z.object({
        limit: limitQuery(50, 200),
        before: z.string().optional().openapi({ description: "a run id: the runs created before it (the previous page's `next`)" }),
      }),
    },
    responses: { 200: json(runListSchema, 'runs without their plans (operations: how many)') },
  },
  'GET /runs/:id': {
    tags: ['runs'],
    summary: 'One run with its plan and results; a held run also says who caused it',
    request: { params: z.object({ id: z.string().openapi({ format: 'uuid' }) }) },
    responses: { 200: json(runSchema, 'the run'), 404: err('no such run') },
  },
  'POST /runs/:id/approve': {
    tags: ['runs'],
    summary: 'Approve a held run and apply it (four-eyes: not by whoever started or caused it)',
    description:
      'The scope is planned afresh; if it now takes access from anyone the held plan did not show, it is held again as a new run (`held: true`). 403 with `details.rule: four-eyes` when the caller started or caused the run.',
    request: { params: z.object({ id: z.string().openapi({ description: 'run id or a unique prefix of it' }) }) },
    responses: {
      200: json(runApprovedSchema, 'approved and applied (or held again)'),
      403: err('missing role, or four-eyes'),
      404: err('no such run'),
      409: err('the run is not held (any more)'),
    },
  },
  'POST /runs/:id/reject': {
    tags: ['runs'],
    summary: 'Reject a held run: nothing of it is applied (whoever started it may reject it)',
    request: {
      params: z.object({ id: z.string().openapi({ description: 'run id or a unique prefix of it' }) }),
      body: { required: false, content: { 'application/json': { schema: rejectBody } } },
    },
    responses: { 200: json(runRejectedSchema, 'rejected'), 404: err('no such run'), 409: err('the run is not held (any more)') },
  },
  'GET /reports/access': {
    tags: ['reports'],
    summary: 'Who holds which access group, why, until when, last used: from the lock systems, joined with the policy',
    request: {
      query: z.object({
        format: z.enum(['json', 'csv']).optional(),
        groupBy: z.enum(['role']).optional().openapi({ description: '`role`: holders per role bundle and the role-to-door matrix' }),
        view: z.enum(['holders', 'matrix']).optional().openapi({ description: 'with groupBy=role and format=csv: which table' }),
      }),
    },
    responses: {
      200: {
        description: 'the report (JSON rows, the role report with groupBy=role, or CSV)',
        content: { 'application/json': { schema: z.union([accessReportSchema, roleReportSchema]) }, 'text/csv': { schema: z.string() } },
      },
    },
  },
  'GET /reports/violations': {
    tags: ['reports'],
    summary: 'Held access that breaks an invariant of the mappings (segregation of duties, class requirements): reported, never revoked on its own',
    description: 'Reads every identity and lock system as `lockstep plan` does (see docs/policy-as-code.md).',
    request: { query: z.object({ format: z.enum(['json', 'csv']).optional() }) },
    responses: {
      200: {
        description: 'the invariants and their violations (JSON or CSV)',
        content: { 'application/json': { schema: violationReportSchema }, 'text/csv': { schema: z.string() } },
      },
    },
  },
  'POST /credentials/:system/:id/lost': {
    tags: ['incidents'],
    summary: 'Report a lost credential: suspended (or marked lost) at once, an incident opened with its NIS2 clocks',
    request: {
      params: z.object({ system: z.string(), id: z.string().openapi({ description: 'the credential id in that system' }) }),
      body: { required: false, content: { 'application/json': { schema: lostBody } } },
    },
    responses: {
      200: json(lostOutcomeSchema, 'applied'),
      202: json(lostOutcomeSchema, 'not landed yet: retried in the priority lane'),
      404: err('no such system or credential'),
    },
  },
  'GET /incidents': {
    tags: ['incidents'],
    summary: 'Incidents (lost credentials) with their NIS2 Art. 23 clocks, the reports recorded and the person by name',
    request: { query: z.object({ status: z.enum(['open', 'closed']).optional() }) },
    responses: { 200: json(incidentListSchema, 'incidents') },
  },
  'GET /audit': {
    tags: ['audit'],
    summary: 'The hash-chained audit log, oldest first',
    request: {
      query: z.object({
        subject: z.string().optional().openapi({ description: 'an identity id, `system:account` or a run id' }),
        limit: limitQuery(1000, 10_000),
      }),
    },
    responses: { 200: json(auditListSchema, 'entries') },
  },
  'GET /audit/verify': {
    tags: ['audit'],
    summary: 'Walk the audit chain',
    responses: { 200: json(auditVerifySchema, 'intact'), 409: json(auditVerifySchema, 'broken: where and how') },
  },
  'POST /audit/verify': {
    tags: ['audit'],
    summary: 'Walk the audit chain and check signed checkpoints against it',
    request: { body: { required: true, content: { 'application/json': { schema: auditVerifyBody } } } },
    responses: {
      200: json(checkpointVerifySchema, 'the log holds against its anchors'),
      400: err('no audit.checkpoint configured, or a bad body'),
      409: json(checkpointVerifySchema, 'it does not'),
    },
  },
  'POST /sources/:name/sync': {
    tags: ['sources'],
    summary: 'Pull a configured source (HR export, Entra) now',
    request: { params: z.object({ name: z.string() }) },
    responses: { 200: json(sourceSyncResponseSchema, 'what the pull found: counts, skipped rows, withheld leavers'), 404: err('no such source') },
  },
  ...GOVERNANCE_DOCS,
  ...INCIDENT_DOCS,
};

/** Routes outside /api/v1's admin auth. */
const OPEN_ROUTES: Array<RouteConfig & { tags: string[] }> = [
  { method: 'get', path: '/healthz', tags: ['service'], summary: 'Liveness', responses: { 200: json(healthSchema, 'alive') } },
  {
    method: 'get',
    path: '/readyz',
    tags: ['service'],
    summary: 'Readiness: store, Redis, overdue revocations, pending changes',
    responses: { 200: json(readinessSchema, 'ready'), 503: json(readinessSchema, 'not ready') },
  },
  {
    method: 'get',
    path: '/metrics',
    tags: ['service'],
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
  },
  {
    method: 'get',
    path: '/auth/login',
    tags: ['sign-in'],
    summary: 'Start an OIDC sign-in (authorization code with PKCE): redirects to the provider',
    request: {
      query: z.object({
        returnTo: z.string().optional().openapi({ description: 'a path on this service to land on afterwards (default /ui/)' }),
        login_hint: z.string().optional().openapi({ description: 'passed to the provider' }),
      }),
    },
    responses: {
      302: { description: 'to the provider; sets the short-lived `lockstep_login` cookie' },
      404: err('OIDC is not configured'),
      503: err('the provider cannot be reached'),
    },
  },
  {
    method: 'get',
    path: '/auth/callback',
    tags: ['sign-in'],
    summary: 'The redirect URI: redeems the code, sets the session cookie, returns to returnTo',
    request: { query: z.object({ code: z.string().optional(), state: z.string().optional(), error: z.string().optional() }) },
    responses: {
      302: { description: `to returnTo; sets \`${SESSION_COOKIE}\` (HttpOnly, SameSite=Lax, Secure on https)` },
      400: err('no sign-in in progress'),
      401: err('the provider refused, or the code, state, nonce or PKCE check failed'),
    },
  },
  {
    method: 'post',
    path: '/auth/logout',
    tags: ['sign-in'],
    summary: 'Sign out: clears the session cookie (needs X-Requested-With: lockstep)',
    responses: { 204: { description: 'signed out' }, 403: err('no X-Requested-With: lockstep') },
  },
  {
    method: 'get',
    path: '/auth/me',
    tags: ['sign-in'],
    summary: 'Who the caller is (cookie or bearer), and their roles',
    security: [{ bearer: [] }, { session: [] }],
    responses: { 200: json(principalSchema, 'the caller'), 401: err('not signed in') },
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    tags: ['service'],
    summary: 'This document',
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
  },
  {
    method: 'get',
    path: '/api/v1/docs',
    tags: ['service'],
    summary: 'This document as a page',
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } },
  },
];

const rolesText = (roles: readonly Role[]) => `Roles: ${roles.join(', ')}.`;

let cached: Record<string, unknown> | null = null;

/** The document (built once; the same object every call). */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'a static token (ADMIN_TOKEN, auth.tokens) or an OIDC access token of the configured issuer and audience',
  });
  registry.registerComponent('securitySchemes', 'session', {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: 'the console session from GET /auth/login; a request that changes something must also send `X-Requested-With: lockstep` (CSRF defence)',
  });
  registry.register('Error', errorSchema);
  registry.register('SourceSyncResponse', sourceSyncResponseSchema);
  for (const r of OPEN_ROUTES) registry.registerPath(r);
  for (const [key, doc] of Object.entries(ADMIN_ROUTES) as Array<[RouteKey, Documented]>) {
    const [method, path] = key.split(' ') as [string, string];
    const roles = ROUTE_ROLES[key];
    registry.registerPath({
      ...doc,
      method: method.toLowerCase() as RouteConfig['method'],
      path: `/api/v1${openApiPath(path)}`,
      description: [doc.description, rolesText(roles)].filter(Boolean).join('\n\n'),
      security: [{ bearer: [] }, { session: [] }],
      responses: { ...AUTH_ERRORS, ...doc.responses },
      'x-lockstep-roles': [...roles],
    });
  }
  // the web console's own routes (src/api/console.ts): listed with their roles; their shapes are the console's
  for (const [key, roles] of Object.entries(CONSOLE_ROUTE_ROLES)) {
    const [method, path] = key.split(' ') as [string, string];
    registry.registerPath({
      method: method.toLowerCase() as RouteConfig['method'],
      path: `/api/v1${openApiPath(path)}`,
      tags: ['console'],
      summary: `Console: ${key} (src/api/console.ts)`,
      description: `A route of the web console's API; its request and response are the console's own and may change with it.\n\n${rolesText(roles as readonly Role[])}`,
      security: [{ bearer: [] }, { session: [] }],
      ...(method === 'POST' ? { request: { body: { required: false, content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } } } : {}),
      responses: {
        ...AUTH_ERRORS,
        200: json(CONSOLE_RESPONSES[key] ?? z.record(z.string(), z.unknown()), "the console's answer"),
        400: err('bad input, naming the field'),
      },
      'x-lockstep-roles': [...roles],
    });
  }
  const gen = new OpenApiGeneratorV31(registry.definitions);
  cached = gen.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'lockstep admin API',
      version: '1',
      description:
        'The admin API of lockstep, the identity-governance connector for physical access. Sign in with OIDC (the console) or send a bearer token; each operation names the roles that may call it (viewer, operator, approver, auditor). Errors are `{ error: { code, message, field? } }`.',
    },
    servers: [{ url: '/' }],
  }) as unknown as Record<string, unknown>;
  return cached;
}

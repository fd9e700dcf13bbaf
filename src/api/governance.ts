/**
 * Governance routes of the admin API (issue 15): access exceptions. Mounted under /api/v1
 * behind the admin auth by createApp; each route is guarded by its roles in src/api/roles.ts,
 * and documented from GOVERNANCE_DOCS in the OpenAPI document.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { LockstepError } from '../domain/errors.js';
import type { AccessException } from '../domain/governance.js';
import type { EngineContext, Scope } from '../reconcile/index.js';
import {
  approveAccessRequest,
  createAccessException,
  createAccessRequest,
  denyAccessRequest,
  findAccessExceptions,
  findAccessRequests,
  decideReviewItem,
  listReviewCampaigns,
  removeAccessException,
  reviewReport,
  reviewReportCsv,
  startReview,
  type Caller,
} from '../governance/index.js';
import { getRequest } from '../store/requests.js';
import { personNames, type PersonName } from '../store/people.js';
import type { Principal } from './auth.js';
import { getException } from '../store/access-exceptions.js';
import { requireRole } from './auth.js';
import { ROUTE_ROLES, type RouteKey } from './roles.js';
import { errorSchema, limitQuery } from './schemas.js';

export interface GovernanceDeps {
  ctx: EngineContext;
  /** How the person's reconciliation is started (the queue in serve, inline otherwise). */
  startRun: (scope: Scope, opts: { apply: boolean; actor: string }) => Promise<{ runId: string | null; queued: boolean }>;
}

const instant = z.string().openapi({ format: 'date-time' });
const personSchema = z
  .object({ userName: z.string(), displayName: z.string().nullable(), externalId: z.string() })
  .nullable()
  .optional()
  .openapi({ description: 'the person, by name (in lists)' });
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);

export const exceptionBody = z
  .strictObject({
    identity: text(300).openapi({ description: 'the person: userName or identity id' }),
    accessGroup: text(200).openapi({ description: 'mapping id of the access group to deny' }),
    until: text(40).openapi({ description: 'ISO date (the end of that day, UTC) or date-time with a zone; must be in the future', example: '2026-12-31' }),
    reason: text(1000).openapi({ description: 'why: a review, a manual decision (in the audit log)' }),
  })
  .openapi('ExceptionRequest');

export const exceptionRemoveBody = z
  .strictObject({ reason: text(1000).openapi({ description: 'why the exception ends early (in the audit log)' }) })
  .openapi('ExceptionRemoval');

export const exceptionSchema = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    identityId: z.string(),
    accessGroupId: z.string(),
    until: instant,
    reason: z.string(),
    source: z.enum(['manual', 'review']),
    sourceRef: z.string().nullable(),
    createdBy: z.string(),
    createdAt: instant,
    removedAt: instant.nullable(),
    removedBy: z.string().nullable(),
    removedReason: z.string().nullable(),
    person: personSchema,
  })
  .openapi('AccessException');

export const requestBody = z
  .strictObject({
    identity: text(300).openapi({ description: 'who needs the access: userName or identity id (yourself, someone you manage, or anyone for an operator)' }),
    accessGroup: text(200).optional().openapi({ description: 'the access group asked for (or role)' }),
    role: text(200).optional().openapi({ description: 'the role bundle asked for (or accessGroup)' }),
    from: text(40).optional().openapi({ description: 'ISO date or date-time; default now' }),
    until: text(40).openapi({
      description: "ISO date (end of that day, UTC) or date-time; at most the class's maximum validity after from",
      example: '2026-07-31',
    }),
    justification: text(1000),
  })
  .openapi('AccessRequestInput');
export const decisionBody = z.strictObject({ comment: z.string().trim().max(1000, 'at most 1000 characters').optional() }).openapi('RequestDecision');
export const denyBody = z.strictObject({ comment: text(1000).openapi({ description: 'why (in the audit log)' }) }).openapi('RequestDenial');

const stepSchema = z.object({
  kind: z.enum(['owner', 'approver', 'sponsor']),
  who: z.string().nullable().openapi({ description: 'the owner or sponsor who may give it; null: any approver' }),
  groups: z.array(z.string()),
  approvedBy: z.string().nullable(),
  approvedAt: instant.nullable(),
  comment: z.string().nullable(),
});
export const requestSchema = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    identityId: z.string(),
    kind: z.enum(['accessGroup', 'role']),
    target: z.string(),
    groups: z.array(z.string()),
    validFrom: instant,
    validUntil: instant,
    justification: z.string(),
    status: z.enum(['pending', 'approved', 'denied']),
    steps: z.array(stepSchema),
    requestedBy: z.string(),
    createdAt: instant,
    decidedAt: instant.nullable(),
    decidedBy: z.string().nullable(),
    decisionComment: z.string().nullable(),
    person: personSchema,
  })
  .openapi('AccessRequest');

export const reviewStartBody = z.strictObject({ review: text(200).openapi({ description: 'the id of a review the mappings declare' }) }).openapi('ReviewStart');
export const reviewDecisionBody = z
  .strictObject({
    decision: z.enum(['keep', 'revoke']),
    comment: z.string().trim().max(1000, 'at most 1000 characters').optional().openapi({ description: 'why; required to revoke' }),
  })
  .openapi('ReviewDecision');
export const campaignSchema = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    reviewId: z.string(),
    status: z.enum(['open', 'closed']),
    startedAt: instant,
    startedBy: z.string(),
    deadline: instant,
    nextReminderAt: instant.nullable(),
    revokeUntil: instant.openapi({ description: "until when a revoke's exception lasts" }),
    undecided: z.enum(['keep', 'revoke']),
    closedAt: instant.nullable(),
  })
  .openapi('ReviewCampaign');
export const reviewItemSchema = z
  .object({
    id: z.string().openapi({ format: 'uuid' }),
    campaignId: z.string(),
    identityId: z.string(),
    userName: z.string(),
    accessGroupId: z.string(),
    reviewerKind: z.enum(['owner', 'manager', 'sponsor']).nullable(),
    reviewer: z.string().nullable().openapi({ description: 'who decides; null: any approver' }),
    decision: z.enum(['keep', 'revoke']).nullable(),
    decidedBy: z.string().nullable(),
    decidedAt: instant.nullable(),
    comment: z.string().nullable(),
    decidedVia: z.enum(['reviewer', 'deadline']).nullable(),
    exceptionId: z.string().nullable(),
  })
  .openapi('ReviewItem');
export const reviewReportSchema = z
  .object({
    campaign: campaignSchema,
    summary: z.object({
      items: z.number().int(),
      kept: z.number().int(),
      revoked: z.number().int(),
      undecided: z.number().int(),
      byDeadline: z.number().int(),
    }),
    items: z.array(reviewItemSchema),
  })
  .openapi('ReviewReport');

const runRefSchema = z.object({ runId: z.string().nullable(), queued: z.boolean() }).openapi({ description: "the person's reconciliation, started at once" });
const exceptionCreatedSchema = z.object({ exception: exceptionSchema, run: runRefSchema });
const exceptionListSchema = z.object({ exceptions: z.array(exceptionSchema) });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const field = i.path.join('.') || 'body';
    throw new LockstepError('validation', `${field}: ${i.message}`, { field, details: r.error.issues });
  }
  return r.data;
}

function queryText(v: unknown, name: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || v.length > 300) throw new LockstepError('validation', `${name} must be one string of at most 300 characters`, { field: name });
  return v;
}

function queryLimit(v: unknown, def: number, max: number): number {
  if (v === undefined || v === '') return def;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) < 1)
    throw new LockstepError('validation', `limit must be a whole number from 1 to ${max}`, { field: 'limit' });
  return Math.min(max, Number(v));
}

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

const view = (e: AccessException) => e;

/** The person a list item is about, by name (issue 26: lists name people, not ids). */
function personRef(names: Map<string, PersonName>, id: string): { userName: string; displayName: string | null; externalId: string } | null {
  const p = names.get(id);
  return p ? { userName: p.userName, displayName: p.displayName, externalId: p.externalId } : null;
}

/** The caller as governance checks them: the names they sign in with (a token's name, an OIDC name and email). */
function callerOf(res: Response): Caller {
  const p = res.locals.principal as Principal | undefined;
  const actor = res.locals.actor as string;
  return { actor, names: [p?.name, p?.email].filter((x): x is string => typeof x === 'string' && x !== ''), roles: p?.roles ?? [] };
}

export function createGovernanceRouter(deps: GovernanceDeps): Router {
  const { ctx } = deps;
  const router = express.Router();
  const may = (route: RouteKey) => requireRole(ROUTE_ROLES[route]);
  const actorOf = (res: Response) => res.locals.actor as string;

  router.get(
    '/access-groups',
    may('GET /access-groups'),
    h(async (_req, res) => {
      const declared = new Map(ctx.policy.mappings.accessGroups.map((g) => [g.id, g]));
      const accessGroups = [...ctx.policy.accessGroups.values()].map((g) => {
        const cls = ctx.policy.classes[g.protectionClass];
        return {
          id: g.id,
          name: g.name,
          system: g.system,
          ref: g.ref,
          protectionClass: g.protectionClass,
          owner: declared.get(g.id)?.owner ?? null,
          maxValidity: cls?.maxValidity ? { ms: cls.maxValidity.ms, text: cls.maxValidity.text } : null,
          sponsorRequired: cls?.sponsorRequired ?? false,
        };
      });
      res.json({ accessGroups });
    }),
  );

  router.post(
    '/exceptions',
    may('POST /exceptions'),
    h(async (req, res) => {
      const b = parseBody(exceptionBody, req.body);
      const actor = actorOf(res);
      const { exception, identity } = await createAccessException(ctx, {
        who: b.identity,
        accessGroupId: b.accessGroup,
        until: b.until,
        reason: b.reason,
        actor,
      });
      // the revocation happens now, through the guard and the budget like any other
      const run = await deps.startRun({ kind: 'identities', ids: [identity.id] }, { apply: true, actor });
      res.status(201).json({ exception: view(exception), run });
    }),
  );
  router.get(
    '/exceptions',
    may('GET /exceptions'),
    h(async (req, res) => {
      const all = req.query.all === 'true' || req.query.all === '1';
      const exceptions = await findAccessExceptions(ctx, {
        who: queryText(req.query.identity, 'identity'),
        accessGroupId: queryText(req.query.accessGroup, 'accessGroup'),
        all,
        limit: queryLimit(req.query.limit, 1000, 10_000),
      });
      const names = await personNames(
        ctx.db,
        exceptions.map((e) => e.identityId),
      );
      res.json({ exceptions: exceptions.map((e) => ({ ...view(e), person: personRef(names, e.identityId) })) });
    }),
  );
  router.get(
    '/exceptions/:id',
    may('GET /exceptions/:id'),
    h(async (req, res) => {
      const e = await getException(ctx.db, String(req.params.id));
      if (!e) throw new LockstepError('not_found', `no exception ${req.params.id}`, { field: 'id' });
      res.json(view(e));
    }),
  );
  router.delete(
    '/exceptions/:id',
    may('DELETE /exceptions/:id'),
    h(async (req, res) => {
      const b = parseBody(exceptionRemoveBody, req.body);
      const actor = actorOf(res);
      const exception = await removeAccessException(ctx, String(req.params.id), { actor, reason: b.reason });
      // the person may be granted the group again now
      const run = await deps.startRun({ kind: 'identities', ids: [exception.identityId] }, { apply: true, actor });
      res.json({ exception: view(exception), run });
    }),
  );

  router.post(
    '/requests',
    may('POST /requests'),
    h(async (req, res) => {
      const b = parseBody(requestBody, req.body);
      const request = await createAccessRequest(
        ctx,
        { who: b.identity, accessGroup: b.accessGroup, role: b.role, from: b.from, until: b.until, justification: b.justification },
        callerOf(res),
      );
      res.status(201).json(request);
    }),
  );
  router.get(
    '/requests',
    may('GET /requests'),
    h(async (req, res) => {
      const status = queryText(req.query.status, 'status');
      if (status !== undefined && !['pending', 'approved', 'denied'].includes(status))
        throw new LockstepError('validation', 'status must be pending, approved or denied', { field: 'status' });
      const requests = await findAccessRequests(ctx, {
        who: queryText(req.query.identity, 'identity'),
        status: status as 'pending' | undefined,
        limit: queryLimit(req.query.limit, 1000, 10_000),
      });
      const names = await personNames(
        ctx.db,
        requests.map((r) => r.identityId),
      );
      res.json({ requests: requests.map((r) => ({ ...r, person: personRef(names, r.identityId) })) });
    }),
  );
  router.get(
    '/requests/:id',
    may('GET /requests/:id'),
    h(async (req, res) => {
      const r = await getRequest(ctx.db, String(req.params.id));
      if (!r) throw new LockstepError('not_found', `no request ${req.params.id}`, { field: 'id' });
      res.json(r);
    }),
  );
  router.post(
    '/requests/:id/approve',
    may('POST /requests/:id/approve'),
    h(async (req, res) => {
      const b = parseBody(decisionBody, req.body);
      const caller = callerOf(res);
      const request = await approveAccessRequest(ctx, String(req.params.id), caller, b.comment || null);
      // approved: the grant is applied now (and ends on time, as the person's next check)
      const run =
        request.status === 'approved' ? await deps.startRun({ kind: 'identities', ids: [request.identityId] }, { apply: true, actor: caller.actor }) : null;
      res.json({ request, run });
    }),
  );
  router.post(
    '/requests/:id/deny',
    may('POST /requests/:id/deny'),
    h(async (req, res) => {
      const b = parseBody(denyBody, req.body);
      res.json({ request: await denyAccessRequest(ctx, String(req.params.id), callerOf(res), b.comment) });
    }),
  );

  router.get(
    '/reviews',
    may('GET /reviews'),
    h(async (req, res) => {
      const status = queryText(req.query.status, 'status');
      if (status !== undefined && status !== 'open' && status !== 'closed')
        throw new LockstepError('validation', 'status must be open or closed', { field: 'status' });
      res.json({
        campaigns: await listReviewCampaigns(ctx.db, {
          reviewId: queryText(req.query.review, 'review'),
          status,
          limit: queryLimit(req.query.limit, 1000, 10_000),
        }),
      });
    }),
  );
  router.post(
    '/reviews',
    may('POST /reviews'),
    h(async (req, res) => {
      const b = parseBody(reviewStartBody, req.body);
      const started = await startReview(ctx, b.review, actorOf(res));
      res.status(201).json(started);
    }),
  );
  router.get(
    '/reviews/:id',
    may('GET /reviews/:id'),
    h(async (req, res) => {
      res.json(await reviewReport(ctx, String(req.params.id)));
    }),
  );
  router.post(
    '/reviews/:id/items/:item/decide',
    may('POST /reviews/:id/items/:item/decide'),
    h(async (req, res) => {
      const b = parseBody(reviewDecisionBody, req.body);
      const caller = callerOf(res);
      const item = await decideReviewItem(ctx, String(req.params.id), String(req.params.item), caller, b.decision, b.comment ?? null);
      // a revoke takes the door now, through the guard and the budget
      const run = item.exceptionId ? await deps.startRun({ kind: 'identities', ids: [item.identityId] }, { apply: true, actor: caller.actor }) : null;
      res.json({ item, run });
    }),
  );
  router.get(
    '/reviews/:id/report',
    may('GET /reviews/:id/report'),
    h(async (req, res) => {
      const r = await reviewReport(ctx, String(req.params.id));
      if (req.query.format === 'csv')
        res
          .type('text/csv')
          .attachment(`review-${r.campaign.reviewId}-${r.campaign.startedAt.slice(0, 10)}.csv`)
          .send(reviewReportCsv(r));
      else if (req.query.format === undefined || req.query.format === 'json') res.json(r);
      else throw new LockstepError('validation', 'format must be json or csv', { field: 'format' });
    }),
  );
  return router;
}

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(errorSchema, description);
const idParam = z.object({ id: z.string().openapi({ format: 'uuid' }) });

/** The governance routes' documentation (openapi.ts adds the roles and the auth errors). */
export const accessGroupListSchema = z
  .object({
    accessGroups: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        system: z.string(),
        ref: z.string(),
        protectionClass: z.number().int(),
        owner: z.string().nullable().openapi({ description: 'who approves access requests for it (accessGroups[].owner); null: any approver' }),
        maxValidity: z
          .object({ ms: z.number(), text: z.string() })
          .nullable()
          .openapi({ description: "the class's longest window (maxValidityDays or maxValidity); null: none" }),
        sponsorRequired: z.boolean().openapi({ description: 'non-employees need an active sponsor for this class' }),
      }),
    ),
  })
  .openapi('AccessGroupList');

export const GOVERNANCE_DOCS = {
  'GET /access-groups': {
    tags: ['governance'],
    summary: 'The access groups the mappings declare, with their protection class, its limits and their owner',
    description: 'What an access request may ask for, and what a governance tool (the SailPoint connector) shows as entitlements.',
    responses: { 200: json(accessGroupListSchema, 'the access groups') },
  },
  'POST /exceptions': {
    tags: ['governance'],
    summary: 'Record an access exception: deny an access group to a person until a date, and reconcile them at once',
    description:
      'The group is denied even where rules grant it; explain and the access report show the exception as the reason. It ends on time (the person is looked at again at `until` and granted the group again if the rules still say so). The revocation goes through the mass-revocation guard and the revocation budget. In the audit log as `exception.created`.',
    request: { body: { required: true, content: { 'application/json': { schema: exceptionBody } } } },
    responses: {
      201: json(exceptionCreatedSchema, 'recorded; the reconciliation started'),
      400: err('bad body, naming the field (an unknown access group, an until not in the future)'),
      404: err('no such identity'),
    },
  },
  'GET /exceptions': {
    tags: ['governance'],
    summary: 'Access exceptions in force (all=true: also ended and removed ones), newest first',
    request: {
      query: z.object({
        identity: z.string().optional().openapi({ description: 'userName or identity id' }),
        accessGroup: z.string().optional(),
        all: z.enum(['true', 'false']).optional(),
        limit: limitQuery(1000, 10_000),
      }),
    },
    responses: { 200: json(exceptionListSchema, 'exceptions'), 404: err('no such identity') },
  },
  'GET /exceptions/:id': {
    tags: ['governance'],
    summary: 'One access exception',
    request: { params: idParam },
    responses: { 200: json(exceptionSchema, 'the exception'), 404: err('no such exception') },
  },
  'DELETE /exceptions/:id': {
    tags: ['governance'],
    summary: 'End an access exception early (it stays as the record) and reconcile the person',
    description: 'In the audit log as `exception.removed` with its reason.',
    request: { params: idParam, body: { required: true, content: { 'application/json': { schema: exceptionRemoveBody } } } },
    responses: {
      200: json(z.object({ exception: exceptionSchema, run: runRefSchema }), 'removed; the reconciliation started'),
      400: err('no reason'),
      404: err('no such exception'),
      409: err('already removed'),
    },
  },
  'POST /requests': {
    tags: ['governance'],
    summary: 'Request an access group or a role bundle for a time window (for yourself, someone you manage, or, as an operator, anyone)',
    description:
      "The class limits apply at once: a window longer than the class's maximum validity is a 400 naming `until`; a non-employee in a class that requires a sponsor needs an active one. It then waits for the group's owner (any approver where the mappings declare none) and, for such non-employees, the sponsor. In the audit log as `request.created`.",
    request: { body: { required: true, content: { 'application/json': { schema: requestBody } } } },
    responses: {
      201: json(requestSchema, 'recorded, pending approval'),
      400: err('bad body, naming the field'),
      403: err('not the person, their manager or an operator'),
      404: err('no such identity'),
    },
  },
  'GET /requests': {
    tags: ['governance'],
    summary: 'Access requests, newest first',
    request: {
      query: z.object({ identity: z.string().optional(), status: z.enum(['pending', 'approved', 'denied']).optional(), limit: limitQuery(1000, 10_000) }),
    },
    responses: { 200: json(z.object({ requests: z.array(requestSchema) }), 'requests') },
  },
  'GET /requests/:id': {
    tags: ['governance'],
    summary: 'One access request with its approval steps',
    request: { params: idParam },
    responses: { 200: json(requestSchema, 'the request'), 404: err('no such request') },
  },
  'POST /requests/:id/approve': {
    tags: ['governance'],
    summary: "Approve a request as the group's owner or the person's sponsor (four-eyes: not the requester, not the person)",
    description:
      'Gives every open step the caller may give (`request.approval` in the audit log); once every step is given the request is approved (`request.approved`), a time-bound grant with the request as its reason, applied at once and ending on time.',
    request: { params: idParam, body: { required: false, content: { 'application/json': { schema: decisionBody } } } },
    responses: {
      200: json(z.object({ request: requestSchema, run: runRefSchema.nullable() }), 'approved (run started) or still waiting for another step'),
      403: err('four-eyes, or the caller approves no open step'),
      404: err('no such request'),
      409: err('not pending'),
    },
  },
  'POST /requests/:id/deny': {
    tags: ['governance'],
    summary: 'Deny a request (as one of its approvers), with a comment',
    request: { params: idParam, body: { required: true, content: { 'application/json': { schema: denyBody } } } },
    responses: {
      200: json(z.object({ request: requestSchema }), 'denied'),
      400: err('no comment'),
      403: err('four-eyes, or not an approver of it'),
      404: err('no such request'),
      409: err('not pending'),
    },
  },
  'GET /reviews': {
    tags: ['governance'],
    summary: 'Access review campaigns, newest first',
    request: {
      query: z.object({
        review: z.string().optional().openapi({ description: 'a declared review id' }),
        status: z.enum(['open', 'closed']).optional(),
        limit: limitQuery(1000, 10_000),
      }),
    },
    responses: { 200: json(z.object({ campaigns: z.array(campaignSchema) }), 'campaigns') },
  },
  'POST /reviews': {
    tags: ['governance'],
    summary: 'Start a campaign of a declared review now (one item per person entitled to a group in its scope)',
    description: 'In the audit log as `review.started`. Campaigns also start on schedule (`every`), from the maintenance timer.',
    request: { body: { required: true, content: { 'application/json': { schema: reviewStartBody } } } },
    responses: {
      201: json(z.object({ campaign: campaignSchema, items: z.array(reviewItemSchema) }), 'started'),
      404: err('no such review in the mappings'),
      409: err('a campaign of it is open'),
    },
  },
  'GET /reviews/:id': {
    tags: ['governance'],
    summary: 'One campaign with its items and their decisions',
    request: { params: idParam },
    responses: { 200: json(reviewReportSchema, 'the campaign'), 404: err('no such campaign') },
  },
  'POST /reviews/:id/items/:item/decide': {
    tags: ['governance'],
    summary: "Keep or revoke one item, as its reviewer (the group's owner, the person's manager or sponsor; any approver where it has none)",
    description:
      'A revoke is an access exception with the review as its reason, until the next campaign (or the declared revokeFor), applied at once through the guard and budget. In the audit log as `review.decided`. Nobody reviews their own access (four-eyes).',
    request: {
      params: z.object({ id: z.string().openapi({ format: 'uuid' }), item: z.string().openapi({ format: 'uuid' }) }),
      body: { required: true, content: { 'application/json': { schema: reviewDecisionBody } } },
    },
    responses: {
      200: json(z.object({ item: reviewItemSchema, run: runRefSchema.nullable() }), 'decided'),
      400: err('bad body (a revoke needs a comment)'),
      403: err('not the reviewer, or their own access'),
      404: err('no such campaign or item'),
      409: err('closed, or decided already'),
    },
  },
  'GET /reviews/:id/report': {
    tags: ['governance'],
    summary: 'The evidence of a campaign: who reviewed what, when, with which outcome (JSON or CSV)',
    request: { params: idParam, query: z.object({ format: z.enum(['json', 'csv']).optional() }) },
    responses: {
      200: { description: 'the report', content: { 'application/json': { schema: reviewReportSchema }, 'text/csv': { schema: z.string() } } },
      404: err('no such campaign'),
    },
  },
} satisfies Partial<Record<RouteKey, Omit<RouteConfig, 'method' | 'path'> & { tags: string[] }>>;

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
import { createAccessException, findAccessExceptions, removeAccessException, type EngineContext, type Scope } from '../reconcile/index.js';
import { getException } from '../store/exceptions.js';
import { requireRole } from './auth.js';
import { ROUTE_ROLES, type RouteKey } from './roles.js';
import { errorSchema, limitQuery } from './schemas.js';

export interface GovernanceDeps {
  ctx: EngineContext;
  /** How the person's reconciliation is started (the queue in serve, inline otherwise). */
  startRun: (scope: Scope, opts: { apply: boolean; actor: string }) => Promise<{ runId: string | null; queued: boolean }>;
}

const instant = z.string().openapi({ format: 'date-time' });
const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);

export const exceptionBody = z
  .strictObject({
    identity: text(300).openapi({ description: 'the person: userName or identity id' }),
    accessGroup: text(200).openapi({ description: 'mapping id of the access group to deny' }),
    until: text(40).openapi({ description: 'ISO date (the end of that day, UTC) or date-time with a zone; must be in the future', example: '2026-12-31' }),
    reason: text(1000).openapi({ description: 'why: a review, a manual decision (in the audit log)' }),
  })
  .openapi('ExceptionRequest');

export const exceptionRemoveBody = z.strictObject({ reason: text(1000).openapi({ description: 'why the exception ends early (in the audit log)' }) }).openapi('ExceptionRemoval');

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
  })
  .openapi('AccessException');

const runRefSchema = z.object({ runId: z.string().nullable(), queued: z.boolean() }).openapi({ description: "the person's reconciliation, started at once" });
const exceptionCreatedSchema = z.object({ exception: exceptionSchema, run: runRefSchema });
const exceptionListSchema = z.object({ exceptions: z.array(exceptionSchema) });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0]!;
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
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) < 1) throw new LockstepError('validation', `limit must be a whole number from 1 to ${max}`, { field: 'limit' });
  return Math.min(max, Number(v));
}

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

const view = (e: AccessException) => e;

export function createGovernanceRouter(deps: GovernanceDeps): Router {
  const { ctx } = deps;
  const router = express.Router();
  const may = (route: RouteKey) => requireRole(ROUTE_ROLES[route]);
  const actorOf = (res: Response) => res.locals.actor as string;

  router.post(
    '/exceptions',
    may('POST /exceptions'),
    h(async (req, res) => {
      const b = parseBody(exceptionBody, req.body);
      const actor = actorOf(res);
      const { exception, identity } = await createAccessException(ctx, { who: b.identity, accessGroupId: b.accessGroup, until: b.until, reason: b.reason, actor });
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
      res.json({ exceptions: exceptions.map(view) });
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
  return router;
}

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(errorSchema, description);
const idParam = z.object({ id: z.string().openapi({ format: 'uuid' }) });

/** The governance routes' documentation (openapi.ts adds the roles and the auth errors). */
export const GOVERNANCE_DOCS = {
  'POST /exceptions': {
    tags: ['governance'],
    summary: 'Record an access exception: deny an access group to a person until a date, and reconcile them at once',
    description:
      'The group is denied even where rules grant it; explain and the access report show the exception as the reason. It ends on time (the person is looked at again at `until` and granted the group again if the rules still say so). The revocation goes through the mass-revocation guard and the revocation budget. In the audit log as `exception.created`.',
    request: { body: { required: true, content: { 'application/json': { schema: exceptionBody } } } },
    responses: { 201: json(exceptionCreatedSchema, 'recorded; the reconciliation started'), 400: err('bad body, naming the field (an unknown access group, an until not in the future)'), 404: err('no such identity') },
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
    responses: { 200: json(z.object({ exception: exceptionSchema, run: runRefSchema }), 'removed; the reconciliation started'), 400: err('no reason'), 404: err('no such exception'), 409: err('already removed') },
  },
} satisfies Partial<Record<RouteKey, Omit<RouteConfig, 'method' | 'path'> & { tags: string[] }>>;

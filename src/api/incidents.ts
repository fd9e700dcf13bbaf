/**
 * The incident lifecycle routes (issue 26, NIS2 Art. 23): one incident, acknowledge it, record a
 * report as sent, close it. Mounted under /api/v1 behind the admin auth by createApp; guarded by
 * ROUTE_ROLES and documented from INCIDENT_DOCS. Every step is in the audit log.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { LockstepError } from '../domain/errors.js';
import type { EngineContext } from '../reconcile/index.js';
import { acknowledgeIncident, closeIncident, getIncidentView, recordIncidentReport } from '../governance/index.js';
import { requireRole } from './auth.js';
import { ROUTE_ROLES, type RouteKey } from './roles.js';
import { errorSchema, incidentSchema, incidentStepEnum } from './schemas.js';

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);

export const incidentAckBody = z.strictObject({ note: z.string().trim().max(1000, 'at most 1000 characters').optional() }).openapi('IncidentAcknowledgement');
export const incidentReportBody = z
  .strictObject({
    step: incidentStepEnum.openapi({ description: 'which report was sent: the early warning (24 h), the notification (72 h) or the final report (one month)' }),
    reference: text(300).openapi({ description: "the CSIRT's or authority's reference, or where the report is filed" }),
    sentAt: z.string().trim().max(40).optional().openapi({ description: 'when it was sent (ISO date-time with a zone); default now' }),
  })
  .openapi('IncidentReport');
export const incidentCloseBody = z
  .strictObject({ reason: text(1000).openapi({ description: 'why it is closed (in the audit log)' }) })
  .openapi('IncidentClosure');

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const field = i.path.join('.') || 'body';
    throw new LockstepError('validation', `${field}: ${i.message}`, { field, details: r.error.issues });
  }
  return r.data;
}

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

export function createIncidentRouter(ctx: EngineContext): Router {
  const r = express.Router();
  const may = (route: RouteKey) => requireRole(ROUTE_ROLES[route]);
  r.get(
    '/incidents/:id',
    may('GET /incidents/:id'),
    h(async (req, res) => {
      res.json(await getIncidentView(ctx, String(req.params.id)));
    }),
  );
  r.post(
    '/incidents/:id/ack',
    may('POST /incidents/:id/ack'),
    h(async (req, res) => {
      const b = parseBody(incidentAckBody, req.body);
      res.json(await acknowledgeIncident(ctx, String(req.params.id), { actor: res.locals.actor as string, note: b.note ?? null }));
    }),
  );
  r.post(
    '/incidents/:id/report',
    may('POST /incidents/:id/report'),
    h(async (req, res) => {
      const b = parseBody(incidentReportBody, req.body);
      res.json(
        await recordIncidentReport(ctx, String(req.params.id), {
          step: b.step,
          reference: b.reference,
          sentAt: b.sentAt ?? null,
          actor: res.locals.actor as string,
        }),
      );
    }),
  );
  r.post(
    '/incidents/:id/close',
    may('POST /incidents/:id/close'),
    h(async (req, res) => {
      const b = parseBody(incidentCloseBody, req.body);
      res.json(await closeIncident(ctx, String(req.params.id), { reason: b.reason, actor: res.locals.actor as string }));
    }),
  );
  return r;
}

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(errorSchema, description);
const idParam = z.object({ id: z.string().openapi({ description: 'the incident id, or a unique prefix of it (at least 4 characters)' }) });

export const INCIDENT_DOCS = {
  'GET /incidents/:id': {
    tags: ['incidents'],
    summary: 'One incident with its NIS2 clocks, the reports recorded and the person',
    request: { params: idParam },
    responses: { 200: json(incidentSchema, 'the incident'), 404: err('no such incident') },
  },
  'POST /incidents/:id/ack': {
    tags: ['incidents'],
    summary: 'Acknowledge an incident: someone has taken it on (the clocks keep running)',
    description: 'In the audit log as `incident.acknowledged`. 409 when it was acknowledged before or is closed.',
    request: { params: idParam, body: { required: false, content: { 'application/json': { schema: incidentAckBody } } } },
    responses: { 200: json(incidentSchema, 'acknowledged'), 404: err('no such incident'), 409: err('already acknowledged, or closed') },
  },
  'POST /incidents/:id/report': {
    tags: ['incidents'],
    summary: 'Record that the early warning, the notification or the final report was sent: its clock stops',
    description:
      'With when it was sent (default now), the reference and the caller. In the audit log as `incident.reported` (with `late` when it was sent after its due time). 409 when that report was recorded before or the incident is closed.',
    request: { params: idParam, body: { required: true, content: { 'application/json': { schema: incidentReportBody } } } },
    responses: {
      200: json(incidentSchema, 'recorded'),
      400: err('bad body, naming the field (sentAt in the future)'),
      404: err('no such incident'),
      409: err('recorded before, or closed'),
    },
  },
  'POST /incidents/:id/close': {
    tags: ['incidents'],
    summary: 'Close an incident with a reason: no clock runs after',
    description: 'In the audit log as `incident.closed`, with the reports never recorded (`unreported`).',
    request: { params: idParam, body: { required: true, content: { 'application/json': { schema: incidentCloseBody } } } },
    responses: { 200: json(incidentSchema, 'closed'), 404: err('no such incident'), 409: err('closed before') },
  },
} satisfies Partial<Record<RouteKey, Omit<RouteConfig, 'method' | 'path'> & { tags: string[] }>>;

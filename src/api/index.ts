import { randomBytes, type KeyObject } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { isLockstepError, LockstepError, toLockstepError } from '../domain/errors.js';
import { approveRun, rejectRun, markCredentialLost, runReconcile, type EngineContext, type Scope } from '../reconcile/index.js';
import {
  violationReport,
  violationReportCsv,
  accessReport,
  accessReportCsv,
  explainIdentity,
  roleReport,
  toCsv,
  reportLostCredential,
} from '../governance/index.js';
import { canSetCredentialState } from '../drivers/contract.js';
import { runCausers } from '../reconcile/run.js';
import { explainText } from '../policy/index.js';
import { getRun, listRuns, iterateAudit, isUuid, verifyAudit, verifyCheckpoints, pingStore } from '../store/index.js';
import { findInputProblem, findPathProblem } from '../domain/input.js';
import { legacyAdminTokens, requireAuth, requireRole, type AuthenticatorOptions, type StaticToken } from './auth.js';
import { createAuthRouter, createOidc, type OidcOptions } from './oidc.js';
import { EXTRA_ADMIN_ROLES, ROUTE_ROLES, type RouteKey } from './roles.js';
import { SessionKeys } from './session.js';
import { auditVerifyBody, lostBody, runBody } from './schemas.js';
import { openApiDocument } from './openapi.js';
import { renderDocsPage } from './docs-page.js';
import { sourceSyncResponse, type SourcePullResult } from './sources.js';
import { createGovernanceRouter } from './governance.js';
import { createIncidentRouter } from './incidents.js';
import { listIncidentViews } from '../governance/incidents.js';

export { entraSyncResponseSchema, fileSyncResponseSchema, rowErrorResponseSchema, sourceSyncResponse, sourceSyncResponseSchema } from './sources.js';
export type { SourcePullResult, SourceSyncResponse } from './sources.js';
export { CSRF_HEADER, CSRF_VALUE, type Principal, type StaticToken } from './auth.js';
export { DEFAULT_ROLE_MAP, type OidcOptions } from './oidc.js';
export { ROLES, ROUTE_ROLES, type Role } from './roles.js';
export { SESSION_COOKIE } from './session.js';

/** Sign-in and roles (see README "Sign-in and roles"). */
export interface ApiAuth {
  /** Machine tokens, each named and scoped to roles. */
  tokens?: StaticToken[];
  /** OIDC sign-in for the console and OIDC access tokens as bearer. */
  oidc?: OidcOptions;
  /** The secret session cookies are encrypted with (required with oidc). */
  sessionSecret?: string;
  sessionMaxAgeSeconds?: number;
  /** `Secure` cookies (the public URL is https). */
  secureCookies?: boolean;
}

export interface ApiDeps {
  ctx: EngineContext;
  /** Legacy admin tokens (ADMIN_TOKEN, api.tokens): the machine principal `token:admin` with every role. */
  adminTokens: string[];
  auth?: ApiAuth;
  bodyLimitBytes: number;
  /** Mounted at /scim/v2 when given (it has its own auth). */
  scim?: Router;
  /** Prometheus text for /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Extra readiness checks (Redis, overdue revocations); throwing or `ok: false` fails /readyz. */
  readiness?: () => Promise<{ ok: boolean; details: Record<string, unknown> }>;
  /**
   * How runs are started: through the queue in `serve` (returns the run id once queued), or
   * inline when there is none. Default: inline, in the background.
   */
  startRun?: (scope: Scope, opts: { apply: boolean; actor: string }) => Promise<{ runId: string | null; queued: boolean }>;
  /** Lost credentials: the queue's priority lane in `serve`; inline by default. */
  reportLost?: typeof markCredentialLost;
  /** Pulls a configured source now (`POST /sources/{name}/sync`), returning what it found. */
  syncSource?: (name: string, actor: string) => Promise<SourcePullResult>;
  /** Extra routers under /api/v1 (e.g. a queue dashboard), behind the admin auth. */
  extraAdmin?: Array<{ path: string; router: Router }>;
  /** The public keys `POST /audit/verify` checks signed checkpoints with (audit.checkpoint in lockstep.yaml). */
  auditCheckpointKeys?: () => Promise<KeyObject[]>;
  /** The web console's own API routes (src/api/console.ts), under /api/v1 behind the admin auth; each guards its roles. */
  console?: Router;
  /** The web console's static files (src/api/ui.ts), mounted at /ui. */
  ui?: Router;
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const field = i.path.join('.') || 'body';
    throw new LockstepError('validation', `${field}: ${i.message}`, { field, details: r.error.issues });
  }
  return r.data;
}

/** A positive integer query parameter: absent → `def`; over `max` → `max`; anything else → 400 naming it. */
function queryLimit(v: unknown, name: string, def: number, max: number): number {
  if (v === undefined || v === '') return def;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v) || Number(v) < 1) {
    throw new LockstepError('validation', `${name} must be a whole number from 1 to ${max}`, { field: name });
  }
  return Math.min(max, Number(v));
}

/** Routes with parameters, so a badly encoded segment is named after its parameter. */
const PARAM_ROUTES = [
  '/identities/:who/explain',
  '/runs/:id',
  '/runs/:id/approve',
  '/credentials/:system/:id/lost',
  '/sources/:name/sync',
  '/incidents/:id',
  '/incidents/:id/ack',
  '/incidents/:id/report',
  '/incidents/:id/close',
];

/** PostgreSQL errors caused by a value (see scim/errors.ts): the backstop behind the edge checks. */
const PG_VALUE_ERRORS = new Set(['22P05', '22021', '22003', '22P02', '22007', '22008', '22001', '54000']);

/**
 * The client's errors among what express, body-parser and the store can throw, as
 * `{ status, error: { code, message, field } }`; null for lockstep's own failures (500, logged).
 */
export function clientErrorOf(err: unknown, bodyLimitBytes: number): { status: number; error: { code: string; message: string; field?: string } } | null {
  if (typeof err !== 'object' || err === null || isLockstepError(err)) return null;
  const e = err as { type?: unknown; status?: unknown; code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (e.type === 'entity.too.large') return { status: 413, error: { code: 'validation', field: 'body', message: `request body over ${bodyLimitBytes} bytes` } };
  if (e.type === 'entity.parse.failed')
    return { status: 400, error: { code: 'validation', field: 'body', message: `request body is not valid JSON: ${message}` } };
  if (e.type === 'charset.unsupported' || e.type === 'encoding.unsupported')
    return { status: 415, error: { code: 'validation', field: 'Content-Type', message } };
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) {
    return {
      status: 400,
      error: { code: 'validation', field: 'Content-Encoding', message: `request body does not decode as its Content-Encoding says: ${message}` },
    };
  }
  if (typeof e.code === 'string' && PG_VALUE_ERRORS.has(e.code))
    return { status: 400, error: { code: 'validation', message: `a value in the request cannot be stored: ${message}` } };
  if (err instanceof RangeError && /call stack/i.test(message))
    return { status: 400, error: { code: 'validation', field: 'body', message: 'request body is nested too deeply' } };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { status: e.status, error: { code: 'validation', message } };
  return null;
}

const STATUS: Record<string, number> = {
  validation: 400,
  config: 500,
  not_found: 404,
  conflict: 409,
  precondition: 409,
  auth: 502,
  rate_limited: 503,
  unavailable: 503,
  timeout: 504,
  held: 409,
  internal: 500,
};

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/** The admin API (/api/v1), health, readiness, metrics, and the SCIM endpoint when given. */
export function createApp(deps: ApiDeps): express.Express {
  const { ctx } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get(
    '/readyz',
    h(async (_req, res) => {
      const details: Record<string, unknown> = {};
      let ok = true;
      try {
        await pingStore(ctx.db);
        details.store = 'ok';
      } catch (e) {
        ok = false;
        details.store = (e as Error).message;
      }
      if (deps.readiness) {
        try {
          const r = await deps.readiness();
          ok &&= r.ok;
          Object.assign(details, r.details);
        } catch (e) {
          ok = false;
          details.readiness = (e as Error).message;
        }
      }
      res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', ...details });
    }),
  );
  if (deps.metrics) {
    app.get(
      '/metrics',
      h(async (_req, res) => {
        const m = await deps.metrics!();
        res.set('Content-Type', m.contentType).send(m.body);
      }),
    );
  }
  if (deps.scim) app.use('/scim/v2', deps.scim);

  // sessions need a secret: without one (a test, a caller that did not give one) this process makes its own
  const session =
    deps.auth?.oidc || deps.auth?.sessionSecret
      ? new SessionKeys(deps.auth.sessionSecret ?? randomBytes(32).toString('base64url'), !!deps.auth.secureCookies, deps.auth.sessionMaxAgeSeconds ?? 8 * 3600)
      : undefined;
  const oidc = deps.auth?.oidc ? createOidc(deps.auth.oidc) : undefined;
  const authOptions: AuthenticatorOptions = {
    tokens: [...legacyAdminTokens(deps.adminTokens), ...(deps.auth?.tokens ?? [])],
    ...(session ? { session } : {}),
    ...(oidc ? { verifyAccessToken: (t: string) => oidc.verifyAccessToken(t) } : {}),
  };
  app.use('/auth', createAuthRouter({ oidc, options: deps.auth?.oidc, session, auth: authOptions, onError: (m) => ctx.logger.warn(m) }));

  // the reference describes the API and holds no data: open, so tools and people can read it before they have a token
  app.get('/api/v1/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  let docsPage: string | null = null;
  app.get('/api/v1/docs', (_req, res) => {
    docsPage ??= renderDocsPage(openApiDocument());
    res.type('html').set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'").send(docsPage);
  });

  const api = express.Router();
  api.use(requireAuth(authOptions));
  const may = (route: RouteKey) => requireRole(ROUTE_ROLES[route]);
  // Hostile input is refused before anything reads it: path segments that are not valid
  // percent-encoding, and NUL characters, lone surrogates (PostgreSQL stores neither) or
  // absurd nesting in the path, the query or the body.
  const refuse = (where: { field: string; reason: string } | null) => {
    if (where) throw new LockstepError('validation', `${where.field} ${where.reason}`, { field: where.field });
  };
  api.use((req, _res, next) => {
    refuse(findPathProblem(req.path, PARAM_ROUTES) ?? findInputProblem(req.query, '', 4));
    next();
  });
  api.use(express.json({ limit: deps.bodyLimitBytes }));
  api.use((req, _res, next) => {
    if (req.body !== undefined) refuse(findInputProblem(req.body));
    next();
  });

  api.get(
    '/identities/:who/explain',
    may('GET /identities/:who/explain'),
    h(async (req, res) => {
      const x = await explainIdentity(ctx, String(req.params.who));
      res.json({
        identity: x.identity,
        leaver: x.evaluation.leaver,
        entitlements: x.evaluation.entitlements,
        denied: x.evaluation.denied,
        conflict: x.conflict,
        nextCheckAt: x.evaluation.nextCheckAt,
        systems: x.systems,
        offlinePending: x.offlinePending,
        text: explainText(x.evaluation),
      });
    }),
  );

  const startInline = async (scope: Scope, o: { apply: boolean; actor: string }) => {
    const out = await runReconcile(ctx, scope, { trigger: 'api', actor: o.actor, apply: o.apply });
    return { runId: out.run?.id ?? null, queued: false };
  };
  api.use(createGovernanceRouter({ ctx, startRun: deps.startRun ?? startInline }));
  api.post(
    '/runs',
    may('POST /runs'),
    h(async (req, res) => {
      const b = parseBody(runBody, req.body);
      const scope: Scope = b.identities ? { kind: 'identities', ids: b.identities } : { kind: 'full' };
      const started = await (deps.startRun ?? startInline)(scope, { apply: b.mode === 'apply', actor: res.locals.actor as string });
      const run = started.runId ? await getRun(ctx.db, started.runId) : null;
      res.status(started.queued ? 202 : 201).json({ runId: started.runId, queued: started.queued, run });
    }),
  );
  api.get(
    '/runs',
    may('GET /runs'),
    h(async (req, res) => {
      const limit = queryLimit(req.query.limit, 'limit', 50, 200);
      // pages: `before` is the last run of the previous page (its `next`)
      const before = typeof req.query.before === 'string' && req.query.before !== '' ? req.query.before : undefined;
      if (before !== undefined && !isUuid(before))
        throw new LockstepError('validation', 'before must be a run id (the next of the previous page)', { field: 'before' });
      const runs = await listRuns(ctx.db, { limit: limit + 1, ...(before ? { before } : {}) });
      const page = runs.slice(0, limit);
      res.json({
        runs: page.map(({ plan, results, ...r }) => ({
          ...r,
          operations: plan?.operations.length ?? 0,
          applied: results.filter((x) => x.status === 'applied').length,
          failed: results.filter((x) => x.status === 'failed').length,
        })),
        more: runs.length > limit,
        next: runs.length > limit ? page.at(-1)!.id : null,
      });
    }),
  );
  api.get(
    '/runs/:id',
    may('GET /runs/:id'),
    h(async (req, res) => {
      const run = await getRun(ctx.db, String(req.params.id));
      if (!run) throw new LockstepError('not_found', `no run ${req.params.id}`, { field: 'id' });
      // a held run says who started or caused it: they cannot approve it (four-eyes)
      res.json(run.status === 'held' ? { ...run, causedBy: await runCausers(ctx, run.id) } : run);
    }),
  );
  api.post(
    '/runs/:id/reject',
    may('POST /runs/:id/reject'),
    h(async (req, res) => {
      const body = (req.body ?? {}) as { reason?: unknown };
      if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 1000)) {
        throw new LockstepError('validation', 'reason must be a string of at most 1000 characters', { field: 'reason' });
      }
      const run = await rejectRun(ctx, String(req.params.id), res.locals.actor as string, body.reason ?? null);
      res.json({ run });
    }),
  );
  api.post(
    '/runs/:id/approve',
    may('POST /runs/:id/approve'),
    h(async (req, res) => {
      const out = await approveRun(ctx, String(req.params.id), res.locals.actor as string);
      res.json({ run: out.run, held: out.held, failed: out.failed.length });
    }),
  );

  api.get(
    '/reports/access',
    may('GET /reports/access'),
    h(async (req, res) => {
      const rows = await accessReport(ctx);
      const format = String(req.query.format ?? 'json');
      if (req.query.groupBy === 'role') {
        const r = roleReport(ctx, rows);
        if (format === 'csv') {
          const which = req.query.view === 'matrix' ? 'matrix' : 'holders';
          res
            .type('text/csv')
            .send(
              which === 'matrix'
                ? toCsv(r.matrix, ['role', 'accessGroupId', 'accessGroup', 'system', 'protectionClass', 'via'])
                : toCsv(r.holders, ['role', 'userName', 'displayName', 'system', 'accessGroup', 'protectionClass', 'validUntil']),
            );
        } else res.json({ generatedAt: ctx.now().toISOString(), ...r });
        return;
      }
      if (format === 'csv') res.type('text/csv').attachment('access-report.csv').send(accessReportCsv(rows));
      else res.json({ generatedAt: ctx.now().toISOString(), rows });
    }),
  );

  // held access that breaks an invariant of the mappings (issue 27), read as `lockstep report violations` reads it
  api.get(
    '/reports/violations',
    may('GET /reports/violations'),
    h(async (req, res) => {
      const r = await violationReport(ctx);
      if (String(req.query.format ?? 'json') === 'csv') res.type('text/csv').attachment('violations.csv').send(violationReportCsv(r));
      else res.json(r);
    }),
  );

  api.post(
    '/credentials/:system/:id/lost',
    may('POST /credentials/:system/:id/lost'),
    h(async (req, res) => {
      const b = parseBody(lostBody, req.body);
      const report = { system: String(req.params.system), credentialId: String(req.params.id), actor: res.locals.actor as string, ...b };
      const driver = ctx.drivers.get(report.system);
      if (b.revokeAccessUntil !== undefined && driver && !canSetCredentialState(driver.capabilities, b.state ?? 'lost')) {
        // the system cannot block it: its holder's access there is revoked (access exceptions), now, through the queue
        const out = await reportLostCredential(ctx, report);
        const run = out.revokedAccess
          ? await (deps.startRun ?? startInline)({ kind: 'identities', ids: [out.revokedAccess.identityId] }, { apply: true, actor: report.actor })
          : null;
        res.status(202).json({ ...out, run });
        return;
      }
      const { revokeAccessUntil: _ignored, ...plain } = report;
      const out = await (deps.reportLost ?? markCredentialLost)(ctx, plain);
      res.status(out.result.status === 'applied' ? 200 : 202).json(out);
    }),
  );
  api.get(
    '/incidents',
    may('GET /incidents'),
    h(async (req, res) => {
      const status = req.query.status === 'open' || req.query.status === 'closed' ? req.query.status : undefined;
      res.json({ incidents: await listIncidentViews(ctx, { status }) });
    }),
  );
  api.use(createIncidentRouter(ctx));

  api.get(
    '/audit/verify',
    may('GET /audit/verify'),
    h(async (_req, res) => {
      const v = await verifyAudit(ctx.db);
      res.status(v.ok ? 200 : 409).json(v);
    }),
  );
  api.post(
    '/audit/verify',
    may('POST /audit/verify'),
    h(async (req, res) => {
      const b = parseBody(auditVerifyBody, req.body);
      if (!deps.auditCheckpointKeys)
        throw new LockstepError('validation', 'this service has no audit.checkpoint configured: there is no public key to verify checkpoints with', {
          field: 'checkpoints',
        });
      const text = typeof b.checkpoints === 'string' ? b.checkpoints : b.checkpoints.map((c) => JSON.stringify(c)).join('\n');
      const v = await verifyCheckpoints(ctx.db, text, await deps.auditCheckpointKeys());
      // 409 as for the chain alone: the log does not hold against its anchors
      res.status(v.ok ? 200 : 409).json(v);
    }),
  );
  api.get(
    '/audit',
    may('GET /audit'),
    h(async (req, res) => {
      const subject = typeof req.query.subject === 'string' ? req.query.subject : undefined;
      const limit = queryLimit(req.query.limit, 'limit', 1000, 10_000);
      const out = [];
      for await (const e of iterateAudit(ctx.db, { subject })) {
        out.push(e);
        if (out.length >= limit) break;
      }
      res.json({ entries: out });
    }),
  );

  if (deps.syncSource) {
    api.post(
      '/sources/:name/sync',
      may('POST /sources/:name/sync'),
      h(async (req, res) => {
        res.json(sourceSyncResponse(await deps.syncSource!(String(req.params.name), res.locals.actor as string)));
      }),
    );
  }
  if (deps.console) api.use(deps.console);
  for (const extra of deps.extraAdmin ?? []) api.use(extra.path, requireRole(EXTRA_ADMIN_ROLES), extra.router);

  app.use('/api/v1', api);
  if (deps.ui) app.use('/ui', deps.ui);

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: { code: 'not_found', message: `no route ${req.method} ${req.path}` } });
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const client = clientErrorOf(err, deps.bodyLimitBytes);
    if (client) {
      res.status(client.status).json({ error: client.error });
      return;
    }
    const e = isLockstepError(err) ? err : toLockstepError(err);
    if (!isLockstepError(err)) ctx.logger.error({ err: e.message }, 'unhandled API error');
    // four-eyes: this person may not approve this run (someone else may)
    const forbidden = e.code === 'precondition' && (e.details as { rule?: unknown } | undefined)?.rule === 'four-eyes';
    res.status(forbidden ? 403 : (STATUS[e.code] ?? 500)).json({ error: e.toJSON() });
  });
  return app;
}

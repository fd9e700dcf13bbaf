import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { createAuditLogRouter } from './auditlog.js';
import { createHealthRouter, type HealthDeps } from './health.js';
import { createPeopleRouter } from './people.js';
import { createWhatIfRouter, type WhatIfDeps } from './whatif.js';

/**
 * The admin API routes the web console needs beyond the documented ones, mounted under
 * /api/v1 behind the same auth: people search (`GET /identities`), the mapping documents and
 * the what-if plan (`GET /mappings`, `POST /plan/what-if`), the health view
 * (`GET /console/health`) and the newest audit entries (`GET /console/audit`).
 */
export type ConsoleApiDeps = WhatIfDeps & HealthDeps;

const READERS = ['viewer', 'operator', 'approver', 'auditor'];

/** Which roles may call each console route (as src/api/roles.ts does for the documented ones). */
export const CONSOLE_ROUTE_ROLES: Record<string, readonly string[]> = {
  'GET /identities': READERS,
  'GET /mappings': READERS,
  // a what-if plans over every identity and lock system: the operators', who change mappings
  'POST /plan/what-if': ['operator'],
  'GET /console/health': READERS,
  'GET /console/audit': ['auditor'],
};

/**
 * The caller (res.locals.principal, set by the admin auth) needs one of the route's roles. A
 * caller without a principal (a bare legacy token check) is let through, as the API it sits in.
 */
function guard(key: string) {
  const roles = CONSOLE_ROUTE_ROLES[key];
  return (_req: Request, res: Response, next: NextFunction) => {
    const p = res.locals.principal as { roles?: string[]; actor?: string } | undefined;
    if (!p || !Array.isArray(p.roles) || p.roles.some((r) => roles.includes(r))) return next();
    const needs = roles.length === 1 ? `the ${roles[0]} role` : `one of the roles ${roles.join(', ')}`;
    res.status(403).json({
      error: {
        code: 'forbidden',
        message: `this needs ${needs}; ${p.actor ?? 'the caller'} has ${p.roles.join(', ') || 'no lockstep role'}`,
        field: 'role',
        missing: roles,
      },
    });
  };
}

export function createConsoleApi(deps: ConsoleApiDeps): { router: Router; close(): void } {
  const health = createHealthRouter(deps);
  const router = express.Router();
  for (const key of Object.keys(CONSOLE_ROUTE_ROLES)) {
    const [method, path] = key.split(' ') as [string, string];
    if (method === 'GET') router.get(path, guard(key));
    else router.post(path, guard(key));
  }
  router.use(createPeopleRouter(deps.ctx));
  router.use(createWhatIfRouter(deps));
  router.use(health.router);
  router.use(createAuditLogRouter(deps.ctx));
  return { router, close: health.close };
}

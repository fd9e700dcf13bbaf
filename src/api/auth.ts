/**
 * Who is calling the admin API, and whether they may. Three ways in:
 * - a static bearer token (machines), each named and scoped to roles;
 * - an OIDC access token as bearer (a JWT from the configured issuer, checked against its JWKS);
 * - the browser's session cookie from an OIDC sign-in (src/api/oidc.ts), with a CSRF defence:
 *   a cookie-authenticated request that changes state must carry `X-Requested-With: lockstep`,
 *   which a cross-site form cannot send and cross-site script cannot without a CORS preflight
 *   this service never answers.
 * The caller becomes `res.locals.principal` and `res.locals.actor`, the name audit entries carry.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ROLES, type Role } from './roles.js';
import { readCookie, SESSION_COOKIE, sessionClaimsSchema, type SessionKeys } from './session.js';

export interface Principal {
  /** `token:<name>` for a static token, the `sub` claim for OIDC. */
  subject: string;
  name: string | null;
  email: string | null;
  roles: Role[];
  via: 'oidc' | 'token';
  /** What audit entries and runs record: `token:<name>` or `oidc:<name or email> (<sub>)`. */
  actor: string;
}

export interface StaticToken {
  name: string;
  token: string;
  roles: Role[];
}

/** The header a cookie-authenticated, state-changing request must carry (CSRF defence). */
export const CSRF_HEADER = 'x-requested-with';
export const CSRF_VALUE = 'lockstep';

/** Legacy `ADMIN_TOKEN` / `api.tokens`: one machine principal named `admin` with every role. */
export function legacyAdminTokens(tokens: string[]): StaticToken[] {
  return tokens.map((token) => ({ name: 'admin', token, roles: [...ROLES] }));
}

export function oidcActor(sub: string, name: string | null, email: string | null): string {
  return `oidc:${name || email || sub} (${sub})`;
}

export function tokenPrincipal(t: StaticToken): Principal {
  return { subject: `token:${t.name}`, name: t.name, email: null, roles: [...new Set(t.roles)], via: 'token', actor: `token:${t.name}` };
}

/** Constant-time comparison over digests, so neither content nor length leaks through timing; every token is compared. */
function matchToken(presented: string, tokens: StaticToken[]): StaticToken | null {
  const p = createHash('sha256').update(presented).digest();
  let found: StaticToken | null = null;
  for (const t of tokens) {
    const d = createHash('sha256').update(t.token).digest();
    if (timingSafeEqual(p, d) && !found) found = t;
  }
  return found;
}

function bearer(req: Request): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1].trim() : null;
}

const looksLikeJwt = (t: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(t);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface AuthenticatorOptions {
  tokens: StaticToken[];
  /** Sessions from an OIDC sign-in; absent: no cookie is accepted. */
  session?: SessionKeys;
  /** Checks an OIDC access token given as bearer; absent: JWTs are refused like any unknown token. */
  verifyAccessToken?: (token: string) => Promise<Principal | null>;
}

export type AuthResult = { ok: true; principal: Principal } | { ok: false; status: number; code: string; message: string };

/** Reads the caller from a request: a bearer token first, then the session cookie (with the CSRF check for writes). */
export async function authenticate(req: Request, o: AuthenticatorOptions): Promise<AuthResult> {
  const t = bearer(req);
  if (t) {
    const st = matchToken(t, o.tokens);
    if (st) return { ok: true, principal: tokenPrincipal(st) };
    if (o.verifyAccessToken && looksLikeJwt(t)) {
      let p: Principal | null;
      try {
        p = await o.verifyAccessToken(t);
      } catch (e) {
        // the issuer's discovery document or keys could not be read: not the caller's fault
        return {
          ok: false,
          status: 503,
          code: 'unavailable',
          message: `the OIDC issuer could not be reached to check the access token: ${(e as Error).message}`,
        };
      }
      if (p) return { ok: true, principal: p };
      return {
        ok: false,
        status: 401,
        code: 'auth',
        message: 'the bearer token is not a valid access token of the configured OIDC issuer (signature, issuer, audience or expiry)',
      };
    }
    return { ok: false, status: 401, code: 'auth', message: 'missing or invalid bearer token' };
  }
  if (o.session) {
    const claims = await o.session.open(readCookie(req, SESSION_COOKIE), 'session', sessionClaimsSchema);
    if (claims) {
      if (!SAFE_METHODS.has(req.method) && req.get(CSRF_HEADER) !== CSRF_VALUE) {
        return {
          ok: false,
          status: 403,
          code: 'csrf',
          message: `a request signed in by cookie that changes something must carry the header "X-Requested-With: ${CSRF_VALUE}"`,
        };
      }
      return {
        ok: true,
        principal: {
          subject: claims.sub,
          name: claims.name,
          email: claims.email,
          roles: claims.roles,
          via: 'oidc',
          actor: oidcActor(claims.sub, claims.name, claims.email),
        },
      };
    }
  }
  return {
    ok: false,
    status: 401,
    code: 'auth',
    message: o.session ? 'not signed in: sign in at /auth/login, or send a bearer token' : 'missing or invalid bearer token',
  };
}

function refuse(res: Response, r: Extract<AuthResult, { ok: false }>): void {
  if (r.status === 401) res.set('WWW-Authenticate', 'Bearer');
  res.status(r.status).json({ error: { code: r.code, message: r.message } });
}

/** Admin API auth: sets `res.locals.principal` and `res.locals.actor`, or answers 401 / 403 / 503. */
export function requireAuth(o: AuthenticatorOptions) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (o.tokens.length === 0 && !o.session && !o.verifyAccessToken) {
      res
        .status(503)
        .json({ error: { code: 'config', message: 'the admin API has no token configured and no OIDC sign-in: set ADMIN_TOKEN, auth.tokens or auth.oidc' } });
      return;
    }
    authenticate(req, o).then((r) => {
      if (!r.ok) return refuse(res, r);
      res.locals.principal = r.principal;
      res.locals.actor = r.principal.actor;
      next();
    }, next);
  };
}

/** A route guard: the caller needs one of `roles`. The roles are kept on the function so tests can read them off the router. */
export function requireRole(roles: readonly Role[]) {
  const guard = (_req: Request, res: Response, next: NextFunction) => {
    const p = res.locals.principal as Principal | undefined;
    if (p && p.roles.some((r) => roles.includes(r))) return next();
    const needs = roles.length === 1 ? `the ${roles[0]} role` : `one of the roles ${roles.join(', ')}`;
    const has = p?.roles.length ? `has ${p.roles.join(', ')}` : 'has no lockstep role';
    res.status(403).json({ error: { code: 'forbidden', message: `this needs ${needs}; ${p?.actor ?? 'the caller'} ${has}`, field: 'role', missing: roles } });
  };
  return Object.assign(guard, { roles });
}

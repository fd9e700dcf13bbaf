/**
 * OIDC sign-in (authorization code with PKCE, openid-client) for the console and the admin
 * API, and OIDC access tokens as bearer (jose against the issuer's JWKS). Entra ID is the
 * documented provider: issuer `https://login.microsoftonline.com/{tenant}/v2.0`, app roles in
 * the `roles` claim, security groups' object ids in `groups`.
 *
 *   GET  /auth/login?returnTo=/ui/…  → the provider → GET /auth/callback → session cookie → returnTo
 *   POST /auth/logout                → cookie cleared (X-Requested-With: lockstep)
 *   GET  /auth/me                    → { subject, name, email, roles, via }
 */
import express, { type Request, type Response, type Router } from 'express';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { authenticate, oidcActor, CSRF_HEADER, CSRF_VALUE, type AuthenticatorOptions, type Principal } from './auth.js';
import { ROLES, type Role } from './roles.js';
import { LOGIN_COOKIE, loginStateSchema, readCookie, SESSION_COOKIE, type SessionKeys } from './session.js';

export interface OidcOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** The `aud` an access token given as bearer must carry (Entra v2: the app's client id; or `api://…`). */
  audience: string[];
  /** The claim holding app roles (Entra: `roles`). */
  roleClaim: string;
  /** The claim holding group ids (Entra: `groups`, when the app registration emits group claims). */
  groupsClaim: string;
  /** Claim value (app role value or group object id) → lockstep roles. */
  roleMap: Record<string, Role[]>;
  /** The redirect URI registered with the provider; absent: `<scheme>://<host>/auth/callback` of the request (development). */
  redirectUri?: string;
}

/** Used when `auth.oidc.roleMap` is not given: Entra app role values `Lockstep.Viewer`…, and the role names themselves. */
export const DEFAULT_ROLE_MAP: Record<string, Role[]> = Object.fromEntries(
  ROLES.flatMap((r) => [
    [`Lockstep.${r[0].toUpperCase()}${r.slice(1)}`, [r]],
    [r, [r]],
  ]),
);

const LOGIN_TTL_SECONDS = 600;

function claimValues(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** The lockstep roles a token's claims give, through the role map. */
export function rolesFromClaims(claims: Record<string, unknown>, o: Pick<OidcOptions, 'roleClaim' | 'groupsClaim' | 'roleMap'>): Role[] {
  const values = [...claimValues(claims[o.roleClaim]), ...claimValues(claims[o.groupsClaim])];
  const out = new Set<Role>();
  for (const v of values) for (const r of Object.hasOwn(o.roleMap, v) ? o.roleMap[v] : []) out.add(r);
  return ROLES.filter((r) => out.has(r));
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

function principalOf(claims: Record<string, unknown>, o: OidcOptions): Principal | null {
  const sub = str(claims.sub);
  if (!sub) return null;
  const name = str(claims.name) ?? str(claims.preferred_username);
  const email = str(claims.email) ?? str(claims.upn) ?? (str(claims.preferred_username)?.includes('@') ? str(claims.preferred_username) : null);
  return { subject: sub, name, email, roles: rolesFromClaims(claims, o), via: 'oidc', actor: oidcActor(sub, name, email) };
}

/** Only a path on this service: `/ui/x`, never `//evil.example` or `https://…`. */
function safeReturnTo(v: unknown): string {
  // control characters and backslashes too: browsers drop tabs and read `\` as `/` (`/\t/evil` is `//evil`)
  if (typeof v !== 'string' || !v.startsWith('/') || v.startsWith('//') || /[\u0000-\u001f\u007f\\]/.test(v)) return '/ui/';
  return v;
}

const isLoopback = (u: URL) => ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);

export interface Oidc {
  verifyAccessToken(token: string): Promise<Principal | null>;
  /** The provider's configuration, discovered on first use (and again after a failure). */
  configuration(): Promise<client.Configuration>;
}

export function createOidc(o: OidcOptions): Oidc {
  const issuer = new URL(o.issuer);
  let discovered: Promise<client.Configuration> | null = null;
  let jwks: ReturnType<typeof createRemoteJWKSet> | null = null;
  const configuration = () => {
    discovered ??= client
      .discovery(
        issuer,
        o.clientId,
        o.clientSecret ? { client_secret: o.clientSecret } : undefined,
        o.clientSecret ? client.ClientSecretPost(o.clientSecret) : client.None(),
        {
          // plain http only for a provider on this machine (the test provider)
          ...(issuer.protocol === 'http:' && isLoopback(issuer) ? { execute: [client.allowInsecureRequests] } : {}),
        },
      )
      .catch((e: unknown) => {
        discovered = null;
        throw e;
      });
    return discovered;
  };
  return {
    configuration,
    async verifyAccessToken(token) {
      const cfg = await configuration();
      const meta = cfg.serverMetadata();
      if (!meta.jwks_uri) return null;
      jwks ??= createRemoteJWKSet(new URL(meta.jwks_uri));
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, { issuer: meta.issuer, audience: o.audience, clockTolerance: 30 }));
      } catch {
        return null;
      }
      return principalOf(payload, o);
    },
  };
}

function redirectUriOf(req: Request, o: OidcOptions): string {
  return o.redirectUri ?? `${req.protocol}://${req.get('host')}/auth/callback`;
}

function authError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/** The /auth router: login, callback, logout, me. Without OIDC only /auth/me answers (for tokens). */
export function createAuthRouter(deps: {
  oidc?: Oidc;
  options?: OidcOptions;
  session?: SessionKeys;
  auth: AuthenticatorOptions;
  onError: (message: string) => void;
}): Router {
  const r = express.Router();
  const { oidc, options, session } = deps;

  r.get('/me', (req, res, next) => {
    authenticate(req, deps.auth).then((a) => {
      if (!a.ok) return authError(res, a.status, a.code, a.message);
      res.set('Cache-Control', 'no-store').json(a.principal);
    }, next);
  });

  r.post('/logout', (req, res) => {
    if (req.get(CSRF_HEADER) !== CSRF_VALUE) return authError(res, 403, 'csrf', `sign-out must carry the header "X-Requested-With: ${CSRF_VALUE}"`);
    session?.clearCookie(res, SESSION_COOKIE, '/');
    res.status(204).end();
  });

  r.get('/login', (req, res) => {
    if (!oidc || !options || !session) return authError(res, 404, 'not_found', 'OIDC sign-in is not configured (auth.oidc in lockstep.yaml)');
    (async () => {
      const cfg = await oidc.configuration();
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUriOf(req, options),
        scope: options.scopes.join(' '),
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
        ...(typeof req.query.login_hint === 'string' ? { login_hint: req.query.login_hint } : {}),
      });
      const sealed = await session.seal({ state, nonce, verifier, returnTo: safeReturnTo(req.query.returnTo) }, 'login', LOGIN_TTL_SECONDS);
      session.setCookie(res, LOGIN_COOKIE, sealed, { maxAgeSeconds: LOGIN_TTL_SECONDS, path: '/auth' });
      res.set('Cache-Control', 'no-store').redirect(302, url.href);
    })().catch((e: unknown) => {
      deps.onError(`OIDC sign-in could not start: ${(e as Error).message}`);
      authError(res, 503, 'unavailable', `the sign-in provider ${options.issuer} could not be reached or read: ${(e as Error).message}`);
    });
  });

  r.get('/callback', (req, res) => {
    if (!oidc || !options || !session) return authError(res, 404, 'not_found', 'OIDC sign-in is not configured (auth.oidc in lockstep.yaml)');
    (async () => {
      const login = await session.open(readCookie(req, LOGIN_COOKIE), 'login', loginStateSchema);
      session.clearCookie(res, LOGIN_COOKIE, '/auth');
      if (!login) return authError(res, 400, 'auth', 'no sign-in in progress (or it took longer than 10 minutes): start again at /auth/login');
      if (typeof req.query.error === 'string') {
        return authError(
          res,
          401,
          'auth',
          `the provider refused the sign-in: ${req.query.error}${typeof req.query.error_description === 'string' ? `: ${req.query.error_description}` : ''}`,
        );
      }
      const cfg = await oidc.configuration();
      const current = new URL(redirectUriOf(req, options));
      current.search = new URL(req.originalUrl, 'http://x').search;
      let claims: Record<string, unknown> | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(cfg, current, {
          pkceCodeVerifier: login.verifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
        claims = tokens.claims();
      } catch (e) {
        return authError(res, 401, 'auth', `the sign-in could not be completed: ${(e as Error).message}`);
      }
      const p = claims ? principalOf(claims, options) : null;
      if (!p) return authError(res, 401, 'auth', 'the provider returned no ID token with a subject');
      const sealed = await session.seal({ sub: p.subject, name: p.name, email: p.email, roles: p.roles }, 'session', session.maxAgeSeconds);
      session.setCookie(res, SESSION_COOKIE, sealed, { maxAgeSeconds: session.maxAgeSeconds, path: '/' });
      res.set('Cache-Control', 'no-store').redirect(302, login.returnTo);
    })().catch((e: unknown) => {
      deps.onError(`OIDC callback failed: ${(e as Error).message}`);
      authError(res, 503, 'unavailable', `the sign-in provider ${options.issuer} could not be reached or read: ${(e as Error).message}`);
    });
  });
  return r;
}

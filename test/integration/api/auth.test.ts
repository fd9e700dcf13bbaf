import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/api/index.js';
import { iterateAudit, markIdentityDeleted, upsertIdentity } from '../../../src/store/index.js';
import { createTestEngine, type TestEngine } from '../../helpers/engine.js';
import { startOidcProvider, type RunningOidcProvider } from '../../helpers/oidc-provider.js';
import { MAPPINGS } from '../reconcile/mappings.js';

/**
 * Sign-in and roles on a real app over HTTP, with the local OIDC provider and PostgreSQL:
 * the authorization code flow with PKCE, the session cookie, the CSRF header, the role of each
 * route, OIDC access tokens as bearer, and four-eyes on held runs.
 */

const ADMIN = 'admin-token-auth-0123456789';
const CI = 'ci-token-auth-0123456789abc';
const SECRET = 'session-secret-for-the-auth-test-0123456789';

type Res = { status: number; json: any; headers: Headers };

describe('sign-in and roles', () => {
  let e: TestEngine;
  let idp: RunningOidcProvider;
  let server: Server;
  let base: string;
  const cookies: Record<string, string> = {};

  const call = async (method: string, path: string, o: { body?: unknown; cookie?: string; token?: string; csrf?: boolean } = {}): Promise<Res> => {
    const res = await fetch(`${base}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...(o.cookie ? { cookie: o.cookie } : {}),
        ...(o.csrf ? { 'x-requested-with': 'lockstep' } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, json, headers: res.headers };
  };
  const as = (who: string) => ({ cookie: cookies[who] });
  const cookieOf = (res: Response, name: string) => res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));

  /** The browser's round trip: /auth/login → the provider → /auth/callback; returns the session cookie and where it landed. */
  const signIn = async (sub: string, returnTo = '/ui/runs') => {
    const login = await fetch(`${base}/auth/login?returnTo=${encodeURIComponent(returnTo)}&login_hint=${sub}`, { redirect: 'manual' });
    expect(login.status).toBe(302);
    const authorize = new URL(login.headers.get('location')!);
    expect(authorize.origin).toBe(idp.issuer);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    const loginCookie = cookieOf(login, 'lockstep_login')!.split(';')[0];
    const back = await fetch(authorize, { redirect: 'manual' });
    expect(back.status).toBe(302);
    const callback = await fetch(back.headers.get('location')!, { redirect: 'manual', headers: { cookie: loginCookie } });
    expect(callback.status, await callback.clone().text()).toBe(302);
    const set = cookieOf(callback, 'lockstep_session')!;
    return { cookie: set.split(';')[0], setCookie: set, location: callback.headers.get('location') };
  };

  beforeAll(async () => {
    idp = await startOidcProvider({
      users: [
        { sub: 'alice', name: 'Alice Approver', email: 'alice@example.com', roles: ['Lockstep.Approver'] },
        { sub: 'olga', name: 'Olga Operator', email: 'olga@example.com', roles: ['Lockstep.Operator', 'Lockstep.Approver'] },
        { sub: 'vic', name: 'Vic Viewer', email: 'vic@example.com', roles: ['Lockstep.Viewer'] },
        { sub: 'aud', name: 'Audrey Auditor', email: 'audrey@example.com', roles: [], groups: ['0f2a-audit-group'] },
        { sub: 'nobody', name: 'No Roles', email: 'none@example.com', roles: [] },
      ],
    });
    e = await createTestEngine('postgres', MAPPINGS, { now: '2026-06-01T08:00:00Z' });
    const app = createApp({
      ctx: e.ctx,
      adminTokens: [ADMIN],
      bodyLimitBytes: 65_536,
      auth: {
        tokens: [{ name: 'ci', token: CI, roles: ['operator'] }],
        oidc: {
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ['openid', 'profile', 'email'],
          audience: [idp.clientId],
          roleClaim: 'roles',
          groupsClaim: 'groups',
          roleMap: {
            'Lockstep.Approver': ['approver'],
            'Lockstep.Operator': ['operator'],
            'Lockstep.Viewer': ['viewer'],
            '0f2a-audit-group': ['auditor', 'viewer'],
          },
        },
        sessionSecret: SECRET,
      },
    });
    server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    for (let i = 0; i < 8; i++) await upsertIdentity(e.ctx.db, { source: 'hr', externalId: `P${i}`, userName: `p${i}`, employeeType: 'Employee' });
    for (const who of ['alice', 'olga', 'vic', 'aud', 'nobody']) cookies[who] = (await signIn(who)).cookie;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await e.close();
    await idp.close();
  });

  it('signs in with the authorization code flow and PKCE, sets an HttpOnly SameSite=Lax cookie and returns to the page asked for', async () => {
    const s = await signIn('alice', '/ui/people?q=ada');
    expect(s.location).toBe('/ui/people?q=ada');
    expect(s.setCookie).toMatch(/; HttpOnly/);
    expect(s.setCookie).toMatch(/; SameSite=Lax/);
    expect(s.setCookie).toMatch(/; Path=\//);
    expect(s.setCookie).not.toMatch(/; Secure/);
    const me = await call('GET', '/auth/me', { cookie: s.cookie });
    expect(me.status).toBe(200);
    expect(me.json).toEqual({
      subject: 'alice',
      name: 'Alice Approver',
      email: 'alice@example.com',
      roles: ['approver'],
      via: 'oidc',
      actor: 'oidc:Alice Approver (alice)',
    });
    // group object ids map too; a person with no mapped role is signed in with no role
    expect((await call('GET', '/auth/me', as('aud'))).json.roles).toEqual(['viewer', 'auditor']);
    expect((await call('GET', '/auth/me', as('nobody'))).json.roles).toEqual([]);
  });

  it('returns only to a path of this service', async () => {
    expect((await signIn('vic', 'https://evil.example/x')).location).toBe('/ui/');
    expect((await signIn('vic', '//evil.example/x')).location).toBe('/ui/');
    expect((await signIn('vic', '/\t/evil.example/x')).location).toBe('/ui/');
    expect((await signIn('vic', '/\\evil.example/x')).location).toBe('/ui/');
  });

  it('refuses a forged session, a callback without a sign-in in progress, and a replayed code', async () => {
    expect((await call('GET', '/auth/me', { cookie: 'lockstep_session=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..x.y.z' })).status).toBe(401);
    expect((await call('GET', '/api/v1/runs', { cookie: 'lockstep_session=nonsense' })).status).toBe(401);
    expect((await call('GET', '/auth/callback?code=abc&state=def')).status).toBe(400);
    const login = await fetch(`${base}/auth/login?login_hint=vic`, { redirect: 'manual' });
    const loginCookie = cookieOf(login, 'lockstep_login')!.split(';')[0];
    const back = await fetch(login.headers.get('location')!, { redirect: 'manual' });
    const cb = back.headers.get('location')!;
    expect((await fetch(cb, { redirect: 'manual', headers: { cookie: loginCookie } })).status).toBe(302);
    expect((await fetch(cb, { redirect: 'manual', headers: { cookie: loginCookie } })).status).toBe(401);
  });

  it('answers /auth/me for tokens too: ADMIN_TOKEN is token:admin with every role, a named token has its own', async () => {
    expect((await call('GET', '/auth/me', { token: ADMIN })).json).toEqual({
      subject: 'token:admin',
      name: 'admin',
      email: null,
      roles: ['viewer', 'operator', 'approver', 'auditor'],
      via: 'token',
      actor: 'token:admin',
    });
    expect((await call('GET', '/auth/me', { token: CI })).json).toMatchObject({ subject: 'token:ci', roles: ['operator'], via: 'token' });
    expect((await call('GET', '/auth/me')).status).toBe(401);
  });

  it('guards each route by role, and a refusal names the role that is missing', async () => {
    expect((await call('GET', '/api/v1/runs', as('vic'))).status).toBe(200);
    expect((await call('GET', '/api/v1/reports/access', as('vic'))).status).toBe(200);
    const start = await call('POST', '/api/v1/runs', { ...as('vic'), csrf: true, body: { mode: 'plan' } });
    expect(start.status).toBe(403);
    expect(start.json.error).toMatchObject({ code: 'forbidden', field: 'role', message: 'this needs the operator role; oidc:Vic Viewer (vic) has viewer' });
    expect((await call('GET', '/api/v1/audit', as('vic'))).json.error.message).toMatch(/needs the auditor role/);
    expect((await call('GET', '/api/v1/audit', as('aud'))).status).toBe(200);
    expect((await call('GET', '/api/v1/audit/verify', as('aud'))).status).toBe(200);
    expect((await call('GET', '/api/v1/incidents', as('vic'))).status).toBe(403);
    expect((await call('GET', '/api/v1/incidents', as('alice'))).status).toBe(200);
    expect((await call('GET', '/api/v1/runs', as('nobody'))).json.error.message).toBe(
      'this needs one of the roles viewer, operator, approver, auditor; oidc:No Roles (nobody) has no lockstep role',
    );
    // a machine token scoped to operator: starts runs, reads nothing it was not given, approves nothing
    expect((await call('POST', '/api/v1/runs', { token: CI, body: { mode: 'plan' } })).status).toBe(201);
    expect((await call('GET', '/api/v1/audit', { token: CI })).status).toBe(403);
    expect((await call('POST', '/api/v1/runs/00000000-0000-4000-8000-000000000000/approve', { token: CI })).json.error.message).toMatch(
      /needs the approver role; token:ci has operator/,
    );
  });

  it('asks a cookie-authenticated write for X-Requested-With: lockstep (CSRF), but not a bearer one', async () => {
    const bare = await call('POST', '/api/v1/runs', { ...as('olga'), body: { mode: 'plan' } });
    expect(bare.status).toBe(403);
    expect(bare.json.error.code).toBe('csrf');
    expect((await call('POST', '/api/v1/runs', { ...as('olga'), csrf: true, body: { mode: 'plan' } })).status).toBe(201);
    expect((await call('POST', '/api/v1/runs', { token: CI, body: { mode: 'plan' } })).status).toBe(201);
  });

  it("accepts the provider's access tokens as bearer, and refuses one for another audience, another issuer or expired", async () => {
    const ok = await call('GET', '/auth/me', { token: await idp.accessToken('olga') });
    expect(ok.json).toMatchObject({ subject: 'olga', via: 'oidc', roles: ['operator', 'approver'], actor: 'oidc:Olga Operator (olga)' });
    expect((await call('POST', '/api/v1/runs', { token: await idp.accessToken('olga'), body: { mode: 'plan' } })).status).toBe(201);
    expect((await call('GET', '/api/v1/runs', { token: await idp.accessToken('olga', { audience: 'api://someone-else' }) })).status).toBe(401);
    expect((await call('GET', '/api/v1/runs', { token: await idp.accessToken('olga', { issuer: 'https://evil.example' }) })).status).toBe(401);
    expect((await call('GET', '/api/v1/runs', { token: await idp.accessToken('olga', { expiresInSeconds: -120 }) })).status).toBe(401);
  });

  it('four-eyes: whoever started a held run cannot approve it, another approver can; audit entries name both people', async () => {
    expect((await call('POST', '/api/v1/runs', { token: CI, body: { mode: 'apply' } })).json.run.status).toBe('applied');
    const ids = (await call('GET', '/api/v1/reports/access', as('vic'))).json.rows.filter((x: any) => /^p\d$/.test(x.userName)).map((x: any) => x.identityId);
    for (const id of [...new Set<string>(ids)].slice(0, 5)) await markIdentityDeleted(e.ctx.db, id);
    const held = await call('POST', '/api/v1/runs', { ...as('olga'), csrf: true, body: { mode: 'apply' } });
    expect(held.json.run.status).toBe('held');
    const runId: string = held.json.runId;
    expect((await call('GET', `/api/v1/runs/${runId}`, as('vic'))).json.causedBy).toEqual(['oidc:Olga Operator (olga)']);

    // the same person by cookie or by access token is refused, with who caused it
    for (const o of [{ ...as('olga'), csrf: true }, { token: await idp.accessToken('olga') }]) {
      const own = await call('POST', `/api/v1/runs/${runId}/approve`, o);
      expect(own.status).toBe(403);
      expect(own.json.error).toMatchObject({ code: 'precondition', details: { rule: 'four-eyes', causedBy: ['oidc:Olga Operator (olga)'] } });
    }
    expect((await call('GET', `/api/v1/runs/${runId}`, as('vic'))).json.status).toBe('held');
    const approved = await call('POST', `/api/v1/runs/${runId}/approve`, { ...as('alice'), csrf: true });
    expect(approved.status).toBe(200);
    expect(approved.json.run.status).toBe('applied');

    const entries = [];
    for await (const x of iterateAudit(e.ctx.db, { subject: runId })) entries.push(x);
    expect(entries.find((x) => x.action === 'run.held')?.actor).toBe('oidc:Olga Operator (olga)');
    expect(entries.find((x) => x.action === 'run.approved')?.actor).toBe('oidc:Alice Approver (alice)');
  });

  it('four-eyes lets the starter reject their own held run', async () => {
    for (let i = 0; i < 8; i++) await upsertIdentity(e.ctx.db, { source: 'hr', externalId: `R${i}`, userName: `r${i}`, employeeType: 'Employee' });
    expect((await call('POST', '/api/v1/runs', { token: CI, body: { mode: 'apply' } })).json.run.status).toBe('applied');
    const ids = (await call('GET', '/api/v1/reports/access', as('vic'))).json.rows.filter((x: any) => /^r\d$/.test(x.userName)).map((x: any) => x.identityId);
    for (const id of [...new Set<string>(ids)].slice(0, 5)) await markIdentityDeleted(e.ctx.db, id);
    const held = await call('POST', '/api/v1/runs', { token: ADMIN, body: { mode: 'apply' } });
    expect(held.json.run.status).toBe('held');
    expect((await call('POST', `/api/v1/runs/${held.json.runId}/approve`, { token: ADMIN })).status).toBe(403);
    const rejected = await call('POST', `/api/v1/runs/${held.json.runId}/reject`, { token: ADMIN, body: { reason: 'my mistake' } });
    expect(rejected.status).toBe(200);
    expect(rejected.json.run.error).toBe('rejected by token:admin: my mistake');
  });

  it('signs out: POST /auth/logout with the CSRF header clears the cookie', async () => {
    expect((await call('POST', '/auth/logout', as('vic'))).status).toBe(403);
    const res = await fetch(`${base}/auth/logout`, { method: 'POST', headers: { cookie: cookies.vic, 'x-requested-with': 'lockstep' } });
    expect(res.status).toBe(204);
    expect(cookieOf(res, 'lockstep_session')).toMatch(/Expires=Thu, 01 Jan 1970/);
  });
});

describe('sign-in when the provider cannot be reached', () => {
  it('answers 503 naming the issuer for a sign-in and for an access token, and still takes static tokens', async () => {
    const e = await createTestEngine('postgres', MAPPINGS);
    const gone = await startOidcProvider({ users: [{ sub: 'x', name: 'X', email: 'x@example.com', roles: ['viewer'] }] });
    const token = await gone.accessToken('x');
    await gone.close();
    const app = createApp({
      ctx: e.ctx,
      adminTokens: [ADMIN],
      bodyLimitBytes: 4096,
      auth: {
        oidc: {
          issuer: gone.issuer,
          clientId: gone.clientId,
          scopes: ['openid'],
          audience: [gone.clientId],
          roleClaim: 'roles',
          groupsClaim: 'groups',
          roleMap: {},
        },
        sessionSecret: SECRET,
      },
    });
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    try {
      const addr = server.address();
      const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      const login = await fetch(`${url}/auth/login`, { redirect: 'manual' });
      expect(login.status).toBe(503);
      expect(((await login.json()) as any).error.message).toContain(gone.issuer);
      const bearer = await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } });
      expect(bearer.status).toBe(503);
      expect(((await bearer.json()) as any).error.code).toBe('unavailable');
      expect((await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await e.close();
    }
  });
});

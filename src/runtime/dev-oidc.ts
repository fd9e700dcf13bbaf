/**
 * A small OpenID Connect provider for trying sign-in and roles without an identity provider
 * (`lockstep dev-oidc`) and for the tests and browser tests: a real HTTP server on 127.0.0.1
 * with discovery, /authorize, /token and /jwks, signing RS256 ID and access tokens with jose.
 * Authorization code flow only, PKCE (S256) required, state and nonce echoed. Anyone who can
 * reach it signs in as anyone it lists: never for a real deployment (Entra ID is the documented
 * provider), and it listens on loopback only.
 *
 * /authorize picks the user from `login_hint` (a sub, email or name) or, without one, the
 * provider's `autoLogin` user; otherwise it shows an HTML page with one button per user, so a
 * browser test clicks its user ("Sign in as Alice Approver").
 *
 *   const idp = await startOidcProvider({ users: [{ sub: 'alice', name: 'Alice', email: 'alice@example.com', roles: ['approver'] }] });
 *   // lockstep.yaml: auth: { oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret } }
 *   const bearer = await idp.accessToken('alice');   // for scripts' bearer path
 *   await idp.close();
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface OidcTestUser {
  sub: string;
  name: string;
  email: string;
  /** Put in the `roles` claim as given (lockstep's default role map takes `viewer`… and `Lockstep.Viewer`…). */
  roles: string[];
  /** Put in the `groups` claim (group object ids). */
  groups?: string[];
}

export interface OidcProviderOptions {
  users: OidcTestUser[];
  clientId?: string;
  clientSecret?: string;
  /** The sub signed in when /authorize has no login_hint; absent: the user picker page. */
  autoLogin?: string;
  /** The `aud` of access tokens; default the client id. */
  accessTokenAudience?: string;
  /** Port on 127.0.0.1; default any free one. */
  port?: number;
}

export interface RunningOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** A signed access token for a user, as the provider would issue it (aud: the client id unless given). */
  accessToken(sub: string, opts?: { audience?: string; expiresInSeconds?: number; issuer?: string }): Promise<string>;
  /** The codes redeemed so far (a browser test can check a sign-in happened). */
  readonly logins: string[];
  close(): Promise<void>;
}

interface PendingCode {
  sub: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce: string | null;
  scope: string;
  expires: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startOidcProvider(opts: OidcProviderOptions): Promise<RunningOidcProvider> {
  const clientId = opts.clientId ?? 'lockstep-test-client';
  const clientSecret = opts.clientSecret ?? randomBytes(16).toString('hex');
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomBytes(6).toString('hex');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const codes = new Map<string, PendingCode>();
  const logins: string[] = [];
  let issuer = '';

  const userBy = (hint: string) => opts.users.find((u) => u.sub === hint || u.email.toLowerCase() === hint.toLowerCase() || u.name === hint);
  const sign = (claims: Record<string, unknown>, aud: string, ttl: number, iss = issuer) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(iss)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .sign(privateKey);
  const userClaims = (u: OidcTestUser) => ({
    sub: u.sub,
    name: u.name,
    email: u.email,
    preferred_username: u.email,
    roles: u.roles,
    ...(u.groups ? { groups: u.groups } : {}),
  });
  const accessToken = (u: OidcTestUser, aud: string, ttl = 3600, iss?: string) => sign({ ...userClaims(u), scp: 'access_as_user' }, aud, ttl, iss);

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let s = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (s += c));
      req.on('end', () => resolve(s));
      req.on('error', reject);
    });

  const authorize = (url: URL, res: ServerResponse) => {
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== clientId || !redirectUri)
      return json(res, 400, { error: 'invalid_request', error_description: 'unknown client_id or no redirect_uri' });
    const back = new URL(redirectUri);
    const fail = (error: string, description: string) => {
      back.searchParams.set('error', error);
      back.searchParams.set('error_description', description);
      if (q.get('state')) back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { location: back.href }).end();
    };
    if (q.get('response_type') !== 'code') return fail('unsupported_response_type', 'only code');
    if (!q.get('code_challenge') || q.get('code_challenge_method') !== 'S256') return fail('invalid_request', 'PKCE with S256 is required');
    if (!(q.get('scope') ?? '').split(' ').includes('openid')) return fail('invalid_scope', 'openid is required');
    const hint = q.get('login_hint') ?? opts.autoLogin;
    if (!hint) {
      // the user picker: each button comes back here with login_hint set
      const hidden = [...q].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('');
      const buttons = opts.users
        .map(
          (u) =>
            `<button type="submit" name="login_hint" value="${esc(u.sub)}">Sign in as ${esc(u.name)}</button> <small>${esc(u.email)} · ${esc(u.roles.join(', ') || 'no roles')}</small><br>`,
        )
        .join('\n');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><html><head><title>Test sign-in</title></head><body><h1>Test OIDC provider</h1><form method="get" action="/authorize">${hidden}\n${buttons}</form></body></html>`,
      );
      return;
    }
    const user = userBy(hint);
    if (!user) return fail('access_denied', `no test user ${hint}`);
    const code = randomBytes(16).toString('base64url');
    codes.set(code, {
      sub: user.sub,
      clientId,
      redirectUri,
      challenge: q.get('code_challenge')!,
      nonce: q.get('nonce'),
      scope: q.get('scope') ?? 'openid',
      expires: Date.now() + 60_000,
    });
    back.searchParams.set('code', code);
    if (q.get('state')) back.searchParams.set('state', q.get('state')!);
    back.searchParams.set('iss', issuer);
    res.writeHead(302, { location: back.href }).end();
  };

  const token = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams(await readBody(req));
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1], 'base64')
        .toString()
        .split(':')
        .map((x) => decodeURIComponent(x));
      id = u ?? null;
      secret = p ?? null;
    }
    if (id !== clientId || secret !== clientSecret) return json(res, 401, { error: 'invalid_client' });
    if (form.get('grant_type') !== 'authorization_code') return json(res, 400, { error: 'unsupported_grant_type' });
    const code = form.get('code') ?? '';
    const pending = codes.get(code);
    codes.delete(code);
    if (!pending || pending.expires < Date.now()) return json(res, 400, { error: 'invalid_grant', error_description: 'unknown or used code' });
    if (form.get('redirect_uri') !== pending.redirectUri)
      return json(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri differs from the authorization request' });
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== pending.challenge)
      return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
    const user = opts.users.find((u) => u.sub === pending.sub)!;
    logins.push(user.sub);
    const idToken = await sign({ ...userClaims(user), ...(pending.nonce ? { nonce: pending.nonce } : {}) }, clientId, 3600);
    json(res, 200, {
      access_token: await accessToken(user, opts.accessTokenAudience ?? clientId),
      id_token: idToken,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: pending.scope,
    });
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const route = `${req.method} ${url.pathname}`;
    (async () => {
      if (route === 'GET /.well-known/openid-configuration') {
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
          scopes_supported: ['openid', 'profile', 'email'],
          authorization_response_iss_parameter_supported: true,
        });
      }
      if (route === 'GET /jwks') return json(res, 200, { keys: [jwk] });
      if (route === 'GET /authorize') return authorize(url, res);
      if (route === 'POST /token') return token(req, res);
      json(res, 404, { error: 'not_found' });
    })().catch((e: unknown) => json(res, 500, { error: 'server_error', error_description: (e as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  issuer = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;

  return {
    issuer,
    clientId,
    clientSecret,
    logins,
    async accessToken(sub, o = {}) {
      const u = opts.users.find((x) => x.sub === sub);
      if (!u) throw new Error(`no test user ${sub}`);
      return accessToken(u, o.audience ?? opts.accessTokenAudience ?? clientId, o.expiresInSeconds ?? 3600, o.issuer);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

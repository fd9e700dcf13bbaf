/**
 * Who may call the SCIM endpoint: static bearer tokens (config plus SCIM_TOKEN, for rotation),
 * compared as SHA-256 digests with timingSafeEqual so neither a token's content nor its length
 * leaks through timing; optionally OAuth 2 JWT access tokens verified against a JWKS.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { ScimConfig } from './config.js';

export type AuthOutcome = { ok: true; principal: string } | { ok: false; reason: string };

export interface ScimAuthenticator {
  /** False when neither tokens nor a JWT issuer are configured: every request is refused. */
  readonly configured: boolean;
  authenticate(authorization: string | undefined): Promise<AuthOutcome>;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Tokens from config and from SCIM_TOKEN (comma-separated), de-duplicated. */
export function scimTokens(config: Pick<ScimConfig, 'tokens'>, env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.SCIM_TOKEN ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  return [...new Set([...config.tokens, ...fromEnv])];
}

export function createAuthenticator(config: Pick<ScimConfig, 'tokens' | 'jwt'>, env: NodeJS.ProcessEnv = process.env): ScimAuthenticator {
  const digests = scimTokens(config, env).map(digest);
  const jwt = config.jwt;
  const jwks: JWTVerifyGetKey | null = jwt ? createRemoteJWKSet(new URL(jwt.jwksUri)) : null;
  return {
    configured: digests.length > 0 || jwks !== null,
    async authenticate(authorization) {
      if (!authorization) return { ok: false, reason: 'an Authorization: Bearer token is required' };
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m) return { ok: false, reason: 'the Authorization header must be "Bearer <token>"' };
      const token = m[1];
      const d = digest(token);
      let hit = -1;
      // every digest is compared, so the time taken does not say which token matched
      digests.forEach((t, i) => {
        if (timingSafeEqual(d, t) && hit === -1) hit = i;
      });
      if (hit >= 0) return { ok: true, principal: `token#${hit + 1}` };
      if (jwks && jwt && token.split('.').length === 3) {
        try {
          const { payload } = await jwtVerify(token, jwks, {
            issuer: jwt.issuer,
            audience: jwt.audience,
            clockTolerance: jwt.clockToleranceSeconds,
          });
          const who = typeof payload.sub === 'string' ? payload.sub : typeof payload.appid === 'string' ? payload.appid : 'unknown';
          return { ok: true, principal: `jwt:${who}` };
        } catch {
          return { ok: false, reason: 'the bearer token is not valid' };
        }
      }
      return { ok: false, reason: 'the bearer token is not valid' };
    },
  };
}

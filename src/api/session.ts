/**
 * The browser's session: an encrypted JWT (jose, `dir` + A256GCM, so its claims can be neither
 * read nor forged without the secret) in an HttpOnly, SameSite=Lax cookie. The key is the
 * SHA-256 of the configured secret. Nothing is kept server-side: a restart with the same secret
 * keeps everyone signed in; a new secret signs everyone out.
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { EncryptJWT, jwtDecrypt } from 'jose';
import { z } from 'zod';
import { roleSchema } from './roles.js';

export const SESSION_COOKIE = 'lockstep_session';
/** The login in flight (state, nonce, PKCE verifier, where to return), between /auth/login and /auth/callback. */
export const LOGIN_COOKIE = 'lockstep_login';

export const sessionClaimsSchema = z.object({
  sub: z.string().min(1),
  name: z.string().nullable(),
  email: z.string().nullable(),
  roles: z.array(roleSchema),
});
export type SessionClaims = z.infer<typeof sessionClaimsSchema>;

export const loginStateSchema = z.object({ state: z.string(), nonce: z.string(), verifier: z.string(), returnTo: z.string() });
export type LoginState = z.infer<typeof loginStateSchema>;

export class SessionKeys {
  private readonly key: Uint8Array;
  constructor(
    secret: string,
    /** Whether cookies get `Secure` (the public URL is https). */
    readonly secure: boolean,
    readonly maxAgeSeconds: number,
  ) {
    this.key = new Uint8Array(createHash('sha256').update(`lockstep-session\n${secret}`).digest());
  }

  async seal(claims: Record<string, unknown>, purpose: string, ttlSeconds: number): Promise<string> {
    return new EncryptJWT({ ...claims, purpose })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .encrypt(this.key);
  }

  /** The claims of a sealed value made for `purpose`, or null when it is forged, expired or for something else. */
  async open<T>(value: string | undefined, purpose: string, schema: z.ZodType<T>): Promise<T | null> {
    if (!value) return null;
    try {
      const { payload } = await jwtDecrypt(value, this.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      if (payload.purpose !== purpose) return null;
      const r = schema.safeParse(payload);
      return r.success ? r.data : null;
    } catch {
      return null;
    }
  }

  setCookie(res: Response, name: string, value: string, opts: { maxAgeSeconds: number; path: string }): void {
    res.cookie(name, value, { httpOnly: true, sameSite: 'lax', secure: this.secure, path: opts.path, maxAge: opts.maxAgeSeconds * 1000 });
  }

  clearCookie(res: Response, name: string, path: string): void {
    res.clearCookie(name, { httpOnly: true, sameSite: 'lax', secure: this.secure, path });
  }
}

/** One cookie's value from the Cookie header (no cookie-parser: two cookies are all lockstep reads). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) {
      const v = part.slice(i + 1).trim();
      try {
        return decodeURIComponent(v);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

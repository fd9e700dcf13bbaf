import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** Constant-time comparison over digests, so neither content nor length leaks through timing. */
function tokenMatches(presented: string, tokens: string[]): boolean {
  const p = createHash('sha256').update(presented).digest();
  let ok = false;
  for (const t of tokens) {
    const d = createHash('sha256').update(t).digest();
    if (timingSafeEqual(p, d)) ok = true;
  }
  return ok;
}

function bearer(req: Request): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1]!.trim() : null;
}

/** Admin API auth: `Authorization: Bearer <ADMIN_TOKEN>`; several tokens may be valid at once (rotation). */
export function requireToken(tokens: string[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    const t = bearer(req);
    if (tokens.length === 0) {
      res.status(503).json({ error: { code: 'config', message: 'the admin API has no token configured: set ADMIN_TOKEN' } });
      return;
    }
    if (!t || !tokenMatches(t, tokens)) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: { code: 'auth', message: 'missing or invalid bearer token' } });
      return;
    }
    res.locals.actor = `api:${createHash('sha256').update(t).digest('hex').slice(0, 8)}`;
    next();
  };
}

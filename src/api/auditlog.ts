import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { LockstepError } from '../domain/errors.js';
import { iterateAudit, type AuditEntry } from '../store/index.js';
import type { EngineContext } from '../reconcile/index.js';

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/**
 * `GET /console/audit?subject=&since=&limit=`: the newest `limit` audit entries (default 500, at
 * most 5000), newest first, of a subject and from an instant when given. `GET /audit` pages from
 * the start of the log; a console wants the latest. The log is read in order (the store's
 * iterator, from `since`), keeping only the newest `limit` entries, so memory stays bounded
 * however long the window is; `scanned` says how many entries were read.
 */
export function createAuditLogRouter(ctx: EngineContext): Router {
  const r = express.Router();
  r.get(
    '/console/audit',
    h(async (req, res) => {
      const subject = typeof req.query.subject === 'string' && req.query.subject !== '' ? req.query.subject : undefined;
      let since: string | undefined;
      if (typeof req.query.since === 'string' && req.query.since !== '') {
        const t = Date.parse(req.query.since);
        if (Number.isNaN(t)) throw new LockstepError('validation', 'since must be an ISO 8601 date or date-time', { field: 'since' });
        since = new Date(t).toISOString();
      }
      let limit = 500;
      const raw = req.query.limit;
      if (raw !== undefined && raw !== '') {
        if (typeof raw !== 'string' || !/^\d{1,7}$/.test(raw) || Number(raw) < 1) throw new LockstepError('validation', 'limit must be a whole number from 1 to 5000', { field: 'limit' });
        limit = Math.min(5000, Number(raw));
      }
      const ring: AuditEntry[] = new Array(limit);
      let scanned = 0;
      for await (const e of iterateAudit(ctx.db, { subject, since })) ring[scanned++ % limit] = e;
      const n = Math.min(scanned, limit);
      const entries: AuditEntry[] = [];
      for (let i = 0; i < n; i++) entries.push(ring[(scanned - 1 - i) % limit]!);
      res.json({ entries, scanned, more: scanned > limit });
    }),
  );
  return r;
}

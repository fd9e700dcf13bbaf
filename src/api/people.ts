import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { LockstepError } from '../domain/errors.js';
import { isLeaver } from '../domain/identity.js';
import { iterateIdentities } from '../store/index.js';
import type { EngineContext } from '../reconcile/index.js';
import type { z } from 'zod';
import type { personRowSchema } from './schemas.js';

type PersonRow = z.infer<typeof personRowSchema>;

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/**
 * `GET /identities?q=&limit=&deleted=1`: people for the console's search (deleted ones with `deleted=1`), matched case-insensitively on
 * userName, displayName, externalId, email, department and job title. It reads the store page by
 * page (the store's own iterator) and stops at `limit` matches, so a search that matches early
 * reads one page; an unmatched one reads every identity.
 */
export function createPeopleRouter(ctx: EngineContext): Router {
  const r = express.Router();
  r.get(
    '/identities',
    h(async (req, res) => {
      const q = typeof req.query.q === 'string' ? req.query.q.trim().toLowerCase() : '';
      if (q.length > 200) throw new LockstepError('validation', 'q must be at most 200 characters', { field: 'q' });
      const rawLimit = req.query.limit;
      let limit = 50;
      if (rawLimit !== undefined && rawLimit !== '') {
        if (typeof rawLimit !== 'string' || !/^\d{1,6}$/.test(rawLimit) || Number(rawLimit) < 1)
          throw new LockstepError('validation', 'limit must be a whole number from 1 to 500', { field: 'limit' });
        limit = Math.min(500, Number(rawLimit));
      }
      // people their source deleted are kept (their history, their accounts' revocations): shown when asked for
      const includeDeleted = req.query.deleted === '1' || req.query.deleted === 'true';
      const now = ctx.now();
      const people: PersonRow[] = [];
      let more = false;
      outer: for await (const page of iterateIdentities(ctx.db, 2000, { includeDeleted })) {
        for (const i of page) {
          const hay = [i.userName, i.displayName, i.externalId, i.email, i.department, i.jobTitle].filter(Boolean).join('\n').toLowerCase();
          if (q && !hay.includes(q)) continue;
          if (people.length >= limit) {
            more = true;
            break outer;
          }
          people.push({
            id: i.id,
            userName: i.userName,
            displayName: i.displayName ?? null,
            externalId: i.externalId,
            source: i.source,
            employeeType: i.employeeType ?? null,
            department: i.department ?? null,
            jobTitle: i.jobTitle ?? null,
            site: i.site ?? null,
            leaver: isLeaver(i, now),
            deleted: i.deletedAt !== null,
          });
        }
      }
      res.json({ identities: people, more });
    }),
  );
  return r;
}

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { LockstepError } from '../domain/errors.js';
import { didYouMean } from '../domain/suggest.js';
import { allUserNames, auditPageNewestFirst, isUuid, personNames, searchPeople, type AuditEntry } from '../store/index.js';
import type { EngineContext } from '../reconcile/index.js';

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/** An audit entry as the console shows it: with the person it is about, by name. */
export interface NamedAuditEntry extends AuditEntry {
  person: { id: string; userName: string; displayName: string | null; externalId: string } | null;
}

/**
 * `GET /console/audit?q=&subject=&since=&before=&limit=`: a page of the audit log, newest first
 * (default 500 entries, at most 5000; `next` is the `before` of the following page, `more` says
 * there is one). `subject` is an exact subject (identity id, run id, `system:account`);
 * `q` finds people by name, userName, employee id or e-mail and keeps the entries about them
 * (their subject, or the identity the entry names), or is taken as a subject when it is an id
 * or `system:account`. Every entry names the person it is about. An empty answer says why
 * (`why`): nobody matched the search (with close userNames), or nothing was logged about them.
 */
export function createAuditLogRouter(ctx: EngineContext): Router {
  const r = express.Router();
  r.get(
    '/console/audit',
    h(async (req, res) => {
      const str = (v: unknown, name: string) => {
        if (v === undefined || v === '') return undefined;
        if (typeof v !== 'string' || v.length > 300)
          throw new LockstepError('validation', `${name} must be one string of at most 300 characters`, { field: name });
        return v.trim() || undefined;
      };
      const subject = str(req.query.subject, 'subject');
      const search = str(req.query.q, 'q');
      let since: string | undefined;
      if (typeof req.query.since === 'string' && req.query.since !== '') {
        const t = Date.parse(req.query.since);
        if (Number.isNaN(t)) throw new LockstepError('validation', 'since must be an ISO 8601 date or date-time', { field: 'since' });
        since = new Date(t).toISOString();
      }
      let limit = 500;
      const raw = req.query.limit;
      if (raw !== undefined && raw !== '') {
        if (typeof raw !== 'string' || !/^\d{1,7}$/.test(raw) || Number(raw) < 1)
          throw new LockstepError('validation', 'limit must be a whole number from 1 to 5000', { field: 'limit' });
        limit = Math.min(5000, Number(raw));
      }
      let before: number | null = null;
      const rawBefore = req.query.before;
      if (rawBefore !== undefined && rawBefore !== '') {
        if (typeof rawBefore !== 'string' || !/^\d{1,15}$/.test(rawBefore) || Number(rawBefore) < 1)
          throw new LockstepError('validation', 'before must be an entry number (the next of the previous page)', { field: 'before' });
        before = Number(rawBefore);
      }

      let subjects: string[] | null = subject ? [subject] : null;
      let matched: Array<{ id: string; userName: string; displayName: string | null }> = [];
      if (search) {
        if (isUuid(search) || /^[^\s:]+:[^\s]+$/.test(search)) subjects = [...(subjects ?? []), search];
        else {
          matched = await searchPeople(ctx.db, search, 200);
          if (matched.length === 0) {
            const hint = didYouMean(search, await allUserNames(ctx.db));
            res.json({
              entries: [],
              more: false,
              next: null,
              scanned: 0,
              matched: [],
              why: `Nobody's name, user name or employee id contains "${search}"${hint}.`,
            });
            return;
          }
          subjects = matched.map((p) => p.id);
        }
      }
      const page = await auditPageNewestFirst(ctx.db, { limit, before, subjects, since: since ?? null });
      const names = await personNames(
        ctx.db,
        page.entries.flatMap((e) => [e.subject, typeof e.data.identityId === 'string' ? e.data.identityId : null]),
      );
      const entries: NamedAuditEntry[] = page.entries.map((e) => {
        const id = e.subject && names.has(e.subject) ? e.subject : typeof e.data.identityId === 'string' ? e.data.identityId : null;
        const p = id ? names.get(id) : undefined;
        return { ...e, person: p ? { id: p.id, userName: p.userName, displayName: p.displayName, externalId: p.externalId } : null };
      });
      let why: string | null = null;
      if (entries.length === 0) {
        const who = matched.length
          ? matched
              .slice(0, 5)
              .map((p) => (p.displayName ? `${p.displayName} (${p.userName})` : p.userName))
              .join(', ') + (matched.length > 5 ? ` and ${matched.length - 5} more` : '')
          : null;
        why =
          before !== null
            ? 'No older entries.'
            : who
              ? `${who} match${matched.length === 1 ? 'es' : ''} "${search}", but the log has no entries about ${matched.length === 1 ? 'them' : 'any of them'}${since ? ` since ${since}` : ''}.`
              : subjects
                ? `The log has no entries about ${subjects.join(', ')}${since ? ` since ${since}` : ''}.`
                : since
                  ? `The log has no entries since ${since}.`
                  : 'The log is empty.';
      }
      res.json({ entries, more: page.more, next: page.next, scanned: entries.length, matched: matched.slice(0, 50), why });
    }),
  );
  return r;
}

import { randomUUID } from 'node:crypto';
import type { AccessException, ExceptionSource } from '../domain/governance.js';
import { LockstepError } from '../domain/errors.js';
import { appendAudit } from './audit.js';
import type { Db, Queryable } from './db.js';
import { isUuid } from './identities.js';

export interface ExceptionRow {
  id: string;
  identity_id: string;
  access_group_id: string;
  until: Date | string;
  reason: string;
  source: ExceptionSource;
  source_ref: string | null;
  created_by: string;
  created_at: Date | string;
  removed_at: Date | string | null;
  removed_by: string | null;
  removed_reason: string | null;
}

const isoOf = (v: Date | string): string => new Date(v).toISOString();

export function exceptionFromRow(r: ExceptionRow): AccessException {
  return {
    id: r.id,
    identityId: r.identity_id,
    accessGroupId: r.access_group_id,
    until: isoOf(r.until),
    reason: r.reason,
    source: r.source,
    sourceRef: r.source_ref,
    createdBy: r.created_by,
    createdAt: isoOf(r.created_at),
    removedAt: r.removed_at === null ? null : isoOf(r.removed_at),
    removedBy: r.removed_by,
    removedReason: r.removed_reason,
  };
}

export interface NewException {
  identityId: string;
  accessGroupId: string;
  until: string;
  reason: string;
  source?: ExceptionSource;
  sourceRef?: string | null;
  actor: string;
  at: string;
  /** Extra audit data (the person's userName, the group's name). */
  audit?: Record<string, unknown>;
}

/** Records an exception and its audit entry in one transaction. */
export async function insertException(db: Db, x: NewException): Promise<AccessException> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<ExceptionRow>(
      `INSERT INTO access_exceptions (id, identity_id, access_group_id, until, reason, source, source_ref, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
      [randomUUID(), x.identityId, x.accessGroupId, x.until, x.reason, x.source ?? 'manual', x.sourceRef ?? null, x.actor, x.at],
    );
    const e = exceptionFromRow(rows[0]);
    await appendAudit(tx, [
      {
        actor: x.actor,
        action: 'exception.created',
        subject: e.identityId,
        at: x.at,
        data: { exceptionId: e.id, accessGroupId: e.accessGroupId, until: e.until, reason: e.reason, source: e.source, sourceRef: e.sourceRef, ...x.audit },
      },
    ]);
    return e;
  });
}

/** Ends an exception early (it stays as the record), with its audit entry. */
export async function removeException(db: Db, id: string, r: { actor: string; reason: string; at: string }): Promise<AccessException> {
  if (!isUuid(id)) throw new LockstepError('not_found', `no exception ${id}`, { field: 'id' });
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<ExceptionRow>(
      `UPDATE access_exceptions SET removed_at = $2, removed_by = $3, removed_reason = $4
        WHERE id = $1 AND removed_at IS NULL RETURNING *`,
      [id, r.at, r.actor, r.reason],
    );
    if (rows.length === 0) {
      const { rows: any } = await tx.query<ExceptionRow>('SELECT * FROM access_exceptions WHERE id = $1', [id]);
      if (any.length === 0) throw new LockstepError('not_found', `no exception ${id}`, { field: 'id' });
      throw new LockstepError('precondition', `exception ${id} was already removed at ${isoOf(any[0].removed_at!)} by ${any[0].removed_by}`, { field: 'id' });
    }
    const e = exceptionFromRow(rows[0]);
    await appendAudit(tx, [
      {
        actor: r.actor,
        action: 'exception.removed',
        subject: e.identityId,
        at: r.at,
        data: { exceptionId: e.id, accessGroupId: e.accessGroupId, until: e.until, reason: r.reason, exceptionReason: e.reason },
      },
    ]);
    return e;
  });
}

export async function getException(q: Queryable, id: string): Promise<AccessException | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<ExceptionRow>('SELECT * FROM access_exceptions WHERE id = $1', [id]);
  return rows[0] ? exceptionFromRow(rows[0]) : null;
}

/** Exceptions, newest first: those in force at `now` unless `all`; of one identity or access group when given. */
export async function listExceptions(
  q: Queryable,
  opts: { now: Date; all?: boolean; identityId?: string; accessGroupId?: string; limit?: number },
): Promise<AccessException[]> {
  const { rows } = await q.query<ExceptionRow>(
    `SELECT * FROM access_exceptions
      WHERE ($1::boolean OR (removed_at IS NULL AND until > $2))
        AND ($3::uuid IS NULL OR identity_id = $3) AND ($4::text IS NULL OR access_group_id = $4)
      ORDER BY created_at DESC, id LIMIT $5`,
    [!!opts.all, opts.now.toISOString(), opts.identityId ?? null, opts.accessGroupId ?? null, opts.limit ?? 1000],
  );
  return rows.map(exceptionFromRow);
}

/** The exceptions in force at `now` of these identities, by identity id, in one round trip. */
export async function exceptionsInForce(q: Queryable, identityIds: readonly string[], now: Date): Promise<Map<string, AccessException[]>> {
  const out = new Map<string, AccessException[]>();
  const ids = identityIds.filter(isUuid);
  if (ids.length === 0) return out;
  const { rows } = await q.query<ExceptionRow>(
    'SELECT * FROM access_exceptions WHERE identity_id = ANY($1::uuid[]) AND removed_at IS NULL AND until > $2 ORDER BY until, id',
    [ids, now.toISOString()],
  );
  for (const r of rows) {
    const e = exceptionFromRow(r);
    const list = out.get(e.identityId);
    if (list) list.push(e);
    else out.set(e.identityId, [e]);
  }
  return out;
}

import { randomUUID } from 'node:crypto';
import type { AccessException, AccessRequest, ApprovalStep, RequestGrant, RequestStatus } from '../domain/governance.js';
import { LockstepError } from '../domain/errors.js';
import { appendAudit } from './audit.js';
import type { Db, Queryable } from './db.js';
import { exceptionFromRow, type ExceptionRow } from './access-exceptions.js';
import { isUuid } from './identities.js';

interface Row {
  id: string;
  identity_id: string;
  kind: AccessRequest['kind'];
  target: string;
  groups: string[];
  valid_from: Date | string;
  valid_until: Date | string;
  justification: string;
  status: RequestStatus;
  steps: ApprovalStep[] | string;
  requested_by: string;
  created_at: Date | string;
  decided_at: Date | string | null;
  decided_by: string | null;
  decision_comment: string | null;
}

const isoOf = (v: Date | string): string => new Date(v).toISOString();

function fromRow(r: Row): AccessRequest {
  return {
    id: r.id,
    identityId: r.identity_id,
    kind: r.kind,
    target: r.target,
    groups: r.groups,
    validFrom: isoOf(r.valid_from),
    validUntil: isoOf(r.valid_until),
    justification: r.justification,
    status: r.status,
    steps: typeof r.steps === 'string' ? (JSON.parse(r.steps) as ApprovalStep[]) : r.steps,
    requestedBy: r.requested_by,
    createdAt: isoOf(r.created_at),
    decidedAt: r.decided_at === null ? null : isoOf(r.decided_at),
    decidedBy: r.decided_by,
    decisionComment: r.decision_comment,
  };
}

export type NewRequest = Omit<AccessRequest, 'id' | 'status' | 'decidedAt' | 'decidedBy' | 'decisionComment'> & { audit?: Record<string, unknown> };

/** Records a request and its audit entry (`request.created`) in one transaction. */
export async function insertRequest(db: Db, x: NewRequest): Promise<AccessRequest> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<Row>(
      `INSERT INTO access_requests (id, identity_id, kind, target, groups, valid_from, valid_until, justification, steps, requested_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [randomUUID(), x.identityId, x.kind, x.target, x.groups, x.validFrom, x.validUntil, x.justification, JSON.stringify(x.steps), x.requestedBy, x.createdAt],
    );
    const r = fromRow(rows[0]);
    await appendAudit(tx, [
      {
        actor: x.requestedBy,
        action: 'request.created',
        subject: r.identityId,
        at: x.createdAt,
        data: {
          requestId: r.id,
          kind: r.kind,
          target: r.target,
          groups: r.groups,
          validFrom: r.validFrom,
          validUntil: r.validUntil,
          justification: r.justification,
          approvals: r.steps.map((s) => ({ kind: s.kind, who: s.who })),
          ...x.audit,
        },
      },
    ]);
    return r;
  });
}

export async function getRequest(q: Queryable, id: string): Promise<AccessRequest | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<Row>('SELECT * FROM access_requests WHERE id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/**
 * Writes a decision on a pending request (approval steps given, or the final status) with its
 * audit entry, in one transaction; refused when the request is no longer pending (someone
 * decided in the meantime).
 */
export async function decideRequest(
  db: Db,
  id: string,
  d: { steps: ApprovalStep[]; status: RequestStatus; actor: string; at: string; comment: string | null; action: string; audit?: Record<string, unknown> },
): Promise<AccessRequest> {
  return db.transaction(async (tx) => {
    const final = d.status !== 'pending';
    const { rows } = await tx.query<Row>(
      `UPDATE access_requests SET steps = $2, status = $3,
              decided_at = CASE WHEN $4::boolean THEN $5::timestamptz ELSE NULL END,
              decided_by = CASE WHEN $4::boolean THEN $6 ELSE NULL END,
              decision_comment = CASE WHEN $4::boolean THEN $7 ELSE NULL END
        WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, JSON.stringify(d.steps), d.status, final, d.at, d.actor, d.comment],
    );
    if (rows.length === 0) throw new LockstepError('precondition', `request ${id} is not pending any more`, { field: 'id' });
    const r = fromRow(rows[0]);
    await appendAudit(tx, [
      {
        actor: d.actor,
        action: d.action,
        subject: r.identityId,
        at: d.at,
        data: { requestId: r.id, status: r.status, groups: r.groups, validFrom: r.validFrom, validUntil: r.validUntil, comment: d.comment, ...d.audit },
      },
    ]);
    return r;
  });
}

export async function listRequests(q: Queryable, opts: { status?: RequestStatus; identityId?: string; limit?: number } = {}): Promise<AccessRequest[]> {
  const { rows } = await q.query<Row>(
    `SELECT * FROM access_requests WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR identity_id = $2)
      ORDER BY created_at DESC, id LIMIT $3`,
    [opts.status ?? null, opts.identityId ?? null, opts.limit ?? 1000],
  );
  return rows.map(fromRow);
}

/** Approved requests of these identities that have not ended at `now` (also those still to begin), by identity id. */
export async function grantsInForce(q: Queryable, identityIds: readonly string[], now: Date): Promise<Map<string, RequestGrant[]>> {
  const out = new Map<string, RequestGrant[]>();
  const ids = identityIds.filter(isUuid);
  if (ids.length === 0) return out;
  const { rows } = await q.query<Row>(
    "SELECT * FROM access_requests WHERE identity_id = ANY($1::uuid[]) AND status = 'approved' AND valid_until > $2 ORDER BY valid_until, id",
    [ids, now.toISOString()],
  );
  for (const r of rows) {
    const g = fromRow(r);
    const list = out.get(g.identityId);
    const grant = grantOf(g);
    if (list) list.push(grant);
    else out.set(g.identityId, [grant]);
  }
  return out;
}

function grantOf(g: AccessRequest): RequestGrant {
  return {
    id: g.id,
    groups: g.groups,
    validFrom: g.validFrom,
    validUntil: g.validUntil,
    decidedBy: g.decidedBy,
    justification: g.justification,
    kind: g.kind,
    target: g.target,
  };
}

/** What governance adds to identities' evaluation: exceptions in force and approved requests' grants, by identity id. */
export interface GovernanceInForce {
  exceptions: Map<string, AccessException[]>;
  grants: Map<string, RequestGrant[]>;
}

/**
 * The two columns (`gov_exceptions`, `gov_grants`) governanceFromJson reads, for identities
 * `ids` at instant `now` (parameters): a statement that reads more (an identity's scope) takes them too.
 */
export function governanceSelects(ids: string, now: string): string {
  return `(SELECT json_agg(e ORDER BY e.until, e.id) FROM access_exceptions e WHERE e.identity_id = ANY(${ids}::uuid[]) AND e.removed_at IS NULL AND e.until > ${now}::timestamptz) AS gov_exceptions,
            (SELECT json_agg(r ORDER BY r.valid_until, r.id) FROM access_requests r WHERE r.identity_id = ANY(${ids}::uuid[]) AND r.status = 'approved' AND r.valid_until > ${now}::timestamptz) AS gov_grants`;
}

export function governanceFromJson(row: { gov_exceptions?: unknown; gov_grants?: unknown } | undefined): GovernanceInForce {
  const exceptions = new Map<string, AccessException[]>();
  const grants = new Map<string, RequestGrant[]>();
  const parse = <T>(v: unknown): T[] => (v === null || v === undefined ? [] : typeof v === 'string' ? (JSON.parse(v) as T[]) : (v as T[]));
  for (const r of parse<ExceptionRow>(row?.gov_exceptions)) {
    const x = exceptionFromRow(r);
    const list = exceptions.get(x.identityId);
    if (list) list.push(x);
    else exceptions.set(x.identityId, [x]);
  }
  for (const r of parse<Row>(row?.gov_grants)) {
    const g = fromRow(r);
    const list = grants.get(g.identityId);
    if (list) list.push(grantOf(g));
    else grants.set(g.identityId, [grantOf(g)]);
  }
  return { exceptions, grants };
}

/** What governance adds to these identities' evaluation, in one round trip. */
export async function governanceInForce(q: Queryable, identityIds: readonly string[], now: Date): Promise<GovernanceInForce> {
  const ids = identityIds.filter(isUuid);
  if (ids.length === 0) return governanceFromJson(undefined);
  const { rows } = await q.query<{ gov_exceptions: unknown; gov_grants: unknown }>(`SELECT ${governanceSelects('$1', '$2')}`, [ids, now.toISOString()]);
  return governanceFromJson(rows[0]);
}

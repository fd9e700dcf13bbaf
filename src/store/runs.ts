import { randomUUID } from 'node:crypto';
import type { OperationResult, Plan, RunStatus } from '../domain/plan.js';
import type { Db, Queryable } from './db.js';
import { auditWritten, pendingAuditJson, pendingAuditSelect, type AuditEntryInput } from './audit.js';
import { anchorCtes, anchorParams, type AnchorItems } from './links.js';
import { settleCtes, settleParams, type SettleSpec } from './queue-state.js';

export interface Run {
  id: string;
  kind: 'plan' | 'apply';
  trigger: string;
  status: RunStatus;
  scope: 'full' | 'identities';
  plan: Plan | null;
  results: OperationResult[];
  summary: Record<string, unknown> | null;
  progress: { done: number; total: number } | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  approvedBy: string | null;
  approvedAt: string | null;
}

interface Row {
  id: string;
  kind: Run['kind'];
  trigger: string;
  status: RunStatus;
  scope: Run['scope'];
  plan: Plan | null;
  results: OperationResult[];
  summary: Record<string, unknown> | null;
  progress: Run['progress'];
  error: string | null;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
  approved_by: string | null;
  approved_at: Date | string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function fromRow(r: Row): Run {
  return {
    id: r.id,
    kind: r.kind,
    trigger: r.trigger,
    status: r.status,
    scope: r.scope,
    plan: r.plan,
    results: r.results ?? [],
    summary: r.summary,
    progress: r.progress,
    error: r.error,
    createdAt: iso(r.created_at)!,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    approvedBy: r.approved_by,
    approvedAt: iso(r.approved_at),
  };
}

export async function createRun(
  q: Queryable,
  r: { id?: string; kind: Run['kind']; trigger: string; status: RunStatus; scope: Run['scope']; plan: Plan | null },
): Promise<Run> {
  const { rows } = await q.query<Row>(
    // a run given its id may be tried again (a full-run job taken over after its worker died):
    // the new try replaces the record of the old one
    `INSERT INTO runs (id, kind, trigger, status, scope, plan, summary, progress, started_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
     ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, trigger = EXCLUDED.trigger, status = EXCLUDED.status, scope = EXCLUDED.scope,
       plan = EXCLUDED.plan, summary = EXCLUDED.summary, progress = EXCLUDED.progress, results = '[]'::jsonb, error = NULL,
       started_at = now(), finished_at = NULL
     RETURNING *`,
    [
      r.id ?? randomUUID(),
      r.kind,
      r.trigger,
      r.status,
      r.scope,
      r.plan ? JSON.stringify(r.plan) : null,
      r.plan ? JSON.stringify(r.plan.summary) : null,
      JSON.stringify({ done: 0, total: r.plan?.operations.length ?? 0 }),
    ],
  );
  return fromRow(rows[0]);
}

/**
 * Records a run that has already finished, in one statement: identity-scoped runs of the queue
 * (a joiner, mover or leaver) write their record once, after their few operations, instead of
 * once before and once after. Their audit entries carry the run's id from the start.
 */
/**
 * A finished run's record, in one statement with the audit entries of its operations, the
 * identities' anchors and (a queued identity's run) its settling: the statement an identity's
 * job ends with.
 */
export async function insertFinishedRun(
  q: Db,
  r: Pick<Run, 'id' | 'kind' | 'trigger' | 'status' | 'scope' | 'plan' | 'results' | 'summary' | 'progress' | 'error'> & { startedAt: string },
  audit: AuditEntryInput[] = [],
  also: { anchors?: AnchorItems; settle?: SettleSpec | null } = {},
): Promise<Run> {
  const { rows } = await q.query<Row>(
    `WITH a AS (INSERT INTO audit_pending (at, actor, action, subject, run_id, data) ${pendingAuditSelect('$12')}),
     ${anchorCtes(13)}, ${settleCtes(17)}
     INSERT INTO runs (id, kind, trigger, status, scope, plan, results, summary, progress, error, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now()) RETURNING *`,
    [
      r.id,
      r.kind,
      r.trigger,
      r.status,
      r.scope,
      r.plan ? JSON.stringify(r.plan) : null,
      JSON.stringify(r.results),
      r.summary ? JSON.stringify(r.summary) : null,
      r.progress ? JSON.stringify(r.progress) : null,
      r.error,
      r.startedAt,
      pendingAuditJson(audit),
      ...anchorParams(also.anchors ?? []),
      ...settleParams(also.settle ?? null),
    ],
  );
  if (audit.length) auditWritten(q);
  return fromRow(rows[0]);
}

export async function getRun(q: Queryable, id: string): Promise<Run | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await q.query<Row>('SELECT * FROM runs WHERE id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

/** Accepts a unique prefix of a run id, as `lockstep approve 3f2a` would pass. */
export async function findRun(q: Queryable, idOrPrefix: string): Promise<Run | null> {
  if (!/^[0-9a-f-]{4,36}$/i.test(idOrPrefix)) return null;
  const { rows } = await q.query<Row>('SELECT * FROM runs WHERE id::text LIKE $1 ORDER BY created_at DESC LIMIT 2', [`${idOrPrefix.toLowerCase()}%`]);
  return rows.length === 1 ? fromRow(rows[0]) : null;
}

export async function listRuns(q: Queryable, opts: { limit?: number; status?: RunStatus; before?: string } = {}): Promise<Run[]> {
  const params: unknown[] = [opts.limit ?? 50];
  const where: string[] = [];
  if (opts.status) {
    params.push(opts.status);
    where.push(`status = $${params.length}`);
  }
  // a page after the run `before` (its id): the runs created before it, newest first
  if (opts.before) {
    params.push(opts.before);
    where.push(`(created_at, id) < (SELECT created_at, id FROM runs WHERE id = $${params.length}::uuid)`);
  }
  const { rows } = await q.query<Row>(
    `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $1`,
    params,
  );
  return rows.map(fromRow);
}

export async function updateRun(
  q: Queryable,
  id: string,
  patch: Partial<Pick<Run, 'status' | 'results' | 'summary' | 'progress' | 'error' | 'approvedBy' | 'plan'>> & { finished?: boolean; approved?: boolean },
): Promise<Run> {
  const sets: string[] = [];
  const params: unknown[] = [id];
  const set = (col: string, v: unknown) => {
    params.push(v);
    sets.push(`${col} = $${params.length}`);
  };
  if (patch.status) set('status', patch.status);
  if (patch.results) set('results', JSON.stringify(patch.results));
  if (patch.summary) set('summary', JSON.stringify(patch.summary));
  if (patch.progress) set('progress', JSON.stringify(patch.progress));
  if (patch.error !== undefined) set('error', patch.error);
  if (patch.plan) set('plan', JSON.stringify(patch.plan));
  if (patch.approvedBy) set('approved_by', patch.approvedBy);
  if (patch.approved) sets.push('approved_at = now()');
  if (patch.finished) sets.push('finished_at = now()');
  const { rows } = await q.query<Row>(`UPDATE runs SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, params);
  return fromRow(rows[0]);
}

/**
 * Progress only, and nothing read back: a run's row carries its whole plan, which a
 * `RETURNING *` every few hundred operations would ship back and parse each time.
 */
export async function setRunProgress(q: Queryable, id: string, progress: { done: number; total: number }): Promise<void> {
  await q.query('UPDATE runs SET progress = $2 WHERE id = $1', [id, JSON.stringify(progress)]);
}

/**
 * Moves a run from one status to another only if it is still in the expected one; returns
 * null otherwise. Two approvers (or two workers) cannot both start the same held run.
 */
export async function transitionRun(q: Queryable, id: string, from: RunStatus[], to: RunStatus, approvedBy?: string): Promise<Run | null> {
  const { rows } = await q.query<Row>(
    `UPDATE runs SET status = $2, approved_by = COALESCE($4, approved_by),
       approved_at = CASE WHEN $4::text IS NULL THEN approved_at ELSE now() END
     WHERE id = $1 AND status = ANY($3::text[]) RETURNING *`,
    [id, to, from, approvedBy ?? null],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

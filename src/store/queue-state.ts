import { randomUUID } from 'node:crypto';
import { isRetryableResult, type Operation, type OperationResult } from '../domain/plan.js';
import type { Db, Queryable } from './db.js';
import { isUuid } from './identities.js';
import { anchorCtes, anchorParams, type AnchorItems } from './links.js';

/** The two lanes of identity jobs (the queue's vocabulary, kept here so the store needs no queue import). */
export type Lane = 'revocation' | 'normal';

/** The queue's state in the store (migration 003): it must survive Redis losing its data. */

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

// ---- next checks (requeue-after) ----------------------------------------------------------

export interface CheckEntry {
  identityId: string;
  nextCheckAt: string | null;
}

/**
 * Remembers when identities next need a look. `exact` values come from reconciling that
 * identity alone and replace whatever was there; inexact ones (a bucket's earliest instant)
 * never overwrite an exact value, which is the identity's own and at least as recent.
 */
export async function recordChecks(q: Queryable, entries: CheckEntry[], exact: boolean): Promise<void> {
  const wanted = new Map(entries.filter((e) => isUuid(e.identityId)).map((e) => [e.identityId, e.nextCheckAt ? new Date(e.nextCheckAt).toISOString() : null]));
  if (wanted.size === 0) return;
  // Read first, write only what changes: most reconciles leave the next check as it was, and
  // a write is a commit (an fsync) on the hot path of every job.
  const { rows } = await q.query<{ identity_id: string; next_check_at: Date | string | null; exact: boolean }>(
    'SELECT identity_id, next_check_at, exact FROM queue_checks WHERE identity_id = ANY($1::uuid[])',
    [[...wanted.keys()]],
  );
  const have = new Map(rows.map((r) => [r.identity_id, r]));
  const changed = [...wanted].filter(([id, at]) => {
    const cur = have.get(id);
    if (!cur) return at !== null || exact;
    if (!exact && cur.exact) return false;
    return iso(cur.next_check_at) !== at || cur.exact !== exact;
  });
  if (changed.length === 0) return;
  await q.query(
    `INSERT INTO queue_checks (identity_id, next_check_at, exact, updated_at)
     SELECT i, t, $3, now() FROM unnest($1::uuid[], $2::timestamptz[]) AS u(i, t)
     ON CONFLICT (identity_id) DO UPDATE SET next_check_at = EXCLUDED.next_check_at, exact = EXCLUDED.exact, updated_at = now()
     ${exact ? '' : 'WHERE NOT queue_checks.exact'}`,
    [changed.map(([id]) => id), changed.map(([, at]) => at), exact],
  );
}

/** Identities whose next check has come (oldest first). */
export async function dueChecks(q: Queryable, now: Date, limit = 10_000): Promise<Array<{ identityId: string; nextCheckAt: string }>> {
  const { rows } = await q.query<{ identity_id: string; next_check_at: Date | string }>(
    `SELECT identity_id, next_check_at FROM queue_checks WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2`,
    [now.toISOString(), limit],
  );
  return rows.map((r) => ({ identityId: r.identity_id, nextCheckAt: iso(r.next_check_at)! }));
}

export async function getCheck(q: Queryable, identityId: string): Promise<{ nextCheckAt: string | null; exact: boolean } | null> {
  if (!isUuid(identityId)) return null;
  const { rows } = await q.query<{ next_check_at: Date | string | null; exact: boolean }>(
    'SELECT next_check_at, exact FROM queue_checks WHERE identity_id = $1',
    [identityId],
  );
  return rows[0] ? { nextCheckAt: iso(rows[0].next_check_at), exact: rows[0].exact } : null;
}

// ---- overdue revocations --------------------------------------------------------------------

export type OverdueKind = 'revocation' | 'lost-credential' | 'orphan-revocation';

export interface OverdueRevocation {
  /** `identity:<id>`, `credential:<system>:<id>` or `orphans:<system>`. */
  key: string;
  kind: OverdueKind;
  identityId: string | null;
  system: string | null;
  /** The revocations that did not land, as the engine planned them (kind, system, account, group). */
  operations: Array<Pick<Operation, 'key' | 'kind' | 'system' | 'accountId'> & { group?: string; credentialId?: string }>;
  /** When it first failed: overdue since then. */
  since: string;
  lastFailedAt: string;
  attempts: number;
  lastError: string | null;
}

interface OverdueRow {
  key: string;
  kind: OverdueKind;
  identity_id: string | null;
  system: string | null;
  operations: OverdueRevocation['operations'];
  first_failed_at: Date | string;
  last_failed_at: Date | string;
  attempts: number;
  last_error: string | null;
}

export function overdueOps(ops: Operation[]): OverdueRevocation['operations'] {
  return ops.map((o) => ({
    key: o.key,
    kind: o.kind,
    system: o.system,
    accountId: o.accountId,
    ...(o.group ? { group: o.group.id } : {}),
    ...(o.credentialId ? { credentialId: o.credentialId } : {}),
  }));
}

export async function recordOverdue(
  q: Queryable,
  o: {
    key: string;
    kind: OverdueKind;
    identityId?: string | null;
    system?: string | null;
    operations: OverdueRevocation['operations'];
    error: string | null;
    at?: Date;
  },
): Promise<void> {
  const at = (o.at ?? new Date()).toISOString();
  await q.query(
    `INSERT INTO queue_overdue (key, kind, identity_id, system, operations, first_failed_at, last_failed_at, attempts, last_error)
     VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7)
     ON CONFLICT (key) DO UPDATE SET operations = EXCLUDED.operations, last_failed_at = EXCLUDED.last_failed_at,
       attempts = queue_overdue.attempts + 1, last_error = EXCLUDED.last_error`,
    [o.key, o.kind, o.identityId && isUuid(o.identityId) ? o.identityId : null, o.system ?? null, JSON.stringify(o.operations), at, o.error],
  );
}

/** The revocation landed (or is no longer wanted): it is not overdue any more. */
export async function clearOverdue(q: Queryable, key: string): Promise<boolean> {
  const r = await q.query('DELETE FROM queue_overdue WHERE key = $1', [key]);
  return r.rowCount > 0;
}

/** As clearOverdue, for many keys in one statement (a full run's landed revocations). */
export async function clearOverdueMany(q: Queryable, keys: string[]): Promise<void> {
  if (keys.length) await q.query('DELETE FROM queue_overdue WHERE key = ANY($1::text[])', [keys]);
}

export async function listOverdue(q: Queryable): Promise<OverdueRevocation[]> {
  const { rows } = await q.query<OverdueRow>('SELECT * FROM queue_overdue ORDER BY first_failed_at');
  return rows.map((r) => ({
    key: r.key,
    kind: r.kind,
    identityId: r.identity_id,
    system: r.system,
    operations: r.operations ?? [],
    since: iso(r.first_failed_at)!,
    lastFailedAt: iso(r.last_failed_at)!,
    attempts: Number(r.attempts),
    lastError: r.last_error,
  }));
}

// ---- full runs ------------------------------------------------------------------------------

export type FullRunStatus = 'running' | 'applied' | 'partial' | 'failed';

export interface FullRunPart {
  part: string;
  /** `run`: the plan and apply of a whole full run (one part since full runs plan as one). */
  kind: 'run' | 'bucket' | 'orphans';
  identities: number;
  applied: number;
  failed: number;
  failedRevocations: number;
  held: boolean;
  runIds: string[];
  error: string | null;
  finishedAt: string;
}

/** A full reconciliation as an operator sees it: progress, totals, what did not land. */
export interface FullRun {
  id: string;
  trigger: string;
  actor: string;
  status: FullRunStatus;
  systems: string[];
  createdAt: string;
  finishedAt: string | null;
  error: string | null;
  progress: { parts: { done: number; total: number }; identities: { done: number; total: number } };
  totals: { applied: number; failed: number; failedRevocations: number; heldParts: number; failedParts: number };
  /** The engine's run records (store `runs`) written by the parts. */
  runIds: string[];
}

interface FullRunRow {
  id: string;
  trigger: string;
  actor: string;
  status: FullRunStatus;
  parts_total: number;
  identities_total: number;
  systems: string[];
  created_at: Date | string;
  finished_at: Date | string | null;
  error: string | null;
}

interface PartRow {
  part: string;
  kind: FullRunPart['kind'];
  identities: number;
  applied: number;
  failed: number;
  failed_revocations: number;
  held: boolean;
  run_ids: string[];
  error: string | null;
  finished_at: Date | string;
}

export async function createFullRun(
  q: Queryable,
  r: { id?: string; trigger: string; actor: string; partsTotal: number; identitiesTotal: number; systems: string[] },
): Promise<string> {
  const id = r.id ?? randomUUID();
  await q.query(
    `INSERT INTO queue_full_runs (id, trigger, actor, status, parts_total, identities_total, systems)
     VALUES ($1, $2, $3, 'running', $4, $5, $6)`,
    [id, r.trigger, r.actor, r.partsTotal, r.identitiesTotal, JSON.stringify(r.systems)],
  );
  return id;
}

/** Records a finished part; a part finishing again (a retried job) replaces its own row. */
export async function recordPart(q: Queryable, runId: string, p: Omit<FullRunPart, 'finishedAt'>): Promise<void> {
  await q.query(
    `INSERT INTO queue_full_run_parts (run_id, part, kind, identities, applied, failed, failed_revocations, held, run_ids, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (run_id, part) DO UPDATE SET identities = EXCLUDED.identities, applied = EXCLUDED.applied, failed = EXCLUDED.failed,
       failed_revocations = EXCLUDED.failed_revocations, held = EXCLUDED.held, run_ids = EXCLUDED.run_ids, error = EXCLUDED.error,
       finished_at = now()`,
    [runId, p.part, p.kind, p.identities, p.applied, p.failed, p.failedRevocations, p.held, JSON.stringify(p.runIds), p.error],
  );
}

export async function listParts(q: Queryable, runId: string): Promise<FullRunPart[]> {
  const { rows } = await q.query<PartRow>('SELECT * FROM queue_full_run_parts WHERE run_id = $1 ORDER BY finished_at', [runId]);
  return rows.map((r) => ({
    part: r.part,
    kind: r.kind,
    identities: Number(r.identities),
    applied: Number(r.applied),
    failed: Number(r.failed),
    failedRevocations: Number(r.failed_revocations),
    held: r.held,
    runIds: r.run_ids ?? [],
    error: r.error,
    finishedAt: iso(r.finished_at)!,
  }));
}

export async function finishFullRun(q: Queryable, runId: string, status: FullRunStatus, error: string | null = null): Promise<void> {
  await q.query(`UPDATE queue_full_runs SET status = $2, error = $3, finished_at = COALESCE(finished_at, now()) WHERE id = $1`, [runId, status, error]);
}

function fromRows(r: FullRunRow, parts: FullRunPart[]): FullRun {
  const sum = (f: (p: FullRunPart) => number) => parts.reduce((n, p) => n + f(p), 0);
  return {
    id: r.id,
    trigger: r.trigger,
    actor: r.actor,
    status: r.status,
    systems: r.systems ?? [],
    createdAt: iso(r.created_at)!,
    finishedAt: iso(r.finished_at),
    error: r.error,
    progress: {
      parts: { done: parts.length, total: Number(r.parts_total) },
      identities: { done: sum((p) => p.identities), total: Number(r.identities_total) },
    },
    totals: {
      applied: sum((p) => p.applied),
      failed: sum((p) => p.failed),
      failedRevocations: sum((p) => p.failedRevocations),
      heldParts: parts.filter((p) => p.held).length,
      failedParts: parts.filter((p) => p.error !== null).length,
    },
    runIds: parts.flatMap((p) => p.runIds),
  };
}

export async function getFullRun(q: Queryable, id: string): Promise<FullRun | null> {
  if (!isUuid(id)) return null;
  const { rows } = await q.query<FullRunRow>('SELECT * FROM queue_full_runs WHERE id = $1', [id]);
  if (!rows[0]) return null;
  return fromRows(rows[0], await listParts(q, id));
}

export async function listFullRuns(q: Queryable, opts: { limit?: number; status?: FullRunStatus } = {}): Promise<FullRun[]> {
  const params: unknown[] = [opts.limit ?? 20];
  const where = opts.status ? (params.push(opts.status), 'WHERE status = $2') : '';
  const { rows } = await q.query<FullRunRow>(`SELECT * FROM queue_full_runs ${where} ORDER BY created_at DESC LIMIT $1`, params);
  const out: FullRun[] = [];
  for (const r of rows) out.push(fromRows(r, await listParts(q, r.id)));
  return out;
}

// ---- pending (acknowledged, not reconciled yet) ----------------------------------------------

/**
 * Records enqueues as pending (migration 8), in one statement: an identity already pending
 * keeps its first time, takes the latest enqueue time, and moves up to the revocation lane if
 * this asks for it.
 */
export async function markPending(q: Queryable, entries: OutboxEntry[]): Promise<void> {
  const rows = entries.filter((e) => isUuid(e.identityId));
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO queue_pending (identity_id, lane, reason, enqueued_at, first_at)
     SELECT i, l, r, t, t FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS u(i, l, r, t)
     ON CONFLICT (identity_id) DO UPDATE SET
       lane = CASE WHEN queue_pending.lane = 'revocation' OR EXCLUDED.lane = 'revocation' THEN 'revocation' ELSE 'normal' END,
       reason = EXCLUDED.reason, enqueued_at = GREATEST(queue_pending.enqueued_at, EXCLUDED.enqueued_at)`,
    [rows.map((r) => r.identityId), rows.map((r) => r.lane), rows.map((r) => r.reason), rows.map((r) => new Date(r.enqueuedAt).toISOString())],
  );
}

/**
 * One identity reconciled, in one statement: its exact next check (written only when it
 * changes), with `pendingUpTo` what was pending for it up to then is settled, and with
 * `clearOverdueKey` its overdue revocation record is removed (they all landed).
 */
export async function settleIdentity(
  q: Queryable,
  identityId: string,
  nextCheckAt: string | null,
  pendingUpTo: Date | null,
  clearOverdueKey: string | null = null,
): Promise<void> {
  if (!isUuid(identityId)) return;
  await q.query(`WITH ${settleCtes(1)} SELECT 1`, settleParams({ identityId, nextCheckAt, pendingUpTo, clearOverdue: clearOverdueKey }));
}

/** An identity reconciled with nothing to do: its anchors and its settling in one statement. */
export async function settleWithAnchors(q: Queryable, anchors: AnchorItems, spec: SettleSpec): Promise<void> {
  await q.query(`WITH ${anchorCtes(1)}, ${settleCtes(5)} SELECT 1`, [...anchorParams(anchors), ...settleParams(spec)]);
}

/** What settling one reconciled identity writes (see settleIdentity). */
export interface SettleSpec {
  identityId: string;
  nextCheckAt: string | null;
  pendingUpTo: Date | null;
  clearOverdue: string | null;
}

/**
 * What the queue asks a reconcile of one identity to settle, as data: the queue passes it in
 * (RunOptions.settle) so that an identity's small run can write it with its record in one
 * statement, and settlementOf decides what of it holds once the run is done.
 */
export interface SettleRequest {
  identityId: string;
  /** Changes asked for up to this instant are no longer pending once the identity converged (or was held). */
  pendingUpTo: Date | null;
  /** The identity's overdue-revocation record, cleared once every revocation landed. */
  overdueKey: string;
}

/** What a reconcile did that settling reads (RunOutcome is one). */
export interface SettleFacts {
  held: boolean;
  failedRevocations: unknown[];
  results: Array<Pick<OperationResult, 'status' | 'error'>>;
  nextCheckAt: string | null;
  nextCheckAtByIdentity?: Record<string, string | null>;
}

/**
 * The one rule for settling a reconciled identity. Settled (applied, or held for approval):
 * what was asked for before the reconcile read the store is no longer pending; a failure that a
 * retry can help keeps it pending (the job tries again). Converged as far as revocations go
 * (none failed, nothing held): nothing of it is overdue any more.
 */
export function settlementOf(req: SettleRequest, o: SettleFacts): SettleSpec {
  const converged = o.failedRevocations.length === 0 && !o.results.some(isRetryableResult);
  return {
    identityId: req.identityId,
    nextCheckAt: o.nextCheckAtByIdentity?.[req.identityId] ?? o.nextCheckAt,
    pendingUpTo: o.held || converged ? req.pendingUpTo : null,
    clearOverdue: !o.held && o.failedRevocations.length === 0 ? req.overdueKey : null,
  };
}

/** The parameters of settleCtes; a spec of no identity (null) writes nothing. */
export function settleParams(s: SettleSpec | null): [string | null, string | null, string | null, string | null] {
  if (!s || !isUuid(s.identityId)) return [null, null, null, null];
  return [s.identityId, s.nextCheckAt ? new Date(s.nextCheckAt).toISOString() : null, s.pendingUpTo ? s.pendingUpTo.toISOString() : null, s.clearOverdue];
}

/** settleIdentity as CTEs over settleParams at $n..$n+3, for a statement that writes more (an identity's run record). */
export function settleCtes(n: number): string {
  const [id, next, upTo, key] = [n, n + 1, n + 2, n + 3].map((k) => `$${k}`);
  return `settle_pending AS (DELETE FROM queue_pending WHERE ${id}::uuid IS NOT NULL AND identity_id = ${id}::uuid AND ${upTo}::timestamptz IS NOT NULL AND enqueued_at <= ${upTo}::timestamptz),
          settle_overdue AS (DELETE FROM queue_overdue WHERE ${key}::text IS NOT NULL AND key = ${key}::text),
          settle_check AS (
            INSERT INTO queue_checks (identity_id, next_check_at, exact, updated_at) SELECT ${id}::uuid, ${next}::timestamptz, true, now() WHERE ${id}::uuid IS NOT NULL
            ON CONFLICT (identity_id) DO UPDATE SET next_check_at = EXCLUDED.next_check_at, exact = true, updated_at = now()
              WHERE queue_checks.next_check_at IS DISTINCT FROM EXCLUDED.next_check_at OR NOT queue_checks.exact)`;
}

/** A reconciliation that started after these enqueues has finished: they are no longer pending. */
export async function clearPending(q: Queryable, identityIds: string[], upTo: Date): Promise<void> {
  const ids = identityIds.filter(isUuid);
  if (ids.length === 0) return;
  await q.query('DELETE FROM queue_pending WHERE identity_id = ANY($1::uuid[]) AND enqueued_at <= $2', [ids, upTo.toISOString()]);
}

/**
 * Pending enqueues to send to Redis again: all of them (`all`: the queue's state was lost), or
 * those older than `staleMs` that were not sent again within `staleMs` (a job lost on its own).
 * Marks them requeued; an entry sent again `maxRequeues` times is left for the full run and /readyz.
 */
export async function takePendingForRequeue(
  q: Queryable,
  opts: { all: boolean; staleMs: number; now: Date; maxRequeues: number; limit?: number },
): Promise<OutboxEntry[]> {
  const before = new Date(opts.now.getTime() - opts.staleMs).toISOString();
  const { rows } = await q.query<{ identity_id: string; lane: Lane; reason: string; enqueued_at: Date | string }>(
    `UPDATE queue_pending SET requeued_at = $1, requeues = requeues + 1
      WHERE identity_id IN (
        SELECT identity_id FROM queue_pending
         WHERE ($2::boolean AND (requeued_at IS NULL OR requeued_at < $1)) OR (enqueued_at < $3 AND (requeued_at IS NULL OR requeued_at < $3) AND requeues < $4)
         ORDER BY enqueued_at LIMIT $5)
      RETURNING identity_id, lane, reason, enqueued_at`,
    [opts.now.toISOString(), opts.all, before, opts.maxRequeues, opts.limit ?? 10_000],
  );
  return rows.map((r) => ({ identityId: r.identity_id, lane: r.lane, reason: `${r.reason}:requeued`, enqueuedAt: new Date(r.enqueued_at).getTime() }));
}

/** How many acknowledged changes wait for their reconciliation, and since when. */
export async function pendingStats(q: Queryable): Promise<{ count: number; oldestSince: string | null }> {
  const { rows } = await q.query<{ n: number; oldest: Date | string | null }>('SELECT count(*)::int AS n, min(first_at) AS oldest FROM queue_pending');
  return { count: Number(rows[0].n), oldestSince: iso(rows[0].oldest ?? null) };
}

// ---- outbox ---------------------------------------------------------------------------------

export interface OutboxEntry {
  identityId: string;
  lane: Lane;
  reason: string;
  enqueuedAt: number;
}

export async function pushOutbox(q: Queryable, entries: OutboxEntry[]): Promise<void> {
  const rows = entries.filter((e) => isUuid(e.identityId));
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO queue_outbox (identity_id, lane, reason, enqueued_at)
     SELECT i, l, r, t FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS u(i, l, r, t)`,
    [rows.map((r) => r.identityId), rows.map((r) => r.lane), rows.map((r) => r.reason), rows.map((r) => new Date(r.enqueuedAt).toISOString())],
  );
}

/**
 * Hands a batch of outbox entries to `send` and deletes them only once it resolved; rows
 * are locked meanwhile, so two flushing processes do not both send them.
 */
export async function drainOutbox(db: Db, send: (entries: OutboxEntry[]) => Promise<void>, batch = 500): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: number; identity_id: string; lane: Lane; reason: string; enqueued_at: Date | string }>(
        'SELECT id, identity_id, lane, reason, enqueued_at FROM queue_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
        [batch],
      );
      if (rows.length === 0) return 0;
      await send(rows.map((r) => ({ identityId: r.identity_id, lane: r.lane, reason: r.reason, enqueuedAt: new Date(r.enqueued_at).getTime() })));
      await tx.query('DELETE FROM queue_outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
      return rows.length;
    });
    total += n;
    if (n < batch) return total;
  }
}

export async function outboxSize(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM queue_outbox');
  return Number(rows[0].n);
}

import { randomUUID } from 'node:crypto';
import type { Operation, Plan, PlanSummary } from '../domain/plan.js';
import { summarize } from '../domain/plan.js';
import type { Db, Queryable } from './db.js';

/**
 * The revocation budget (migration 6): who lost access in which lock system, and when, across
 * runs. The mass-revocation guard reads it in a rolling window, so a mass change that reaches
 * the queue one person at a time is held once the window goes past the guard's limits.
 * Every check and its record happen under one transaction-scoped advisory lock, so two workers
 * cannot both spend the last of the budget.
 */

export interface BudgetLimits {
  maxRevocationsPercent: number;
  maxRevocationsAbsolute: number;
  minRevocationsToHold: number;
  /** Length of the rolling window. */
  windowMs: number;
}

/** One person (identity id) or orphan account (`system:accountId`) losing access in one system. */
export interface BudgetSubject {
  subject: string;
  system: string;
}

export interface BudgetVerdict {
  hold: boolean;
  /** Distinct people who lost access in the window, this run's included. */
  affected: number;
  /** People the percentage is of (identities, or the system's linked accounts). */
  population: number;
  /** `overall`, or the lock system whose share went past the limit. */
  scope: string;
  /** People this run adds to the window (0: a retry of revocations already counted). */
  added: number;
  reason: string | null;
}

// one lock for the budget across processes (the first 8 bytes of "lockstep:revocation-budget"); migration 12's function takes it too
const BUDGET_LOCK = 7_436_851_202_944_501_842n;

/** Subjects of a plan's revocations, one per person and system. */
export function revocationSubjects(ops: readonly Operation[]): BudgetSubject[] {
  const seen = new Set<string>();
  const out: BudgetSubject[] = [];
  for (const op of ops) {
    if (!op.revocation) continue;
    const subject = op.identityId ?? `${op.system}:${op.accountId}`;
    const k = `${op.system}\u0000${subject}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ subject, system: op.system });
  }
  return out;
}

/**
 * Runs fn in one transaction holding the budget's lock: the hold path, where a run over the
 * budget joins the one held run and two holders must not both open one. spendRevocationBudget
 * inside it takes the same (re-entrant) lock, so its verdict is the lock holder's.
 */
export async function withBudgetLock<T>(db: Db, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [BUDGET_LOCK.toString()]);
    return fn(tx);
  });
}

function verdictOf(affected: number, population: number, added: number, scope: string, g: BudgetLimits): BudgetVerdict {
  const pct = population > 0 ? (affected / population) * 100 : 100;
  const over = affected >= g.minRevocationsToHold && (affected > g.maxRevocationsAbsolute || pct > g.maxRevocationsPercent);
  const minutes = Math.round(g.windowMs / 60_000);
  return {
    hold: over && added > 0,
    affected,
    population,
    scope,
    added,
    reason: over
      ? `${affected} of ${population} people (${pct.toFixed(1)}%) ${scope === 'overall' ? '' : `in ${scope} `}would have lost access within ${minutes} minute(s), above the guard (${g.maxRevocationsPercent}% or ${g.maxRevocationsAbsolute} people, from ${g.minRevocationsToHold}): held until approved`
      : null,
  };
}

/**
 * Checks the budget for these subjects and, when it does not hold them (or they are approved),
 * spends it, in one round trip (migration 12's function, under the budget's lock). Returns the
 * verdict; `recorded` says whether the subjects were written to the ledger.
 */
export async function spendRevocationBudget(
  q: Queryable,
  limits: BudgetLimits,
  now: Date,
  subjects: BudgetSubject[],
  runId: string | null,
  approved: boolean,
): Promise<{ verdict: BudgetVerdict; recorded: boolean }> {
  const since = new Date(now.getTime() - limits.windowMs);
  const pop = await populationOf(q, since);
  const { rows } = await q.query<{
    r: { rows: Array<{ system: string | null; affected: number; added: number; population: number; over: boolean }>; recorded: boolean };
  }>('SELECT lockstep_spend_budget($1::text[], $2::text[], $3, $4, $5::uuid, $6, $7, $8, $9, $10::text[], $11::int[]) AS r', [
    subjects.map((s) => s.system),
    subjects.map((s) => s.subject),
    since.toISOString(),
    now.toISOString(),
    runId,
    approved,
    limits.minRevocationsToHold,
    limits.maxRevocationsAbsolute,
    limits.maxRevocationsPercent,
    pop.map((p) => p.system),
    pop.map((p) => p.n),
  ]);
  const r = rows[0].r;
  const overall = r.rows.find((x) => x.system === null);
  // the same verdict checkBudget gives: overall first, then the first lock system over its limit
  const held = r.rows.find((x) => x.over && x.added > 0 && x.system === null) ?? r.rows.find((x) => x.over && x.added > 0);
  const pick = held ?? overall ?? { system: null, affected: 0, added: 0, population: 0 };
  const verdict = verdictOf(pick.affected, pick.population, pick.added, pick.system ?? 'overall', limits);
  return { verdict, recorded: r.recorded };
}

/**
 * The population the budget's percentages are of (identities, and each system's linked accounts),
 * counted at most every 30 s per process and store: a count of 100k identities for every leaver
 * would cost more than everything else the leaver costs. It changes slowly, and only the
 * percentage rests on it: a mass change is also held by its absolute number.
 */
const POPULATION_TTL_MS = 30_000;
const populations = new WeakMap<object, { at: number; rows: Array<{ system: string | null; n: number }> }>();
async function populationOf(q: Queryable, since: Date): Promise<Array<{ system: string | null; n: number }>> {
  const hit = populations.get(q);
  if (hit && Date.now() - hit.at < POPULATION_TTL_MS) return hit.rows;
  const { rows } = await q.query<{ system: string | null; n: string }>(
    `SELECT NULL AS system, count(*) AS n FROM identities WHERE deleted_at IS NULL OR deleted_at > $1
     UNION ALL
     SELECT system, count(*) FROM links GROUP BY system`,
    [since.toISOString()],
  );
  const out = rows.map((r) => ({ system: r.system, n: Number(r.n) }));
  populations.set(q, { at: Date.now(), rows: out });
  return out;
}

/** Marks every unapproved revocation in the window approved: an approved mass change starts the window afresh. */
export async function approveBudgetWindow(q: Queryable, since: Date): Promise<void> {
  await q.query(
    `WITH w AS (DELETE FROM revocation_window WHERE last_at > $1)
     UPDATE revocation_ledger SET approved = true WHERE at > $1 AND NOT approved`,
    [since.toISOString()],
  );
}

export const BUDGET_TRIGGER = 'guard:revocation-budget';

/**
 * Adds people to the one open run that the budget holds (creating it when there is none):
 * every person held by the budget waits in one run, approvable in one step. A person already
 * in it is not added twice; their operations are re-planned when it is approved anyway.
 */
export async function holdInBudgetRun(
  q: Queryable,
  req: { plan: Plan; subjects: BudgetSubject[]; reason: string; now: Date; runId?: string },
): Promise<{ runId: string; created: boolean; people: number; added: string[] }> {
  // a given held run (the one a person already waits in) while it is still held, else the budget's open one
  const open = req.runId
    ? await q.query<{ id: string }>(`SELECT id FROM runs WHERE id = $1 AND status = 'held' FOR UPDATE`, [req.runId])
    : { rows: [] as Array<{ id: string }> };
  if (!open.rows.length)
    open.rows.push(
      ...(
        await q.query<{ id: string }>(`SELECT id FROM runs WHERE status = 'held' AND trigger = $1 ORDER BY created_at DESC LIMIT 1 FOR UPDATE`, [
          BUDGET_TRIGGER,
        ])
      ).rows,
    );
  let runId = open.rows[0]?.id;
  const created = !runId;
  if (!runId) {
    runId = randomUUID();
    const empty: Plan = { ...req.plan, scope: 'identities', identities: 0, operations: [], summary: summarize([]), warnings: [] };
    await q.query(
      `INSERT INTO runs (id, kind, trigger, status, scope, plan, summary, progress, started_at, error)
       VALUES ($1, 'apply', $2, 'held', 'identities', $3, $4, $5, now(), $6)`,
      [runId, BUDGET_TRIGGER, JSON.stringify(empty), JSON.stringify(empty.summary), JSON.stringify({ done: 0, total: 0 }), req.reason],
    );
  }
  const people = [...new Set(req.subjects.map((s) => s.subject))];
  const ins = await q.query<{ subject: string }>(
    `INSERT INTO held_subjects (run_id, subject, at) SELECT $1, s, $3 FROM unnest($2::text[]) AS s ON CONFLICT DO NOTHING RETURNING subject`,
    [runId, people, req.now.toISOString()],
  );
  const added = new Set(ins.rows.map((r) => r.subject));
  // the whole plan of each newly held person (grants too: nothing of theirs is applied until approval)
  const ops = req.plan.operations.filter((o) => added.has(o.identityId ?? `${o.system}:${o.accountId}`));
  const count = await q.query<{ n: string; summary: PlanSummary }>(
    "SELECT (SELECT count(*) FROM held_subjects WHERE run_id = $1) AS n, plan->'summary' AS summary FROM runs WHERE id = $1",
    [runId],
  );
  const n = Number(count.rows[0].n);
  const summary = addSummaries(count.rows[0].summary, summarize(ops));
  const text = `${req.reason} (${n} people held in this run)`;
  await q.query(
    `UPDATE runs SET plan = jsonb_set(jsonb_set(jsonb_set(plan, '{operations}', (plan->'operations') || $2::jsonb), '{identities}', to_jsonb($3::int)), '{summary}', $4::jsonb),
                     summary = $4::jsonb || jsonb_build_object('heldPeople', $3::int, 'guard', jsonb_build_object('reason', $5::text)),
                     error = $5, progress = jsonb_build_object('done', 0, 'total', jsonb_array_length((plan->'operations') || $2::jsonb))
      WHERE id = $1`,
    [runId, JSON.stringify(ops), n, JSON.stringify(summary), text],
  );
  return { runId, created, people: n, added: [...added] };
}

/** The people a held run holds. */
export async function heldSubjects(q: Queryable, runId: string): Promise<string[]> {
  const { rows } = await q.query<{ subject: string }>('SELECT subject FROM held_subjects WHERE run_id = $1 ORDER BY at, subject', [runId]);
  return rows.map((r) => r.subject);
}

function addSummaries(a: PlanSummary | null, b: PlanSummary): PlanSummary {
  const byKind: PlanSummary['byKind'] = { ...(a?.byKind ?? {}) };
  for (const [k, v] of Object.entries(b.byKind) as Array<[keyof PlanSummary['byKind'], number]>) byKind[k] = (byKind[k] ?? 0) + v;
  return { add: (a?.add ?? 0) + b.add, change: (a?.change ?? 0) + b.change, destroy: (a?.destroy ?? 0) + b.destroy, byKind };
}

/**
 * Which of these subjects wait in a held run (the budget's, or a batch's): they keep their access
 * until it is approved or rejected, whatever else asks for them meanwhile (a retry, an expiry, a
 * SCIM event), and however the rolling window has moved since.
 */
export async function heldAmong(q: Queryable, subjects: string[]): Promise<Array<{ subject: string; runId: string }>> {
  if (subjects.length === 0) return [];
  const { rows } = await q.query<{ subject: string; run_id: string }>(
    `SELECT h.subject, h.run_id FROM held_subjects h JOIN runs r ON r.id = h.run_id
      WHERE r.status = 'held' AND h.subject = ANY($1::text[])`,
    [subjects],
  );
  return rows.map((r) => ({ subject: r.subject, runId: r.run_id }));
}

/** Everyone a held run keeps in access, as monitoring reads it (metrics, /readyz, the console). */
export interface HeldRevocations {
  /** Runs waiting for approval. */
  runs: number;
  /** People (identities, or orphan accounts) who would lose access and keep it while they wait. */
  people: number;
  /** Memberships (access-group grants) they keep meanwhile. */
  memberships: number;
  /** Every revoking operation held (memberships, suspensions, deletions, credential states). */
  operations: number;
  /** When the oldest held run was held (null: none is). */
  oldestSince: string | null;
  /** The held runs, oldest first, with their people and reason (at most 20). */
  items: Array<{ runId: string; since: string; people: number; memberships: number; reason: string | null }>;
}

/**
 * The held runs and the revocations they keep from landing. A held run is a revocation that
 * has not happened: it is counted here so that an alert can page the approver, as an overdue
 * revocation is.
 */
export async function heldRevocations(q: Queryable): Promise<HeldRevocations> {
  const { rows } = await q.query<{ id: string; since: Date | string; people: string; memberships: string; operations: string; reason: string | null }>(
    `SELECT r.id, r.created_at AS since, r.error AS reason,
            count(DISTINCT coalesce(op->>'identityId', (op->>'system') || ':' || (op->>'accountId'))) FILTER (WHERE (op->>'revocation')::boolean) AS people,
            count(*) FILTER (WHERE (op->>'revocation')::boolean AND op->>'kind' = 'revoke') AS memberships,
            count(*) FILTER (WHERE (op->>'revocation')::boolean) AS operations
       FROM runs r LEFT JOIN LATERAL jsonb_array_elements(coalesce(r.plan->'operations', '[]'::jsonb)) AS op ON true
      WHERE r.status = 'held'
      GROUP BY r.id, r.created_at, r.error
      ORDER BY r.created_at`,
  );
  const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());
  const items = rows.map((r) => ({
    runId: r.id,
    since: iso(r.since),
    people: Number(r.people),
    memberships: Number(r.memberships),
    operations: Number(r.operations),
    reason: r.reason,
  }));
  return {
    runs: items.length,
    people: items.reduce((n, r) => n + r.people, 0),
    memberships: items.reduce((n, r) => n + r.memberships, 0),
    operations: items.reduce((n, r) => n + r.operations, 0),
    oldestSince: items[0]?.since ?? null,
    items: items.slice(0, 20).map(({ operations: _o, ...r }) => r),
  };
}

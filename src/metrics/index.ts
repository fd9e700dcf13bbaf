import { AsyncLocalStorage } from 'node:async_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Operation, OperationResult, Plan } from '../domain/plan.js';
import type { EngineHooks } from '../reconcile/types.js';

/**
 * lockstep's Prometheus metrics, in a registry of its own (so embedding lockstep in another
 * service does not mix metric sets). Queue depths and overdue revocations are read when
 * Prometheus scrapes, from sources the queue registers; the rest is counted as it happens.
 */
export const metricsRegistry = new Registry();

let defaultsOn = false;
/** Process metrics (CPU, memory, event loop) under the `lockstep_` prefix; once per process. */
export function enableProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: metricsRegistry, prefix: 'lockstep_' });
}

// ---- sources read on scrape -------------------------------------------------------------

export type QueueCounts = Record<string, number>;
const depthSources = new Map<string, () => Promise<QueueCounts>>();
const overdueSources = new Set<() => Promise<number>>();

/** Registers a queue whose job counts by state are read on scrape; returns the unregister. */
export function registerQueueDepth(queue: string, counts: () => Promise<QueueCounts>): () => void {
  depthSources.set(queue, counts);
  return () => {
    if (depthSources.get(queue) === counts) depthSources.delete(queue);
  };
}

/** Registers where the number of overdue revocations comes from (the store); returns the unregister. */
export function registerOverdueSource(count: () => Promise<number>): () => void {
  overdueSources.add(count);
  return () => {
    overdueSources.delete(count);
  };
}

new Gauge({
  name: 'lockstep_queue_jobs',
  help: 'Jobs in each lockstep queue by state (read from Redis on scrape).',
  labelNames: ['queue', 'state'],
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    for (const [queue, counts] of depthSources) {
      try {
        for (const [state, n] of Object.entries(await counts())) this.set({ queue, state }, n);
      } catch {
        // Redis unreachable: report nothing rather than stale numbers; readiness says why.
      }
    }
  },
});

new Gauge({
  name: 'lockstep_overdue_revocations',
  help: 'Revocations that should have landed but have not (retried with backoff until they do).',
  registers: [metricsRegistry],
  async collect() {
    let total = 0;
    let known = false;
    for (const count of overdueSources) {
      try {
        total = Math.max(total, await count());
        known = true;
      } catch {
        // store unreachable: keep the last value
      }
    }
    if (known || overdueSources.size === 0) this.set(total);
  },
});

/** What the held-revocation gauges read (the store's heldRevocations, or a test's numbers). */
export interface HeldSnapshot {
  runs: number;
  people: number;
  memberships: number;
  oldestSince: string | null;
}
let heldSource: (() => Promise<HeldSnapshot>) | null = null;
let heldCache: { at: number; value: Promise<HeldSnapshot> } | null = null;

/** Registers where held revocations are read from on scrape (the store); returns the unregister. */
export function registerHeldSource(read: () => Promise<HeldSnapshot>): () => void {
  heldSource = read;
  heldCache = null;
  return () => {
    if (heldSource === read) heldSource = null;
  };
}

/** One read of the store per scrape, whichever of the four gauges asks first. */
function readHeld(): Promise<HeldSnapshot> | null {
  if (!heldSource) return null;
  const now = Date.now();
  if (!heldCache || now - heldCache.at > 1_000) heldCache = { at: now, value: heldSource() };
  return heldCache.value;
}

function heldGauge(name: string, help: string, pick: (h: HeldSnapshot) => number): void {
  new Gauge({
    name,
    help,
    registers: [metricsRegistry],
    async collect() {
      const h = readHeld();
      if (!h) return this.set(0);
      try {
        this.set(pick(await h));
      } catch {
        // store unreachable: keep the last value; readiness says why
      }
    },
  });
}

// A held run is a revocation that has not happened: as loud as an overdue one, so an alert can page the approver.
heldGauge('lockstep_held_runs', 'Runs held by the mass-revocation guard or the revocation budget, waiting for approval.', (h) => h.runs);
heldGauge('lockstep_held_people', 'People who would lose access and keep it while a held run waits for approval.', (h) => h.people);
heldGauge('lockstep_held_memberships', 'Access-group memberships kept while a held run waits for approval.', (h) => h.memberships);
heldGauge('lockstep_held_oldest_age_seconds', 'Age of the oldest held run (0: none is held).', (h) =>
  h.oldestSince ? Math.max(0, (Date.now() - Date.parse(h.oldestSince)) / 1000) : 0,
);

// NIS2 Art. 23 reports (early warning 24 h, notification 72 h, final report one month) due and not recorded as sent
let incidentSource: (() => Promise<Record<string, number>>) | null = null;
/** Registers where overdue incident reports are read from on scrape (the store); returns the unregister. */
export function registerIncidentSource(read: () => Promise<Record<string, number>>): () => void {
  incidentSource = read;
  return () => {
    if (incidentSource === read) incidentSource = null;
  };
}
new Gauge({
  name: 'lockstep_incident_reports_overdue',
  help: 'Open incidents whose NIS2 report (early-warning 24 h, notification 72 h, final-report one month) is due and not recorded as sent, by step.',
  labelNames: ['step'],
  registers: [metricsRegistry],
  async collect() {
    if (!incidentSource) {
      for (const step of ['early-warning', 'notification', 'final-report']) this.set({ step }, 0);
      return;
    }
    try {
      for (const [step, n] of Object.entries(await incidentSource())) this.set({ step }, n);
    } catch {
      // store unreachable: keep the last value; readiness says why
    }
  },
});

let violationSource: (() => Promise<Map<string, number>>) | null = null;
/** Registers where the invariant violations the plans found are read from on scrape (the store); returns the unregister. */
export function registerViolationSource(read: () => Promise<Map<string, number>>): () => void {
  violationSource = read;
  return () => {
    if (violationSource === read) violationSource = null;
  };
}
// Held access that breaks an invariant of the mappings (issue 27): reported, never revoked on its
// own, so an alert (> 0) is how someone comes to decide it.
new Gauge({
  name: 'lockstep_invariant_violations',
  help: 'Held access that breaks an invariant of the mappings, by invariant, as the last plans found it (people; groups over maxHolders).',
  labelNames: ['invariant'],
  registers: [metricsRegistry],
  async collect() {
    if (!violationSource) return;
    try {
      const counts = await violationSource();
      this.reset();
      for (const [invariant, n] of counts) this.set({ invariant }, n);
    } catch {
      // store unreachable: keep the last value; readiness says why
    }
  },
});

// ---- counted as it happens --------------------------------------------------------------

const jobDuration = new Histogram({
  name: 'lockstep_job_duration_seconds',
  help: 'Time a worker spent on a job, by queue, job name and result.',
  labelNames: ['queue', 'name', 'result'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [metricsRegistry],
});

const operations = new Counter({
  name: 'lockstep_operations_total',
  help: 'Operations the executor finished, by system, kind and result (applied, failed, skipped).',
  labelNames: ['system', 'kind', 'result'],
  registers: [metricsRegistry],
});

const operationDuration = new Histogram({
  name: 'lockstep_operation_duration_seconds',
  help: 'Time to apply one operation, retries included.',
  labelNames: ['system', 'kind'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [metricsRegistry],
});

const eventToApplied = new Histogram({
  name: 'lockstep_event_to_applied_seconds',
  help: 'From the source write (or the instant an expiry fell due) to the operation applied in the lock system.',
  labelNames: ['direction'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
  registers: [metricsRegistry],
});

const plannedOperations = new Counter({
  name: 'lockstep_planned_operations_total',
  help: 'Operations planned, by plan scope and kind.',
  labelNames: ['scope', 'kind'],
  registers: [metricsRegistry],
});

const correlationConflicts = new Gauge({
  name: 'lockstep_correlation_conflicts',
  help: 'Live identities refused access because another live identity holds the same externalId (as of the last full plan).',
  registers: [metricsRegistry],
});

export function observeJob(queue: string, name: string, result: 'completed' | 'failed' | 'delayed', seconds: number): void {
  jobDuration.observe({ queue, name, result }, seconds);
}

// ---- event time across the engine call ---------------------------------------------------

const eventTime = new AsyncLocalStorage<{ enqueuedAt: number }>();

/**
 * Runs fn with the time of the source event that caused it, so the engine hooks (called deep
 * inside runReconcile, with no job in sight) can measure event-to-applied latency.
 */
export function withEventTime<T>(enqueuedAt: number | undefined, fn: () => Promise<T>): Promise<T> {
  return enqueuedAt === undefined ? fn() : eventTime.run({ enqueuedAt }, fn);
}

export function eventDirection(op: Pick<Operation, 'kind' | 'revocation'>): 'grant' | 'revocation' | null {
  if (op.revocation) return 'revocation';
  if (op.kind === 'grant' || op.kind === 'change_validity' || op.kind === 'reactivate_account') return 'grant';
  return null;
}

/** EngineHooks that feed the metrics above; pass them in EngineContext.hooks. */
export function engineHooks(now: () => number = Date.now): EngineHooks {
  return {
    onOperation(op: Operation, result: OperationResult, durationMs: number) {
      operations.inc({ system: op.system, kind: op.kind, result: result.status });
      operationDuration.observe({ system: op.system, kind: op.kind }, durationMs / 1000);
      if (result.status !== 'applied') return;
      const direction = eventDirection(op);
      const started = eventTime.getStore()?.enqueuedAt;
      if (direction && started !== undefined) eventToApplied.observe({ direction }, Math.max(0, now() - started) / 1000);
    },
    onPlan(plan: Plan) {
      for (const [kind, n] of Object.entries(plan.summary.byKind)) if (n) plannedOperations.inc({ scope: plan.scope, kind }, n);
      // a full plan sees every identity: its conflicts are all there are
      if (plan.scope === 'full') correlationConflicts.set(plan.conflicts?.length ?? 0);
    },
  };
}

import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { EngineContext } from '../reconcile/index.js';
import { overdueIncidentSteps } from '../store/incidents.js';

/** What prom-client's `getMetricsAsJSON()` gives per metric (only the parts read here). */
export interface MetricJson {
  name: string;
  values: Array<{ value: number; labels: Partial<Record<string, string | number>>; metricName?: string }>;
}

export interface HealthDeps {
  ctx: EngineContext;
  /** The metrics registry as JSON (prom-client `getMetricsAsJSON`): queue depths, latencies. */
  metrics: () => Promise<MetricJson[]>;
  /** Overdue revocations right now (the store's list, as /readyz reads it). */
  overdue: () => Promise<{ count: number; oldestSince: string | null }>;
  /** Revocations held runs keep from landing (the store's heldRevocations); none when not given. */
  held?: () => Promise<{
    runs: number;
    people: number;
    memberships: number;
    oldestSince: string | null;
    items: Array<{ runId: string; since: string; people: number; memberships: number; reason: string | null }>;
  }>;
  /** The configured sources (the health view offers to pull them now). */
  sources?: Array<{ name: string; type: string }>;
  /** Milliseconds between samples of the history (default 30 s). */
  sampleEveryMs?: number;
  /** How many samples are kept (default 2880: a day at 30 s). */
  keep?: number;
}

export interface HealthSample {
  at: string;
  overdue: number;
  queued: number;
  /** Revocations applied in the interval that ends here, and their estimated 95th percentile (s). */
  revocations: number;
  revocationP95: number | null;
}

interface Bucket {
  le: number;
  count: number;
}

/** The histogram's cumulative buckets for one label set (ascending `le`, +Inf last). */
function buckets(m: MetricJson | undefined, labels: Record<string, string>): Bucket[] {
  if (!m) return [];
  return m.values
    .filter((v) => v.metricName?.endsWith('_bucket') && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
    .map((v) => ({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
}

/** A quantile from cumulative buckets, interpolated within its bucket (as PromQL's histogram_quantile). */
export function quantile(q: number, b: Bucket[]): number | null {
  const total = b.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of b) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      const inBucket = count - prevCount;
      return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

type Handler = (req: Request, res: Response) => Promise<unknown>;
const h = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

/** Each lock system's reachability (its access-group list answering), asked at most every 10 s. */
interface Reach {
  system: string;
  reachable: boolean;
  ms: number;
  error: string | null;
}

function reachability(ctx: EngineContext) {
  let last: { at: number; result: Reach[] } | null = null;
  let pending: Promise<Reach[]> | null = null;
  const probe = async (): Promise<Reach[]> =>
    Promise.all(
      [...ctx.drivers].map(async ([system, driver]) => {
        const started = Date.now();
        try {
          await Promise.race([
            driver.listAccessGroups(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 3 s')), 3000).unref()),
          ]);
          return { system, reachable: true, ms: Date.now() - started, error: null };
        } catch (e) {
          return { system, reachable: false, ms: Date.now() - started, error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
  return async () => {
    if (last && Date.now() - last.at < 10_000) return last.result;
    pending ??= probe().then((result) => {
      last = { at: Date.now(), result };
      pending = null;
      return result;
    });
    return pending;
  };
}

/**
 * `GET /console/health`: what the console's health view shows beyond /readyz: queue depths,
 * each lock system's reachability, the revocation latency distribution, and a history of
 * overdue revocations, queue depth and revocation latency sampled in this process (so it
 * starts empty when the process starts; Prometheus keeps the long history).
 */
export function createHealthRouter(deps: HealthDeps): { router: Router; close(): void } {
  const every = deps.sampleEveryMs ?? 30_000;
  const keep = deps.keep ?? 2880;
  const history: HealthSample[] = [];
  let prev: Bucket[] = [];
  const systems = reachability(deps.ctx);

  const read = async () => {
    const metrics = await deps.metrics();
    const byName = new Map(metrics.map((m) => [m.name, m]));
    const queues: Record<string, Record<string, number>> = {};
    for (const v of byName.get('lockstep_queue_jobs')?.values ?? []) {
      const q = String(v.labels.queue);
      (queues[q] ??= {})[String(v.labels.state)] = v.value;
    }
    // the backlog: jobs waiting for a worker or on one; delayed jobs are scheduled looks (next checks, timers), not work waiting
    const queued = Object.values(queues).reduce((n, s) => n + (s.waiting ?? 0) + (s.prioritized ?? 0) + (s.active ?? 0), 0);
    const latency = byName.get('lockstep_event_to_applied_seconds');
    const revocation = buckets(latency, { direction: 'revocation' });
    const grant = buckets(latency, { direction: 'grant' });
    // grants applied, whatever started them (a full run, an HR import): only some carry a source event to time
    let grantsApplied = 0;
    for (const v of byName.get('lockstep_operations_total')?.values ?? [])
      if (v.labels.kind === 'grant' && v.labels.result === 'applied') grantsApplied += v.value;
    return { queues, queued, revocation, grant, grantsApplied };
  };

  const sample = async () => {
    const [m, overdue] = await Promise.all([read(), deps.overdue()]);
    // this interval's revocations: the cumulative buckets' growth since the last sample
    const delta = m.revocation.map((b, i) => ({ le: b.le, count: b.count - (prev[i]?.count ?? 0) }));
    prev = m.revocation;
    history.push({
      at: deps.ctx.now().toISOString(),
      overdue: overdue.count,
      queued: m.queued,
      revocations: delta.at(-1)?.count ?? 0,
      revocationP95: quantile(0.95, delta),
    });
    if (history.length > keep) history.splice(0, history.length - keep);
  };
  const timer = setInterval(() => void sample().catch(() => undefined), every);
  timer.unref();
  void sample().catch(() => undefined);

  const r = express.Router();
  r.get(
    '/console/health',
    h(async (_req, res) => {
      const noneHeld = { runs: 0, people: 0, memberships: 0, oldestSince: null, items: [] };
      const [m, overdue, reach, held, incidents] = await Promise.all([
        read(),
        deps.overdue(),
        systems(),
        deps.held ? deps.held() : Promise.resolve(noneHeld),
        overdueIncidentSteps(deps.ctx.db, deps.ctx.now()),
      ]);
      const dist = (b: Bucket[]) => ({
        count: b.at(-1)?.count ?? 0,
        p50: quantile(0.5, b),
        p95: quantile(0.95, b),
        p99: quantile(0.99, b),
        buckets: b.map((x) => ({ le: Number.isFinite(x.le) ? x.le : null, count: x.count })),
      });
      res.json({
        at: deps.ctx.now().toISOString(),
        overdue,
        held,
        queues: m.queues,
        queued: m.queued,
        systems: reach,
        sources: deps.sources ?? [],
        latency: { revocation: dist(m.revocation), grant: dist(m.grant) },
        grantsApplied: m.grantsApplied,
        // NIS2 reports due and not recorded as sent, by step (issue 26)
        incidentReportsOverdue: incidents,
        history,
        sampleEveryMs: every,
      });
    }),
  );
  return { router: r, close: () => clearInterval(timer) };
}

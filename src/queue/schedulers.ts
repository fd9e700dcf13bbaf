import type { Config } from '../config/schema.js';
import type { LockstepQueues } from './queues.js';
import type { MaintenanceJobName } from './jobs.js';

export interface Schedules {
  /** Full reconciliation. Default hourly. */
  fullReconcileMs: number;
  /** Identities whose next check passed (validity ends, unused credentials): the safety net under the precise timers. Default 5 min. */
  expirySweepMs: number;
  /** Access events per lock system. Default 1 min. */
  accessEventsMs: number;
}

export interface SchedulerDeps {
  queues: LockstepQueues;
  schedules: Schedules;
  /** Systems whose access events are pulled. */
  systems: string[];
  /** Pulled sources (Entra) with their interval. */
  sources?: Array<{ name: string; intervalMs: number }>;
  /** Also move outbox entries into Redis on a timer (workers do it too). Default 30 000; 0 turns it off. */
  outboxFlushMs?: number;
  /** A signed audit checkpoint on a timer (config `audit.checkpoint.everyMs`); unset or 0: none. */
  auditCheckpointMs?: number;
}

export interface SchedulersHandle {
  /** Scheduler ids this process upserted. */
  ids: string[];
  close(): Promise<void>;
}

const OURS = /^(full-reconcile|expiry-sweep|access-events:|source-pull:|outbox-flush|audit-checkpoint)/;

/**
 * Upserts BullMQ job schedulers for the timers. upsertJobScheduler is idempotent, so any
 * number of processes may start at once: each timer still fires once per interval. Timers of
 * systems or sources no longer configured are removed.
 */
export async function startSchedulers(deps: SchedulerDeps): Promise<SchedulersHandle> {
  const q = deps.queues.maintenance;
  const wanted: Array<{ id: string; every: number; name: MaintenanceJobName; data: Record<string, unknown> }> = [
    { id: 'full-reconcile', every: deps.schedules.fullReconcileMs, name: 'full-reconcile', data: {} },
    { id: 'expiry-sweep', every: deps.schedules.expirySweepMs, name: 'expiry-sweep', data: {} },
    ...deps.systems.map((system) => ({
      id: `access-events:${system}`,
      every: deps.schedules.accessEventsMs,
      name: 'access-events' as const,
      data: { system },
    })),
    ...(deps.sources ?? []).map((s) => ({ id: `source-pull:${s.name}`, every: s.intervalMs, name: 'source-pull' as const, data: { source: s.name } })),
  ];
  const flushMs = deps.outboxFlushMs ?? 30_000;
  if (flushMs > 0) wanted.push({ id: 'outbox-flush', every: flushMs, name: 'outbox-flush', data: {} });
  if (deps.auditCheckpointMs) wanted.push({ id: 'audit-checkpoint', every: deps.auditCheckpointMs, name: 'audit-checkpoint', data: {} });
  for (const w of wanted) {
    await q.upsertJobScheduler(
      w.id,
      { every: w.every },
      { name: w.name, data: w.data, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 500 } } },
    );
  }
  const keep = new Set(wanted.map((w) => w.id));
  for (const s of await q.getJobSchedulers(0, -1)) {
    if (OURS.test(s.key) && !keep.has(s.key)) await q.removeJobScheduler(s.key);
  }
  return {
    ids: [...keep],
    // Schedulers live in Redis and keep firing for the other processes; nothing to stop here.
    close: async () => undefined,
  };
}

/** Timers from lockstep.yaml: `queue.schedules`, every system, Entra sources' intervalMs (default 5 min), `audit.checkpoint.everyMs`. */
export function schedulesFromConfig(config: Pick<Config, 'queue' | 'systems' | 'sources'> & Partial<Pick<Config, 'audit'>>): Omit<SchedulerDeps, 'queues'> {
  const sources = Object.entries(config.sources)
    .filter(([, s]) => s.type === 'entra')
    .map(([name, s]) => {
      const interval = (s as { intervalMs?: unknown }).intervalMs;
      return { name, intervalMs: typeof interval === 'number' && interval > 0 ? interval : 300_000 };
    });
  return { schedules: config.queue.schedules, systems: Object.keys(config.systems), sources, auditCheckpointMs: config.audit?.checkpoint?.everyMs ?? 0 };
}

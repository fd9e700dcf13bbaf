import { z } from 'zod';
import { LockstepError } from '../domain/errors.js';

/**
 * Three queues, so that no kind of work can starve another:
 * - `identity`: one identity at a time (source events, expiries, lost credentials), with a
 *   revocation lane (BullMQ priority) ahead of ordinary changes;
 * - `full`: full reconciliations (one job each: plan everything, apply under leases) and
 *   retries of orphan revocations, on their own workers, so a large full run never delays a leaver;
 * - `maintenance`: timers (full-run trigger, expiry sweep, access-event and source pulls).
 */
export const QUEUE = { identity: 'identity', full: 'full', maintenance: 'maintenance' } as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

export type { Lane } from '../store/queue-state.js';
import type { Lane } from '../store/queue-state.js';

/** BullMQ priorities: lower runs first. Every job gets one (jobs without priority would jump the queue). */
export const PRIORITY: Record<Lane, number> = { revocation: 1, normal: 10 };

const epochMs = z.number().int().nonnegative();

export const identityJobSchema = z.object({
  identityId: z.string().min(1),
  lane: z.enum(['revocation', 'normal']),
  reason: z.string(),
  /** When the source wrote the change (ms): event-to-applied latency starts here. */
  enqueuedAt: epochMs,
});
export type IdentityJobData = z.infer<typeof identityJobSchema>;

export const lostCredentialJobSchema = z.object({
  system: z.string().min(1),
  credentialId: z.string().min(1),
  accountId: z.string().min(1).optional(),
  actor: z.string().min(1),
  note: z.string().optional(),
  state: z.enum(['lost', 'suspended']).optional(),
  enqueuedAt: epochMs,
});
export type LostCredentialJobData = z.infer<typeof lostCredentialJobSchema>;

/** Retries a system's orphan revocations that did not land until they do. */
export const orphanJobSchema = z.object({ system: z.string().min(1) });

export const fullJobSchema = z.object({ runId: z.uuid() });

export const maintenanceJobSchemas = {
  'full-reconcile': z.object({}).loose(),
  'expiry-sweep': z.object({}).loose(),
  'access-events': z.object({ system: z.string().min(1) }),
  'source-pull': z.object({ source: z.string().min(1) }),
  /** A precise wake-up for identities whose next check falls at `at` (requeue-after). */
  due: z.object({ at: epochMs }),
  'outbox-flush': z.object({}).loose(),
  /** A signed checkpoint of the audit chain's head to the configured sinks. */
  'audit-checkpoint': z.object({}).loose(),
} as const;
export type MaintenanceJobName = keyof typeof maintenanceJobSchemas;

/** Job data comes back from Redis: validate it like any other input at the edge. */
export function parseJobData<T>(schema: z.ZodType<T>, data: unknown, job: { id?: string; name: string }): T {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new LockstepError('validation', `job ${job.name} ${job.id ?? ''}: ${issue.path.join('.') || 'data'}: ${issue.message}`, {
    field: issue.path.join('.'),
    retryable: false,
  });
}

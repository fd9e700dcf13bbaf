import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { LockDriver } from '../drivers/contract.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { Operation, OperationResult, Plan } from '../domain/plan.js';
import type { Run } from '../store/runs.js';
import type { SettleRequest } from '../store/queue-state.js';

export interface ExecutorOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Operations applied in parallel (different accounts; one account's operations stay in order). */
  concurrency: number;
}

/** Called by the executor for every operation it finished; metrics hang here. */
export interface EngineHooks {
  onOperation?(op: Operation, result: OperationResult, durationMs: number): void;
  onPlan?(plan: Plan): void;
}

/** Everything reconcile needs; the service, the worker and the CLI each build one. */
export interface EngineContext {
  db: Db;
  policy: CompiledPolicy;
  /** Lock systems by name (keys of `systems` in lockstep.yaml). */
  drivers: Map<string, LockDriver>;
  logger: Logger;
  now(): Date;
  executor: ExecutorOptions;
  hooks?: EngineHooks;
}

export type Scope =
  /** Every identity and every account in every system, orphans included. */
  | { kind: 'full' }
  /** These identities only (a source event, a bucket of a full run, an expiry). */
  | { kind: 'identities'; ids: string[] }
  /** Accounts in one system that no identity owns. */
  | { kind: 'orphans'; system: string };

export interface RunOptions {
  trigger: string;
  /** Who asked: `cli`, `api:<name>`, `worker`, `scheduler`. */
  actor: string;
  /** false: plan only (recorded as a `plan` run). */
  apply: boolean;
  /** Bypass the mass-revocation guard (an approved run). */
  approved?: boolean;
  /** The run record's id (a queued full run keeps the id it was started with). */
  runId?: string;
  /**
   * Apply a full run's operations a partition of identities at a time under these leases; an
   * identity whose own job holds its lease is left to it (its operations are skipped, its id
   * is in the outcome's `deferred`).
   */
  leases?: Leases;
  /** Who retries a transient failure: the executor, waiting (default: the CLI), or the queue (the service). */
  retries?: 'inline' | 'queue';
  /** Identities per set of leases (default 500). */
  leasePartition?: number;
  /** Apply only if the plan's digest is this one (the plan an operator was shown); otherwise a `conflict`. */
  expectDigest?: string;
  onProgress?(done: number, total: number): void;
  /**
   * What the queue asks to settle for a queued identity (its next check, what was pending, its
   * overdue record), as data: an identity's run that writes its record at its end writes it
   * there, in the same statement, by settlementOf's rule (the outcome's `settled` says so);
   * otherwise the queue settles it itself. Reconcile knows nothing else of the queue.
   */
  settle?: SettleRequest;
}

export interface RunOutcome {
  /** Null for an identity-scoped run that found nothing to do (no run record is written for those). */
  run: Run | null;
  plan: Plan;
  results: OperationResult[];
  /** The guard held the run: nothing was applied. */
  held: boolean;
  /** Revocations that did not land: the caller must retry (the queue does, with backoff). */
  failedRevocations: Operation[];
  failed: Operation[];
  /** Earliest instant some identity in scope needs another look, for a delayed job. */
  nextCheckAt: string | null;
  /** Each identity's own next look (null: time alone will not change it). */
  nextCheckAtByIdentity: Record<string, string | null>;
  /** The plan's fingerprint (planDigest): `apply --expect` compares it. */
  digest: string;
  /** Identities whose operations were left to their own job (runs under leases only). */
  deferred?: string[];
  /** RunOptions.settle was written with the run's record (one statement). */
  settled?: boolean;
}

/** Leases on identities, so two workers never reconcile one person at once (Redis in the service; in-process for the CLI). */
export interface Leases {
  acquire(identityIds: string[]): Promise<{ held: string[]; busy: string[]; release(): Promise<void> }>;
}

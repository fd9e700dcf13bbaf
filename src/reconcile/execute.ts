import { setTimeout as sleep } from 'node:timers/promises';
import { toLockstepError, type LockstepError } from '../domain/errors.js';
import type { Operation, OperationError, OperationKind, OperationResult } from '../domain/plan.js';
import type { LockDriver } from '../drivers/contract.js';
import { appendAudit, type AuditEntryInput } from '../store/audit.js';
import { deleteLink, saveLink } from '../store/links.js';
import { clearOfflinePending, recordOfflinePending } from '../store/offline.js';
import type { EngineContext } from './types.js';

/** Order of operations on one account: never hold old and new doors at once, suspend last. */
const ORDER: Record<OperationKind, number> = {
  link_account: 0,
  create_account: 1,
  update_account: 2,
  reactivate_account: 3,
  revoke: 4,
  set_credential_state: 5,
  grant: 6,
  change_validity: 7,
  suspend_account: 8,
  delete_account: 9,
};

export interface ApplyOptions {
  runId: string | null;
  actor: string;
  onProgress?(done: number, total: number): void;
  signal?: AbortSignal;
  /**
   * The audit entries go here instead of to the store, for the caller to write with its run
   * record in one statement (an identity's small run). The caller must write them.
   */
  auditInto?: AuditEntryInput[];
  /**
   * Who retries an operation that failed with a transient error: this call, waiting with
   * backoff (`inline`: the CLI, which has no queue), or the queue, which runs the job again later
   * with its own backoff (`queue`: the service). In the service a wait here would hold the
   * identity's lease and a worker slot while it sleeps; the driver's HTTP client has already
   * retried what HTTP can, so one layer retries each kind of failure.
   */
  retries?: 'inline' | 'queue';
}

function accountKey(op: Operation): string {
  return `${op.system}|${op.accountId ?? `new:${op.externalId}`}`;
}

async function callDriver(driver: LockDriver, op: Operation, accountId: string): Promise<string | void> {
  switch (op.kind) {
    case 'create_account':
    case 'update_account':
      return (await driver.upsertAccount(op.account!)).id;
    case 'link_account':
      return;
    case 'reactivate_account':
      return driver.setAccountState(accountId, 'active');
    case 'suspend_account':
      return driver.setAccountState(accountId, 'suspended');
    case 'delete_account':
      return driver.deleteAccount(accountId);
    case 'grant':
    case 'change_validity':
      return driver.grant(accountId, op.group!.ref, op.validity ?? { from: null, until: null });
    case 'revoke':
      return driver.revoke(accountId, op.group!.ref);
    case 'set_credential_state':
      return driver.setCredentialState(accountId, op.credentialId!, op.credentialState!);
  }
}

/** The error as a result keeps it: whether another try can help, and when, survive the boundary. */
function operationError(err: LockstepError): OperationError {
  return { code: err.code, message: err.message, retryable: err.retryable, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) };
}

function auditEntry(op: Operation, r: OperationResult, runId: string | null, actor: string): AuditEntryInput {
  return {
    actor,
    action: r.status === 'applied' ? op.kind : `${op.kind}.${r.status}`,
    subject: op.identityId ?? `${op.system}:${op.accountId}`,
    runId,
    at: r.at,
    data: {
      system: op.system,
      accountId: op.accountId,
      userName: op.userName,
      externalId: op.externalId,
      group: op.group,
      validity: op.validity,
      previousValidity: op.previousValidity,
      credentialId: op.credentialId,
      credentialState: op.credentialState,
      reason: op.reason,
      ...(op.fitted ? { fitted: op.fitted } : {}),
      result: { status: r.status, attempts: r.attempts, error: r.error },
    },
  };
}

/**
 * Applies operations through the drivers. Each is idempotent, so a retry after a timeout is
 * safe; transient errors are retried with exponential backoff (honouring Retry-After); one
 * failure does not stop the others; every result, applied or failed, is written to the audit
 * log with its reason. Operations of one account run in order; accounts run in parallel.
 * Accounts with revocations go first, so a leaver's doors close before new doors open.
 */
export async function applyOperations(ctx: EngineContext, ops: Operation[], opts: ApplyOptions): Promise<OperationResult[]> {
  const groups = new Map<string, Operation[]>();
  for (const op of ops) {
    const k = accountKey(op);
    const list = groups.get(k) ?? [];
    list.push(op);
    groups.set(k, list);
  }
  const queue = [...groups.values()]
    .map((g) => g.sort((a, b) => ORDER[a.kind] - ORDER[b.kind]))
    .sort((a, b) => Number(b.some((o) => o.revocation)) - Number(a.some((o) => o.revocation)));

  const results = new Map<string, OperationResult>();
  let done = 0;
  let pendingAudit: AuditEntryInput[] = [];
  let auditChain: Promise<unknown> = Promise.resolve();
  const flushAudit = () => {
    if (pendingAudit.length === 0) return auditChain;
    if (opts.auditInto) {
      opts.auditInto.push(...pendingAudit);
      pendingAudit = [];
      return auditChain;
    }
    const batch = pendingAudit;
    pendingAudit = [];
    auditChain = auditChain.then(() => appendAudit(ctx.db, batch));
    return auditChain;
  };

  const runGroup = async (group: Operation[]) => {
    let accountId = group[0].accountId;
    let blocked: string | null = null;
    for (const op of group) {
      const started = Date.now();
      let r: OperationResult;
      if (blocked) {
        r = { key: op.key, status: 'skipped', attempts: 0, at: new Date().toISOString(), error: { code: 'precondition', message: blocked, retryable: false } };
      } else {
        r = await applyOne(ctx, op, accountId, (id) => (accountId = id), opts.signal, opts.retries === 'queue' ? 1 : undefined);
        if (r.status === 'failed' && (op.kind === 'create_account' || op.kind === 'link_account')) {
          blocked = `${op.kind} failed: ${r.error?.message}`;
        }
      }
      results.set(op.key, r);
      ctx.hooks?.onOperation?.(op, r, Date.now() - started);
      pendingAudit.push(auditEntry({ ...op, accountId: op.accountId ?? accountId }, r, opts.runId, opts.actor));
      if (pendingAudit.length >= 200) void flushAudit();
      done++;
      opts.onProgress?.(done, ops.length);
    }
  };

  const workers = Array.from({ length: Math.max(1, Math.min(ctx.executor.concurrency, queue.length)) }, async () => {
    for (let g = queue.shift(); g; g = queue.shift()) await runGroup(g);
  });
  await Promise.all(workers);
  await flushAudit();
  return ops.map((op) => results.get(op.key)!);
}

async function applyOne(
  ctx: EngineContext,
  op: Operation,
  accountId: string | null,
  setAccountId: (id: string) => void,
  signal?: AbortSignal,
  attemptsHere?: number,
): Promise<OperationResult> {
  const driver = ctx.drivers.get(op.system);
  const at = () => new Date().toISOString();
  if (!driver) {
    return {
      key: op.key,
      status: 'failed',
      attempts: 0,
      at: at(),
      error: { code: 'config', message: `no system named ${op.system} is configured`, retryable: false },
    };
  }
  const { baseDelayMs, maxDelayMs } = ctx.executor;
  const maxAttempts = attemptsHere ?? ctx.executor.maxAttempts;
  let attempt = 0;
  for (;;) {
    attempt++;
    try {
      if (!accountId && op.kind !== 'create_account') {
        // a grant planned for an account that create_account made earlier in this run
        const found = op.externalId ? await driver.findAccount(op.externalId) : null;
        if (!found) throw toLockstepError(new Error(`account for ${op.externalId} not found in ${op.system}`));
        accountId = found.id;
        setAccountId(found.id);
      }
      const out = await callDriver(driver, op, accountId ?? '');
      if (op.kind === 'create_account' && typeof out === 'string') {
        accountId = out;
        setAccountId(out);
      }
      if ((op.kind === 'create_account' || op.kind === 'link_account') && op.identityId && accountId && op.externalId) {
        await saveLink(ctx.db, { system: op.system, identityId: op.identityId, accountId, externalId: op.externalId });
      }
      if (op.kind === 'delete_account' && accountId) await deleteLink(ctx.db, op.system, accountId);
      await noteOffline(ctx, op, accountId);
      return { key: op.key, status: 'applied', attempts: attempt, at: at() };
    } catch (e) {
      const err = toLockstepError(e);
      // a revoke or delete of something already gone has reached its goal
      if (err.code === 'not_found' && (op.kind === 'revoke' || op.kind === 'delete_account')) {
        if (op.kind === 'delete_account' && accountId) await deleteLink(ctx.db, op.system, accountId);
        return { key: op.key, status: 'applied', attempts: attempt, at: at() };
      }
      // Any retryable error is tried again here, whatever the operation (a grant refused with a
      // lock system's 409 "open for editing" as much as a revoke that timed out), unless the
      // system asked for a longer pause than this run waits: trying sooner would go against
      // its Retry-After, so the failure goes back with it for the queue to schedule.
      const waitsTooLong = err.retryAfterMs !== undefined && err.retryAfterMs > maxDelayMs;
      if (!err.retryable || attempt >= maxAttempts || waitsTooLong || signal?.aborted) {
        ctx.logger.warn({ op: op.key, code: err.code, retryable: err.retryable, attempt, err: err.message }, 'operation failed');
        return { key: op.key, status: 'failed', attempts: attempt, at: at(), error: operationError(err) };
      }
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      const jitter = backoff * (0.5 + Math.random() * 0.5);
      await sleep(Math.max(err.retryAfterMs ?? 0, jitter));
    }
  }
}

/**
 * Data-on-card systems: a revocation the system took is not yet on the keys; it is kept as
 * pending until its offline locks have learned it (explain and the access report show it). A
 * grant of the same group ends that.
 */
async function noteOffline(ctx: EngineContext, op: Operation, accountId: string | null): Promise<void> {
  if (!accountId) return;
  // an offline system, or an access group of offline doors in an online one (learnedBy says which revocation)
  const offlineGroup = op.group ? ctx.policy.accessGroups.get(op.group.id)?.offline : undefined;
  if (!ctx.drivers.get(op.system)?.capabilities.offline && !offlineGroup && !(op.revocation && op.learnedBy)) return;
  const group = op.group?.ref ?? (op.kind === 'set_credential_state' ? `credential:${op.credentialId}` : `account:${op.kind}`);
  if (op.revocation && op.learnedBy) {
    await recordOfflinePending(ctx.db, [
      {
        system: op.system,
        accountId,
        groupRef: group,
        identityId: op.identityId,
        userName: op.userName,
        kind: op.kind,
        revokedAt: new Date().toISOString(),
        learnedBy: op.learnedBy,
        runId: null,
      },
    ]);
  } else if (op.kind === 'grant' && op.group) {
    await clearOfflinePending(ctx.db, [{ system: op.system, accountId, groupRef: op.group.ref }]);
  }
}

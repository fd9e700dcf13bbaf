import { Redis } from 'ioredis';
import type { Operation } from '../domain/plan.js';
import { applyOperations, markCredentialLost, pullAccessEvents, runReconcile } from '../reconcile/index.js';
import type { EngineContext } from '../reconcile/types.js';
import { durableRedisOptions, type RedisConnection } from './connection.js';
import type { LostCredentialInput } from './queues.js';
import { RedisRateLimiter, rateLimitedDriver, type RateLimiter } from './ratelimit.js';
import type { QueueHandlers } from './workers.js';

/**
 * The workers' handlers bound to one EngineContext: the real reconcile, access-event pull and
 * lost-credential path. `pullSource` comes from the service (it owns the sources).
 */
export function engineHandlers(ctx: EngineContext, opts: { pullSource?: (name: string) => Promise<void> } = {}): QueueHandlers {
  return {
    reconcile: (scope, runOpts) => runReconcile(ctx, scope, runOpts),
    pullAccessEvents: (system) => pullAccessEvents(ctx, system),
    markCredentialLost: (req) => lostCredential(ctx, req),
    ...(opts.pullSource ? { pullSource: opts.pullSource } : {}),
  };
}

/**
 * First report: markCredentialLost (finds the holder, opens the incident, applies). A retry
 * after the lock system refused: the incident is already open, so only the state change is
 * applied again, with its audit entry; a second incident would restart the NIS2 clock.
 */
async function lostCredential(ctx: EngineContext, req: LostCredentialInput): Promise<{ applied: boolean; error?: string }> {
  const { rows } = await ctx.db.query<{ account_id: string | null; identity_id: string | null }>(
    `SELECT account_id, identity_id FROM incidents WHERE kind = 'lost-credential' AND status = 'open' AND system = $1 AND credential_id = $2
     ORDER BY opened_at DESC LIMIT 1`,
    [req.system, req.credentialId],
  );
  const open = rows[0];
  if (!open?.account_id) {
    const out = await markCredentialLost(ctx, req);
    return { applied: out.result.status === 'applied', ...(out.result.error ? { error: out.result.error.message } : {}) };
  }
  const op: Operation = {
    key: `${req.system}|set_credential_state|${open.account_id}|${req.credentialId}`,
    kind: 'set_credential_state',
    system: req.system,
    identityId: open.identity_id,
    externalId: null,
    userName: null,
    accountId: open.account_id,
    credentialId: req.credentialId,
    credentialState: req.state ?? 'lost',
    reason: { cause: 'lost-credential', text: `retry: credential ${req.credentialId} reported lost by ${req.actor}${req.note ? `: ${req.note}` : ''}` },
    revocation: true,
  };
  const [result] = await applyOperations(ctx, [op], { runId: null, actor: req.actor });
  return { applied: result!.status === 'applied', ...(result!.error ? { error: result!.error.message } : {}) };
}

/** The context with every driver call going through the per-system rate limiter. */
export function withRateLimits(ctx: EngineContext, limiter: RateLimiter): EngineContext {
  const drivers = new Map([...ctx.drivers].map(([name, d]) => [name, rateLimitedDriver(d, name, limiter)] as const));
  return { ...ctx, drivers };
}

/** A rate limiter on its own Redis connection (close it with the workers). */
export function createRateLimiter(opts: { connection?: RedisConnection; prefix: string; perSecond: Record<string, number> }): { limiter: RateLimiter; close(): Promise<void> } {
  const redis = new Redis(durableRedisOptions(opts.connection));
  redis.on('error', () => undefined);
  return {
    limiter: new RedisRateLimiter(redis, opts.prefix, opts.perSecond),
    close: async () => {
      redis.disconnect();
    },
  };
}

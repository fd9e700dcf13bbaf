import { Redis } from 'ioredis';
import { markCredentialLost, pullAccessEvents, runReconcile } from '../reconcile/index.js';
import { tickIncidents, tickReviews } from '../governance/index.js';
import type { EngineContext } from '../reconcile/types.js';
import { getIdentity, sponseesOf } from '../store/identities.js';
import { durableRedisOptions, type RedisConnection } from './connection.js';
import type { LostCredentialInput } from './queues.js';
import { RedisRateLimiter, rateLimitedDriver, type RateLimiter } from './ratelimit.js';
import type { QueueHandlers } from './workers.js';

/**
 * The workers' handlers bound to one EngineContext: the real reconcile, access-event pull and
 * lost-credential path. `pullSource` comes from the service (it owns the sources).
 */
export function engineHandlers(
  ctx: EngineContext,
  opts: { pullSource?: (name: string) => Promise<unknown>; auditCheckpoint?: () => Promise<unknown> } = {},
): QueueHandlers {
  return {
    reconcile: (scope, runOpts) => runReconcile(ctx, scope, runOpts),
    sponseesOf: async (identityId) => {
      // nobody's access depends on a sponsor unless a class requires one: no look-up per event then
      if (!Object.values(ctx.policy.classes).some((c) => c?.sponsorRequired)) return [];
      const identity = await getIdentity(ctx.db, identityId);
      return identity ? sponseesOf(ctx.db, identity) : [];
    },
    pullAccessEvents: (system) => pullAccessEvents(ctx, system),
    markCredentialLost: (req) => lostCredential(ctx, req),
    // a deadline's revocations in one run: the guard sees them together
    // (with the incidents' NIS2 clocks: a report due and not recorded is announced once, incident.overdue)
    reviews: async () => {
      const incidents = await tickIncidents(ctx);
      const reviews =
        ctx.policy.mappings.reviews.length === 0
          ? { skipped: 'no reviews' }
          : await tickReviews(ctx, (ids) => runReconcile(ctx, { kind: 'identities', ids }, { trigger: 'review', actor: 'system:review', apply: true }));
      return { incidents, reviews };
    },
    ...(opts.pullSource ? { pullSource: opts.pullSource } : {}),
    ...(opts.auditCheckpoint ? { auditCheckpoint: opts.auditCheckpoint } : {}),
  };
}

/** Lost credentials: markCredentialLost keeps an incident that is already open, so a retry does not restart the NIS2 clock. */
async function lostCredential(ctx: EngineContext, req: LostCredentialInput): Promise<{ applied: boolean; error?: string }> {
  const out = await markCredentialLost(ctx, req);
  return { applied: out.result.status === 'applied', ...(out.result.error ? { error: out.result.error.message } : {}) };
}

/** The context with every driver call going through the per-system rate limiter. */
export function withRateLimits(ctx: EngineContext, limiter: RateLimiter): EngineContext {
  const drivers = new Map([...ctx.drivers].map(([name, d]) => [name, rateLimitedDriver(d, name, limiter)] as const));
  return { ...ctx, drivers };
}

/** A rate limiter on its own Redis connection (close it with the workers). */
export function createRateLimiter(opts: { connection?: RedisConnection; prefix: string; perSecond: Record<string, number> }): {
  limiter: RateLimiter;
  close(): Promise<void>;
} {
  const redis = new Redis(durableRedisOptions(opts.connection));
  redis.on('error', () => undefined);
  return {
    limiter: new RedisRateLimiter(redis, opts.prefix, opts.perSecond),
    close: async () => {
      redis.disconnect();
    },
  };
}

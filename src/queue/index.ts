export {
  checkRedis,
  startLocalRedis,
  redisServerOnPath,
  redisOptionsFromUrl,
  durableRedisOptions,
  DEFAULT_REDIS_URL,
  type RedisConnection,
  type RedisCheck,
  type LocalRedis,
} from './connection.js';
export { QUEUE, PRIORITY, type Lane, type QueueName } from './jobs.js';
export {
  createQueues,
  enqueueIdentities,
  LockstepQueues,
  type CreateQueuesOptions,
  type EnqueueOptions,
  type EnqueueResult,
  type LostCredentialInput,
  type OnChange,
} from './queues.js';
export { startWorkers, overdueRevocations, cappedBackoff, type WorkerDeps, type WorkersHandle, type QueueHandlers, type QueueLogger } from './workers.js';
export {
  reconcileIdentity,
  reconcileFull,
  localLeases,
  type Controller,
  type ReconcileRequest,
  type ReconcileOutcome,
  type IdentityResult,
  type FullRunRequest,
  type FullRunResult,
} from './controller.js';
export { startSchedulers, schedulesFromConfig, type SchedulerDeps, type SchedulersHandle, type Schedules } from './schedulers.js';
export { startFullRun, fullRunStatus, type FullRunDeps, type StartFullRunOptions } from './fullrun.js';
export { engineHandlers, withRateLimits, createRateLimiter } from './handlers.js';
export { RedisRateLimiter, rateLimitedDriver, rateLimitsFromConfig, type RateLimiter } from './ratelimit.js';
export { getFullRun, listFullRuns, listOverdue, getCheck, outboxSize, type FullRun, type FullRunStatus, type OverdueRevocation } from '../store/queue-state.js';

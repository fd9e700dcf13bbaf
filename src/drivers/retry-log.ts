import type { DriverContext } from './contract.js';
import type { RetryInfo } from './http.js';

/**
 * The HTTP client's onRetry for a driver: one warning per retried request, naming the system,
 * the request, the attempt, the delay and the error code (never the body or a credential),
 * e.g. `retryLog(ctx, 'Command Centre request retried')`.
 */
export function retryLog(ctx: Pick<DriverContext, 'system' | 'logger'>, message: string): (info: RetryInfo) => void {
  const logger = ctx.logger;
  return (info) =>
    logger?.warn({ system: ctx.system, method: info.method, path: info.path, attempt: info.attempt, delayMs: info.delayMs, code: info.error.code }, message);
}

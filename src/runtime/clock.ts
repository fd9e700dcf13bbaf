import type { Logger } from 'pino';
import { offsetClock, systemClock, type Clock } from '../domain/clock.js';
import { parseDuration } from '../domain/duration.js';
import { LockstepError } from '../domain/errors.js';

/**
 * The engine's clock from the environment. `LOCKSTEP_CLOCK_OFFSET` (an ISO 8601 duration such
 * as `P3D`, `PT2H` or `-PT30M`, or a whole number of milliseconds) shifts the engine's "now",
 * so that a test deployment can live through expiry, unused-credential and pre-hire deadlines
 * in minutes. It is for test deployments only: with NODE_ENV=production it is refused, because
 * a shifted clock in production would revoke (or keep) real people's access at the wrong time.
 * An active offset is logged as a warning at every start.
 */
export function clockFromEnv(env: NodeJS.ProcessEnv = process.env, logger?: Pick<Logger, 'warn'>): Clock {
  const raw = env.LOCKSTEP_CLOCK_OFFSET?.trim();
  if (raw === undefined || raw === '') return systemClock;
  if (env.NODE_ENV === 'production') {
    throw new LockstepError(
      'config',
      `LOCKSTEP_CLOCK_OFFSET is set (${JSON.stringify(raw)}) but NODE_ENV is production: shifting the engine's clock is for test deployments only; unset LOCKSTEP_CLOCK_OFFSET`,
      { field: 'LOCKSTEP_CLOCK_OFFSET' },
    );
  }
  const offsetMs = parseOffset(raw);
  if (offsetMs === 0) return systemClock;
  logger?.warn(
    { LOCKSTEP_CLOCK_OFFSET: raw, offsetMs },
    `LOCKSTEP_CLOCK_OFFSET is set: the engine's clock is shifted by ${raw} (${offsetMs} ms). Expiry, unused-credential and pre-hire decisions use the shifted time. TEST DEPLOYMENTS ONLY`,
  );
  return offsetClock(offsetMs);
}

function parseOffset(raw: string): number {
  if (/^[+-]?\d+$/.test(raw)) {
    const ms = Number(raw);
    if (Number.isSafeInteger(ms) && Math.abs(ms) <= 8.64e15) return ms;
  } else {
    const r = parseDuration(raw, { signed: true });
    if ('ms' in r) return r.ms;
    throw new LockstepError('config', `LOCKSTEP_CLOCK_OFFSET: ${r.error} (or a whole number of milliseconds)`, { field: 'LOCKSTEP_CLOCK_OFFSET' });
  }
  throw new LockstepError('config', `LOCKSTEP_CLOCK_OFFSET: ${JSON.stringify(raw)} is out of range`, { field: 'LOCKSTEP_CLOCK_OFFSET' });
}

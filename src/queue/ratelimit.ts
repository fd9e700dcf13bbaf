import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { isLockstepError } from '../domain/errors.js';
import type { LockDriver } from '../drivers/contract.js';

/**
 * Driver calls per second per lock system, shared by every worker process through Redis
 * (GCRA: one key per system holding the theoretical arrival time). A caller reserves a slot
 * and is told how long to wait for it, so waiting callers are served in order and a burst of
 * up to one second's worth of calls goes through at once.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3] or '1')
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait < 0 then wait = 0 end
local nextTat = tat + interval * n
redis.call('SET', KEYS[1], nextTat, 'PX', math.max(1000, math.ceil(nextTat - now + 1000)))
return math.ceil(wait)`;

// A system that answered 429 with Retry-After: nobody calls it before then.
const PENALISE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local resumeAt = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < resumeAt then redis.call('SET', KEYS[1], resumeAt, 'PX', math.ceil(resumeAt - now + 1000)) end
return 1`;

export interface RateLimiter {
  /** Waits until a call to `system` may go out. */
  take(system: string): Promise<void>;
  /** The system asked us to back off (429 Retry-After): hold every caller for that long. */
  penalise(system: string, ms: number): Promise<void>;
}

/**
 * Slots a process reserves at once, by rate: a tenth of a second's worth of calls and at most
 * 10, so a system limited to 1,000 calls/s costs one Redis call per 10 driver calls, and one
 * limited to 50/s (the default) still reserves one slot at a time (no process sits on
 * another's share). A reserved slot unused 100 ms after its time is given up.
 */
export function slotsPerReservation(rate: number): number {
  return Math.max(1, Math.min(10, Math.floor(rate / 100)));
}
const STALE_SLOT_MS = 100;

export class RedisRateLimiter implements RateLimiter {
  /** Slots this process reserved and has not used: the next one's time (local clock, ms) and how many are left. */
  private readonly local = new Map<string, { at: number; left: number; interval: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Calls per second, by system; systems not listed are not limited. */
    private readonly perSecond: Record<string, number>,
  ) {}

  private key(system: string): string {
    return `${this.prefix}:ratelimit:${system}`;
  }

  async take(system: string): Promise<void> {
    const wait = await this.takeSlot(system);
    if (wait > 0) await sleep(wait);
  }

  /** A slot from this process's reservation, or a new reservation of slotsPerReservation slots: how long to wait for it (ms). */
  private async takeSlot(system: string): Promise<number> {
    const rate = this.perSecond[system];
    if (!rate || !Number.isFinite(rate)) return 0;
    const now = Date.now();
    const l = this.local.get(system);
    if (l && l.left > 0 && l.at >= now - STALE_SLOT_MS) {
      const at = l.at;
      l.at += l.interval;
      l.left -= 1;
      return Math.max(0, Math.ceil(at - now));
    }
    const n = slotsPerReservation(rate);
    const interval = 1000 / rate;
    const wait = await this.reserve(system, n);
    if (n > 1) this.local.set(system, { at: Date.now() + wait + interval, left: n - 1, interval });
    return wait;
  }

  /** Reserves the next `n` slots for `system` and returns how long the caller must wait for the first (ms). */
  async reserve(system: string, n = 1): Promise<number> {
    const rate = this.perSecond[system];
    if (!rate || !Number.isFinite(rate)) return 0;
    const interval = 1000 / rate;
    return Number(await this.redis.eval(RESERVE, 1, this.key(system), String(interval), String(Math.max(0, 1000 - interval)), String(n)));
  }

  async penalise(system: string, ms: number): Promise<void> {
    // slots reserved before the system said to back off are not used (other processes' at most 10 may be)
    this.local.delete(system);
    const rate = this.perSecond[system];
    const burst = rate ? Math.max(0, 1000 - 1000 / rate) : 0;
    await this.redis.eval(PENALISE, 1, this.key(system), String(Math.max(0, Math.ceil(ms))), String(burst));
  }
}

const PASSTHROUGH = new Set(['name', 'capabilities', 'close']);

/**
 * The driver with every call to the lock system going through the limiter. A rate_limited
 * error that still escapes the driver's own retries (a Retry-After longer than it waits out)
 * holds back every caller of that system, in every process, for that long.
 */
export function rateLimitedDriver(driver: LockDriver, system: string, limiter: RateLimiter): LockDriver {
  return new Proxy(driver, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || PASSTHROUGH.has(prop) || typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        await limiter.take(system);
        try {
          return await fn.apply(target, args);
        } catch (e) {
          if (isLockstepError(e) && e.code === 'rate_limited' && e.retryAfterMs) await limiter.penalise(system, e.retryAfterMs).catch(() => undefined);
          throw e;
        }
      };
    },
  });
}

/** rateLimitPerSecond of each system in lockstep.yaml. */
export function rateLimitsFromConfig(systems: Record<string, { rateLimitPerSecond?: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(systems)) if (s.rateLimitPerSecond) out[name] = s.rateLimitPerSecond;
  return out;
}

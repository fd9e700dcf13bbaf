import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { startSimulator, type RunningSimulator } from '../../../connectors/simulator/index.js';
import { createConfiguredDriver } from '../../../src/runtime/drivers.js';
import type { LockDriver } from '../../../src/drivers/contract.js';
import { RedisRateLimiter, rateLimitedDriver } from '../../../src/queue/index.js';
import { slotsPerReservation } from '../../../src/queue/ratelimit.js';
import { REDIS_URL, deleteKeys, uniquePrefix } from './helpers.js';

describe('per-system rate limits (shared through Redis)', () => {
  const prefix = uniquePrefix('rl');
  let a: Redis;
  let b: Redis;
  let sim: RunningSimulator;
  let driver: LockDriver;
  beforeAll(async () => {
    a = new Redis(REDIS_URL);
    b = new Redis(REDIS_URL);
    sim = await startSimulator();
    driver = await createConfiguredDriver('simulator', { system: 'dc1', options: { url: sim.url, maxAttempts: 1 } });
  });
  afterAll(async () => {
    await driver.close?.();
    await sim.close();
    a.disconnect();
    b.disconnect();
    await deleteKeys(prefix);
  });

  it('lets one second’s worth of calls through at once, then spaces them out, across processes', async () => {
    const one = new RedisRateLimiter(a, prefix, { dc1: 2 });
    const two = new RedisRateLimiter(b, prefix, { dc1: 2 });
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) waits.push(await (i % 2 ? two : one).reserve('dc1'));
    // 2 per second: two go at once, the others are given slots about 500 ms apart, whichever process asks
    expect(waits.slice(0, 2)).toEqual([0, 0]);
    const later = waits.slice(2);
    expect(later.every((w, i) => w > 0 && w <= (i + 1) * 500 && (i === 0 || w > later[i - 1]))).toBe(true);
    expect(await one.reserve('unlimited')).toBe(0);
  });

  it('reserves a tenth of a second of slots at a time at high rates, one at a time at low ones', async () => {
    expect([50, 100, 250, 1000, 5000].map(slotsPerReservation)).toEqual([1, 1, 2, 10, 10]);
    const fast = new RedisRateLimiter(a, prefix, { dc3: 1000 });
    const fastCalls = vi.spyOn(fast, 'reserve');
    for (let i = 0; i < 25; i++) await fast.take('dc3');
    // 10 slots per Redis call: 3 calls, a few more only if a take came 100 ms after its slot
    expect(fastCalls.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(fastCalls.mock.calls.length).toBeLessThan(10);
    expect(fastCalls.mock.calls[0]).toEqual(['dc3', 10]);
    const slow = new RedisRateLimiter(b, prefix, { dc4: 50 });
    const slowCalls = vi.spyOn(slow, 'reserve');
    for (let i = 0; i < 5; i++) await slow.take('dc4');
    expect(slowCalls.mock.calls).toEqual(Array.from({ length: 5 }, () => ['dc4', 1]));
  });

  it('holds every caller of a system back for the Retry-After of a 429 that escaped the driver', async () => {
    const limiter = new RedisRateLimiter(a, prefix, { dc2: 50 });
    const limited = rateLimitedDriver(driver, 'dc2', limiter);
    expect(limited.capabilities).toBe(driver.capabilities);
    // longer than the HTTP client waits out itself: it surfaces as rate_limited with retryAfterMs
    sim.faults.set({ status: 429, times: 1, retryAfterSeconds: 120 });
    await expect(limited.listAccessGroups()).rejects.toMatchObject({ code: 'rate_limited', retryAfterMs: 120_000 });
    const wait = await new RedisRateLimiter(b, prefix, { dc2: 50 }).reserve('dc2');
    expect(wait).toBeGreaterThan(110_000);
    expect(wait).toBeLessThanOrEqual(121_000);
  });
});

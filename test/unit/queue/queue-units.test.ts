import { describe, expect, it } from 'vitest';
import { LockstepError } from '../../../src/domain/errors.js';
import type { Operation, OperationResult } from '../../../src/domain/plan.js';
import { engineHooks, eventDirection, metricsRegistry, withEventTime } from '../../../src/metrics/index.js';
import { cappedBackoff, redisOptionsFromUrl } from '../../../src/queue/index.js';
import { identityJobSchema, parseJobData } from '../../../src/queue/jobs.js';

describe('capped backoff', () => {
  it('doubles from the base and stops at the cap, with at most 20% jitter below', () => {
    const top = (n: number) => cappedBackoff(n, 1_000, 60_000, () => 1);
    const bottom = (n: number) => cappedBackoff(n, 1_000, 60_000, () => 0);
    expect([1, 2, 3, 4].map(top)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(top(7)).toBe(60_000);
    expect(top(500)).toBe(60_000);
    expect(bottom(1)).toBe(800);
    expect(bottom(500)).toBe(48_000);
  });
});

describe('redis URLs', () => {
  it('reads host, port, db and credentials from a redis:// URL', () => {
    expect(redisOptionsFromUrl('redis://user:p%40ss@cache.internal:6380/2')).toEqual({
      host: 'cache.internal',
      port: 6380,
      username: 'user',
      password: 'p@ss',
      db: 2,
    });
    expect(redisOptionsFromUrl('rediss://[::1]')).toEqual({ host: '::1', port: 6379, tls: {} });
  });

  it('refuses what is not a Redis URL, without echoing the password', () => {
    expect(() => redisOptionsFromUrl('http://127.0.0.1:6379')).toThrow(/must start with redis:\/\//);
    try {
      redisOptionsFromUrl('not a url:secret@');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LockstepError);
      expect((e as LockstepError).code).toBe('config');
      expect((e as LockstepError).field).toBe('REDIS_URL');
    }
  });
});

describe('job data', () => {
  it('is validated when it comes back from Redis, naming the field', () => {
    expect(() => parseJobData(identityJobSchema, { identityId: 'x', lane: 'urgent', reason: 'r', enqueuedAt: 1 }, { id: '7', name: 'identity' })).toThrow(
      /job identity 7: lane/,
    );
  });
});

describe('engine hooks', () => {
  const op = (kind: Operation['kind'], revocation: boolean): Operation => ({
    key: `k-${kind}`,
    kind,
    system: 'dc-unit',
    identityId: null,
    externalId: null,
    userName: null,
    accountId: 'a',
    reason: { cause: 'leaver', text: 't' },
    revocation,
  });
  const applied: OperationResult = { key: 'k', status: 'applied', attempts: 1, at: '' };

  it('counts operations by system, kind and result', async () => {
    const hooks = engineHooks();
    hooks.onOperation!(op('grant', false), applied, 12);
    hooks.onOperation!(op('grant', false), { ...applied, status: 'failed' }, 12);
    const text = await metricsRegistry.getSingleMetricAsString('lockstep_operations_total');
    expect(text).toContain('lockstep_operations_total{system="dc-unit",kind="grant",result="applied"} 1');
    expect(text).toContain('lockstep_operations_total{system="dc-unit",kind="grant",result="failed"} 1');
  });

  it('measures event-to-applied latency from the source write carried with the job', async () => {
    let now = 10_000;
    const hooks = engineHooks(() => now);
    const before = await metricsRegistry.getSingleMetricAsString('lockstep_event_to_applied_seconds');
    const count = (t: string, d: string) => Number(new RegExp(`_count\\{direction="${d}"\\} (\\d+)`).exec(t)?.[1] ?? 0);
    await withEventTime(7_500, async () => {
      now = 10_000;
      hooks.onOperation!(op('revoke', true), applied, 5);
    });
    // outside a job there is no source event to measure from
    hooks.onOperation!(op('revoke', true), applied, 5);
    const after = await metricsRegistry.getSingleMetricAsString('lockstep_event_to_applied_seconds');
    expect(count(after, 'revocation') - count(before, 'revocation')).toBe(1);
    expect(after).toMatch(/lockstep_event_to_applied_seconds_bucket\{le="2",direction="revocation"\} 0/);
    expect(after).toMatch(/lockstep_event_to_applied_seconds_bucket\{le="5",direction="revocation"\} 1/);
  });

  it('tells grants from revocations', () => {
    expect(eventDirection(op('grant', false))).toBe('grant');
    expect(eventDirection(op('suspend_account', true))).toBe('revocation');
    expect(eventDirection(op('link_account', false))).toBeNull();
  });
});
